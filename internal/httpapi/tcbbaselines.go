package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/tcbbaseline"
)

// TCBBaselines lists the TCB baselines of an attestation type (GET
// /tcbbaselines/{type}, decision D10).
type TCBBaselines interface {
	List(ctx context.Context, t evidence.Type) (*tcbbaseline.List, error)
}

// tcbDateLayout is MAA's tcbReleaseDate format (no zone).
const tcbDateLayout = "2006-01-02T15:04:05"

type baselineV2022 struct {
	TCBEvaluationDataNumber  string `json:"tcbEvaluationDataNumber"`
	TCBReleaseDate           string `json:"tcbReleaseDate,omitempty"`
	MinimumPswLinuxVersion   string `json:"minimumPswLinuxVersion,omitempty"`
	MinimumPswWindowsVersion string `json:"minimumPswWindowsVersion,omitempty"`
}

type baselineV2025 struct {
	TCBIdentifier            string `json:"tcbIdentifier"`
	TCBEvaluationDataNumber  int    `json:"tcbEvaluationDataNumber"`
	TCBReleaseDate           string `json:"tcbReleaseDate"`
	MinimumPswLinuxVersion   string `json:"minimumPswLinuxVersion,omitempty"`
	MinimumPswWindowsVersion string `json:"minimumPswWindowsVersion,omitempty"`
	IsSelectedTcb            bool   `json:"isSelectedTcb"`
}

// getTCBBaselines serves both wire shapes: 2022-09-01-preview
// ({tcbEvaluationDataNumber: string, …}, the "azuredefault" entry first,
// provideCurrentTcbInPolicy=true for the selected entry only) and
// 2025-06-01 (and 2023-04-01-preview: {tcbIdentifier, tcbEvaluationDataNumber:
// int, …, isSelectedTcb}). Older api-versions have no such operation.
func (s *Server) getTCBBaselines(w http.ResponseWriter, r *http.Request) error {
	v, err := checkAPIVersion(r, false)
	if err != nil {
		return err
	}
	if v < "2022-09-01-preview" {
		return maaerr.New(maaerr.InvalidParameter, "GET /tcbbaselines is not part of api-version %s; use 2022-09-01-preview or 2025-06-01.", v)
	}
	typ, err := evidence.ParseType(clip(param(r, "type")))
	if err != nil {
		return err
	}
	current := false
	if q := r.URL.Query().Get("provideCurrentTcbInPolicy"); q != "" {
		if current, err = strconv.ParseBool(q); err != nil || v != "2022-09-01-preview" {
			return maaerr.New(maaerr.InvalidParameter, "provideCurrentTcbInPolicy must be true or false, and is only part of api-version 2022-09-01-preview.")
		}
	}
	l, err := s.Baselines.List(r.Context(), typ)
	if err != nil {
		return err
	}
	date := func(t time.Time) string { return t.UTC().Format(tcbDateLayout) }
	if v == "2022-09-01-preview" {
		out := []baselineV2022{}
		if !current || l.Selected == tcbbaseline.Default {
			out = append(out, baselineV2022{TCBEvaluationDataNumber: tcbbaseline.Default + " (Currently the collateral service's default)"})
		}
		for _, e := range l.Entries {
			if current && !e.Selected {
				continue
			}
			out = append(out, baselineV2022{e.Identifier, date(e.ReleaseDate), e.MinPSWLinux, e.MinPSWWindows})
		}
		if current && l.Selected == tcbbaseline.Default {
			out = out[:1]
		}
		writeJSON(w, http.StatusOK, map[string]any{"tcbBaselines": out})
		return nil
	}
	out := []baselineV2025{}
	for _, e := range l.Entries {
		out = append(out, baselineV2025{e.Identifier, e.EvalNum, date(e.ReleaseDate), e.MinPSWLinux, e.MinPSWWindows, e.Selected})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tcbBaselines": out})
	return nil
}
