package app

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

func tdxConfig(t *testing.T, set, at string) config.Config {
	cfg := testConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	cfg.DevTime = at
	cfg.CollateralDir = tdxvectors.Path(set)
	cfg.DevBearerToken = devToken
	return cfg
}

// hclRuntimeData is the var data of an Azure HCL report (the runtime
// claims JSON the Azure TDX flow sends as runtimeData).
func hclRuntimeData(t *testing.T, hcl []byte) []byte {
	n := int(binary.LittleEndian.Uint32(hcl[1232:1236]))
	return hcl[1236 : 1236+n]
}

// POST /attest/TdxVm end to end with the real Azure DCesv5 chain (TD quote
// + HCL runtime claims), as Azure/cvm-attestation-tools sends it.
func TestAttestTdxVmHTTP(t *testing.T) {
	quote := tdxvectors.MustRead("azure_dcesv5", "quote.bin")
	rd := hclRuntimeData(t, tdxvectors.MustRead("azure_dcesv5", "hcl-report.bin"))
	b64 := jose.B64.EncodeToString
	body := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	req := map[string]any{"quote": b64(quote), "runtimeData": map[string]any{"data": b64(rd), "dataType": "JSON"}, "nonce": "tdx-nonce-1"}
	r := start(t, tdxConfig(t, "azure_dcesv5", "2025-06-01T00:00:00Z"))
	base := "http://" + r.app.HTTPAddr()

	for _, path := range []string{"/attest/TdxVm?api-version=2023-04-01-preview", "/attest/tdxvm?api-version=2025-06-01", "/attest/TdxVm?api-version=2020-10-01", "/attest/TdxVm?api-version=2022-08-01"} {
		got := sendAuth(t, base, "POST", path, body(req), false)
		if got.status != 200 {
			t.Fatalf("%s: %d %s %s", path, got.status, got.code, got.message)
		}
		c := got.claims
		for k, v := range map[string]any{
			"x-ms-attestation-type": "tdxvm", "eat_profile": "https://aka.ms/maa-eat-profile-tdxvm", "attester_tcb_status": "OutOfDate",
			"dbgstat": "disabled", "intuse": "generic", "nonce": "tdx-nonce-1", "x-ms-policy-hash": policy.DefaultTDXPolicyHash,
			"tdx_mrtd":                "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b",
			"tdx_tee_tcb_svn":         "02010600000000000000000000000000",
			"tdx_td_attributes_debug": false, "x-maat-tdx-fmspc": "00806F050000", "x-maat-tdx-module-status": "OutOfDate",
			"x-ms-ver": "1.0",
		} {
			if c[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", path, k, c[k], v)
			}
		}
		if c["tdx_seamsvn"] != float64(258) {
			t.Errorf("tdx_seamsvn %v", c["tdx_seamsvn"])
		}
		rt, _ := c["x-ms-runtime"].(map[string]any)
		if vm, _ := rt["vm-configuration"].(map[string]any); vm["secure-boot"] != true || rt["keys"] == nil {
			t.Errorf("x-ms-runtime %v", c["x-ms-runtime"])
		}
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 28800 {
			t.Errorf("lifetime %v", exp-iat)
		}
		if _, ok := c["x-ms-compliance-status"]; ok {
			t.Errorf("%s: x-ms-compliance-status issued without tdx-compliant-* configured", path)
		}
	}

	// D6: with the quote's MRTD (and its module's MRSEAM) configured, the
	// token says azure-compliant-cvm; with another MRTD it says nothing.
	mrtd, mrseam := "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b", ""
	for _, tc := range []struct {
		name  string
		mrtds []string
		want  bool
	}{{"listed", []string{strings.Repeat("00", 48), mrtd}, true}, {"not listed", []string{strings.Repeat("00", 48)}, false}} {
		cfg := tdxConfig(t, "azure_dcesv5", "2025-06-01T00:00:00Z")
		cfg.TDXCompliantMRTD = tc.mrtds
		if mrseam != "" {
			cfg.TDXCompliantMRSEAM = []string{mrseam}
		}
		got := sendAuth(t, "http://"+start(t, cfg).app.HTTPAddr(), "POST", "/attest/TdxVm?api-version=2025-06-01", body(req), false)
		if got.status != 200 {
			t.Fatalf("compliance %s: %d %s %s", tc.name, got.status, got.code, got.message)
		}
		if v, ok := got.claims["x-ms-compliance-status"]; ok != tc.want || ok && v != "azure-compliant-cvm" {
			t.Errorf("compliance %s: x-ms-compliance-status %v (present %v)", tc.name, v, ok)
		}
		mrseam, _ = got.claims["tdx_mrseam"].(string) // the second server also pins the module
	}

	flipped := append([]byte(nil), quote...)
	flipped[48+136] ^= 1 // a byte of MRTD
	otherRD := append([]byte(nil), rd...)
	otherRD[10] ^= 1
	v := "?api-version=2023-04-01-preview"
	for _, tc := range []struct {
		name       string
		req        map[string]any
		status     int
		code, msg  string
		draftClaim string
	}{
		{"runtime data mismatch", map[string]any{"quote": b64(quote), "runtimeData": map[string]any{"data": b64(otherRD), "dataType": "JSON"}}, 400, "InvalidParameter", "REPORTDATA[0:32]", ""},
		{"tampered quote", map[string]any{"quote": b64(flipped)}, 400, "InvalidQuote", "", ""},
		{"truncated quote", map[string]any{"quote": b64(quote[:600])}, 400, "InvalidParameter", "", ""},
		{"SGX quote", map[string]any{"quote": b64(sgxvectors.MustRead("dcapqvl", "sgx_quote.bin"))}, 400, "InvalidParameter", "not TDX", ""},
		{"init-time data mismatch", map[string]any{"quote": b64(quote), "initTimeData": map[string]any{"data": b64([]byte("config")), "dataType": "Binary"}}, 400, "InvalidParameter", "MRCONFIGID", ""},
		{"denying draft policy", map[string]any{"quote": b64(quote), "draftPolicyForAttestation": "version=1.0; authorizationrules{ => deny(); }; issuancerules{};"}, 400, "PolicyEvaluationError", "", ""},
		{"issuing draft policy", map[string]any{"quote": b64(quote), "draftPolicyForAttestation": `version=1.0; authorizationrules{ c:[type=="attester_tcb_status"] => permit(); }; issuancerules{ c:[type=="tdx_mrtd"] => issue(type="mrtd", value=c.value); };`}, 200, "", "", "mrtd"},
	} {
		got := sendAuth(t, base, "POST", "/attest/TdxVm"+v, body(tc.req), false)
		if got.status != tc.status || got.code != tc.code || !strings.Contains(got.message, tc.msg) {
			t.Errorf("%s: %d %s %q", tc.name, got.status, got.code, got.message)
		}
		if tc.draftClaim != "" && got.claims[tc.draftClaim] != got.claims["tdx_mrtd"] {
			t.Errorf("%s: issued %v", tc.name, got.claims)
		}
	}

	// accept-tdx-tcb-status narrower than the default: the OutOfDate Azure quote is refused.
	strictCfg := tdxConfig(t, "azure_dcesv5", "2025-06-01T00:00:00Z")
	strictCfg.TDXAcceptTCB = []string{"UpToDate"}
	strict := start(t, strictCfg)
	got := sendAuth(t, "http://"+strict.app.HTTPAddr(), "POST", "/attest/TdxVm"+v, body(req), false)
	if got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, "OutOfDate") || !strings.Contains(got.message, "INTEL-SA-00960") {
		t.Errorf("strict: %d %s %q", got.status, got.code, got.message)
	}
}

