// Package tcbbaseline lists the TCB baselines (Intel TCB evaluation data
// numbers) an instance can attest SgxEnclave, OpenEnclave and TdxVm
// evidence against, as MAA's GET /tcbbaselines/{type} does (decision D10):
// Intel's signed tcbevaluationdatanumbers list from the configured
// collateral source, verified like TCB Info, with MAA's documented minimum
// PSW versions for the identifiers 10–15, and the baseline the instance's
// stored policy selects.
//
// Selecting a baseline is enforced where verification happens: the
// policy's x-ms-sgx-tcbidentifier (SGX, OE) or x-maat-tdx-tcbidentifier
// (TDX) makes the verifiers fetch TCB Info and QE identity of that
// evaluation data number, and an unavailable one is a 400.
package tcbbaseline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Default is the identifier of the collateral service's default baseline
// (what PCS returns without a tcbEvaluationDataNumber: Intel's "standard"
// update). MAA maps its azuredefault to 10; Maat's is newer.
const Default = "azuredefault"

// Entry is one baseline.
type Entry struct {
	// Identifier is the decimal evaluation data number.
	Identifier string
	EvalNum    int
	// ReleaseDate is Intel's tcbDate for the number.
	ReleaseDate time.Time
	// MinPSWLinux and MinPSWWindows are MAA's documented minimum PSW
	// versions (identifiers 10–15 only; "" otherwise).
	MinPSWLinux, MinPSWWindows string
	// Selected: the stored policy selects this baseline.
	Selected bool
}

// List is the baselines of one attestation type.
type List struct {
	Type evidence.Type
	// Entries, newest first.
	Entries []Entry
	// Selected is the identifier the stored policy selects (Default when
	// it selects none).
	Selected string
}

// psw is MAA's table of minimum PSW versions (custom-tcb-baseline-enforcement).
var psw = map[int][2]string{
	10: {"2.9", "2.7.101.2"},
	11: {"2.13.3", "2.13.100.2"},
	12: {"2.13.3", "2.13.100.2"},
	13: {"2.17", "2.16"},
	14: {"2.17", "2.16"},
	15: {"2.17", "2.16"},
}

// Property returns the policy configuration property that selects the
// baseline of t, and false for types without baselines.
func Property(t evidence.Type) (string, bool) {
	switch t {
	case evidence.SgxEnclave, evidence.OpenEnclave:
		return "x-ms-sgx-tcbidentifier", true
	case evidence.TdxVm:
		return "x-maat-tdx-tcbidentifier", true
	}
	return "", false
}

// Service builds the lists.
type Service struct {
	// Source serves KindSGXTCBEvalNums and KindTDXTCBEvalNums.
	Source collateral.Source
	// Verifier checks the lists' signatures (its roots and clock).
	Verifier *dcap.Verifier
	// PolicyConfig returns the configuration properties of the instance's
	// policy for a type (nil when none).
	PolicyConfig func(ctx context.Context, t evidence.Type) (map[string]any, error)
}

// List returns the baselines of t. It returns an InvalidParameter
// *maaerr.Error for a type without baselines, ServiceUnavailable when the
// list cannot be fetched, or the verifier's error when it does not verify.
func (s *Service) List(ctx context.Context, t evidence.Type) (*List, error) {
	prop, ok := Property(t)
	if !ok {
		return nil, maaerr.New(maaerr.InvalidParameter, "TCB baselines are not available for attestation type %s (only SgxEnclave, OpenEnclave and TdxVm have them).", t)
	}
	kind, tee := collateral.KindSGXTCBEvalNums, uint32(dcap.TEETypeSGX)
	if t == evidence.TdxVm {
		kind, tee = collateral.KindTDXTCBEvalNums, dcap.TEETypeTDX
	}
	it, err := s.Source.Fetch(ctx, collateral.Key{Kind: kind})
	if err != nil {
		code := maaerr.ServiceUnavailable
		if errors.Is(err, collateral.ErrNotFound) {
			code = maaerr.InvalidOperation
		}
		return nil, maaerr.Wrap(err, code, "The list of TCB baselines for %s is not available from the collateral service.", t)
	}
	nums, err := s.Verifier.VerifyTCBEvalNums(it, tee, s.Verifier.Now())
	if err != nil {
		return nil, err
	}
	l := &List{Type: t, Selected: Default}
	if s.PolicyConfig != nil {
		cfg, err := s.PolicyConfig(ctx, t)
		if err != nil {
			return nil, err
		}
		if sel, ok := Selected(cfg, prop); ok {
			l.Selected = sel
		}
	}
	for _, n := range nums.Numbers {
		e := Entry{Identifier: strconv.Itoa(n.Number), EvalNum: n.Number, ReleaseDate: n.TCBDate}
		if p, ok := psw[n.Number]; ok {
			e.MinPSWLinux, e.MinPSWWindows = p[0], p[1]
		}
		e.Selected = e.Identifier == l.Selected
		l.Entries = append(l.Entries, e)
	}
	sort.Slice(l.Entries, func(i, j int) bool { return l.Entries[i].EvalNum > l.Entries[j].EvalNum })
	return l, nil
}

// Selected returns the baseline identifier property prop of a policy's
// configuration (a string or an integer), and false when it is absent.
func Selected(cfg map[string]any, prop string) (string, bool) {
	switch v := cfg[prop].(type) {
	case string:
		return v, v != ""
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return fmt.Sprint(v), true
	}
	return "", false
}
