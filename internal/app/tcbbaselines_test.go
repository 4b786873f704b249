package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

func getBaselines(t *testing.T, base, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %s", path, b)
	}
	return resp.StatusCode, m
}

// GET /tcbbaselines/{type} in both wire shapes from Intel's signed lists, a
// stored policy selecting a baseline, and that selection enforced: an
// available baseline attests, an unavailable one is a clear 400 (D10).
func TestTCBBaselinesHTTP(t *testing.T) {
	r := start(t, replayConfig(t, "aad")) // SGX collateral of May 2025 (pcs2025), clock 2025-06-01
	base := "http://" + r.app.HTTPAddr()

	st, m := getBaselines(t, base, "/tcbbaselines/SgxEnclave?api-version=2025-06-01")
	list, _ := m["tcbBaselines"].([]any)
	if st != 200 || len(list) != 3 {
		t.Fatalf("2025-06-01: %d %v", st, m)
	}
	first := list[0].(map[string]any)
	if first["tcbIdentifier"] != "19" || first["tcbEvaluationDataNumber"] != float64(19) || first["tcbReleaseDate"] != "2025-05-14T00:00:00" || first["isSelectedTcb"] != false {
		t.Errorf("entry %v", first)
	}
	st, m = getBaselines(t, base, "/tcbbaselines/OpenEnclave?api-version=2022-09-01-preview")
	list, _ = m["tcbBaselines"].([]any)
	if st != 200 || len(list) != 4 || !strings.HasPrefix(list[0].(map[string]any)["tcbEvaluationDataNumber"].(string), "azuredefault") ||
		list[1].(map[string]any)["tcbEvaluationDataNumber"] != "19" {
		t.Fatalf("2022-09-01-preview: %d %v", st, m)
	}
	st, m = getBaselines(t, base, "/tcbbaselines/SgxEnclave?api-version=2022-09-01-preview&provideCurrentTcbInPolicy=true")
	if list, _ = m["tcbBaselines"].([]any); st != 200 || len(list) != 1 {
		t.Fatalf("current: %d %v", st, m)
	}
	for path, want := range map[string]string{
		"/tcbbaselines/Tpm?api-version=2025-06-01":                                       "not available for attestation type Tpm",
		"/tcbbaselines/SgxEnclave?api-version=2022-08-01":                                "not part of api-version",
		"/tcbbaselines/SgxEnclave":                                                       "api-version",
		"/tcbbaselines/TdxVm?api-version=2025-06-01":                                     "not available from the collateral service",
		"/tcbbaselines/Nitro?api-version=2025-06-01":                                     "not supported",
		"/tcbbaselines/SgxEnclave?api-version=2025-06-01&provideCurrentTcbInPolicy=true": "provideCurrentTcbInPolicy",
	} {
		st, m := getBaselines(t, base, path)
		e, _ := m["error"].(map[string]any)
		if st/100 != 4 || !strings.Contains(e["message"].(string), want) {
			t.Errorf("%s: %d %v", path, st, m)
		}
	}

	// A stored policy selecting 18: isSelectedTcb follows it.
	pol := `version=1.1; configurationrules{ => issueproperty(type="x-ms-sgx-tcbidentifier", value="18"); }; authorizationrules{ => permit(); }; issuancerules{};`
	if got := sendAuth(t, base, "PUT", "/policies/SgxEnclave?api-version=2022-08-01", []byte(unsignedPolicy(pol)), true); got.status != 200 {
		t.Fatalf("set policy: %d %s %s", got.status, got.code, got.message)
	}
	_, m = getBaselines(t, base, "/tcbbaselines/SgxEnclave?api-version=2025-06-01")
	for _, e := range m["tcbBaselines"].([]any) {
		e := e.(map[string]any)
		if e["isSelectedTcb"] != (e["tcbIdentifier"] == "18") {
			t.Errorf("selection: %v", e)
		}
	}
	_, m = getBaselines(t, base, "/tcbbaselines/SgxEnclave?api-version=2022-09-01-preview&provideCurrentTcbInPolicy=true")
	if list := m["tcbBaselines"].([]any); len(list) != 1 || list[0].(map[string]any)["tcbEvaluationDataNumber"] != "18" {
		t.Errorf("current after selecting 18: %v", m)
	}

	// Enforcement with the MAA OE report: 17 is the baseline the bundle
	// holds; 16 is not available (Intel no longer serves it).
	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	b64 := jose.B64.EncodeToString
	for _, tc := range []struct {
		id     string
		status int
		msg    string
	}{
		{"17", 200, ""}, {"16", 400, "TCB baseline 16 is not available"}, {"azuredefault", 200, ""}, {"eleven", 400, "neither azuredefault nor"},
	} {
		draft := `version=1.1; configurationrules{ => issueproperty(type="x-ms-sgx-tcbidentifier", value="` + tc.id + `"); }; authorizationrules{ => permit(); }; issuancerules{};`
		body, _ := json.Marshal(map[string]any{"report": b64(report), "draftPolicyForAttestation": draft})
		got := sendAuth(t, base, "POST", "/attest/OpenEnclave?api-version=2022-08-01", body, false)
		if got.status != tc.status || !strings.Contains(got.message, tc.msg) {
			t.Errorf("baseline %s: %d %s %q", tc.id, got.status, got.code, got.message)
		}
		if tc.status == 200 && (got.claims["x-ms-sgx-tcbidentifier"] != tc.id || got.claims["x-maat-sgx-tcb-eval-num"] != float64(17)) {
			t.Errorf("baseline %s: claims %v %v", tc.id, got.claims["x-ms-sgx-tcbidentifier"], got.claims["x-maat-sgx-tcb-eval-num"])
		}
	}

	// TdxVm: the same shape from the TDX list (Maat extension), and its
	// selection property enforced.
	rt := start(t, tdxConfig(t, "azure_dcesv5", "2025-06-01T00:00:00Z"))
	tbase := "http://" + rt.app.HTTPAddr()
	st, m = getBaselines(t, tbase, "/tcbbaselines/TdxVm?api-version=2025-06-01")
	if list, _ := m["tcbBaselines"].([]any); st != 200 || len(list) != 3 {
		t.Fatalf("TdxVm: %d %v", st, m)
	}
	quote := tdxvectors.MustRead("azure_dcesv5", "quote.bin")
	for id, status := range map[string]int{"17": 200, "18": 400} {
		draft := `version=1.1; configurationrules{ => issueproperty(type="x-maat-tdx-tcbidentifier", value="` + id + `"); }; authorizationrules{ => permit(); }; issuancerules{};`
		body, _ := json.Marshal(map[string]any{"quote": b64(quote), "draftPolicyForAttestation": draft})
		if got := sendAuth(t, tbase, "POST", "/attest/TdxVm?api-version=2023-04-01-preview", body, false); got.status != status {
			t.Errorf("TDX baseline %s: %d %s %q", id, got.status, got.code, got.message)
		}
	}
}