// Azure DCesv6 quotes match no Intel TCB level: rejected by default with
// the FMSPC and components, accepted as OutOfDate with
// tdx-unmatched-tcb-level out-of-date (D9).
func TestAttestTdxVmUnmatchedHTTP(t *testing.T) {
	quote := tdxvectors.MustRead("azure_dcesv6", "quote_v5.bin")
	body, _ := json.Marshal(map[string]any{"quote": jose.B64.EncodeToString(quote)})
	cfg := tdxConfig(t, "azure_dcesv6", "2026-02-20T00:00:00Z")
	r := start(t, cfg)
	got := sendAuth(t, "http://"+r.app.HTTPAddr(), "POST", "/attest/TdxVm?api-version=2025-06-01", body, false)
	if got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, "FMSPC 90C06F000000") || !strings.Contains(got.message, "tdx-unmatched-tcb-level") {
		t.Fatalf("default: %d %s %q", got.status, got.code, got.message)
	}
	cfg = tdxConfig(t, "azure_dcesv6", "2026-02-20T00:00:00Z")
	cfg.TDXUnmatched = "out-of-date"
	r = start(t, cfg)
	got = sendAuth(t, "http://"+r.app.HTTPAddr(), "POST", "/attest/TdxVm?api-version=2025-06-01", body, false)
	if got.status != 200 || got.claims["attester_tcb_status"] != "OutOfDate" || got.claims["x-maat-tdx-tcb-unmatched"] != true ||
		got.claims["x-maat-tdx-tee-tcb-svn2"] == nil {
		t.Fatalf("out-of-date: %d %s %q %v", got.status, got.code, got.message, got.claims)
	}
}
