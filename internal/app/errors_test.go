package app

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

func readB64(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := jose.DecodeB64Loose(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func unsignedPolicy(text string) string {
	p, _ := json.Marshal(map[string]string{"AttestationPolicy": jose.B64.EncodeToString([]byte(text))})
	return "eyJhbGciOiJub25lIn0." + jose.B64.EncodeToString(p) + "."
}

// TestAttestationErrorPaths: every error path of the attestation and
// management API answers with MAA's status and code.
func TestAttestationErrorPaths(t *testing.T) {
	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	runtime := readB64(t, sgxvectors.Path("maa", "runtime_data.b64url"))
	quote := report[16:]
	b64 := jose.B64.EncodeToString
	body := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }

	strict := replayConfig(t, "aad")
	strict.AcceptTCBStatus = []string{"UpToDate"} // this 2021 quote is OutOfDate in 2025
	rs := start(t, strict)
	r := start(t, replayConfig(t, "aad"))
	base, strictBase := "http://"+r.app.HTTPAddr(), "http://"+rs.app.HTTPAddr()
	const v = "?api-version=2022-08-01"

	flipped := append([]byte(nil), quote...)
	flipped[48+64] ^= 1 // a byte of mrenclave: the quote signature no longer verifies
	cases := []struct {
		name, base, method, path string
		body                     []byte
		noAuth                   bool
		status                   int
		code, msg                string
	}{
		{"runtime data mismatch", base, "POST", "/attest/SgxEnclave" + v, body(map[string]any{"quote": b64(quote), "runtimeData": map[string]any{"data": b64([]byte("other")), "dataType": "Binary"}}), false, 400, "InvalidParameter", "runtime data does not match"},
		{"TCB status not accepted", strictBase, "POST", "/attest/SgxEnclave" + v, body(map[string]any{"quote": b64(quote)}), false, 400, "InvalidParameter", "OutOfDate"},
		{"denying draft policy", base, "POST", "/attest/OpenEnclave" + v, body(map[string]any{"report": b64(report), "draftPolicyForAttestation": "version=1.0; authorizationrules{ => deny(); }; issuancerules{};"}), false, 400, "PolicyEvaluationError", "authorization failed"},
		{"broken draft policy", base, "POST", "/attest/OpenEnclave" + v, body(map[string]any{"report": b64(report), "draftPolicyForAttestation": "version=1.0;\nauthorizationrules{ => permit() };"}), false, 400, "PolicyParsingError", "2:"},
		{"tampered quote", base, "POST", "/attest/SgxEnclave" + v, body(map[string]any{"quote": b64(flipped)}), false, 400, "InvalidQuote", ""},
		{"truncated quote", base, "POST", "/attest/SgxEnclave" + v, body(map[string]any{"quote": b64(quote[:100])}), false, 400, "InvalidParameter", ""},
		{"AzureGuest without AttestationInfo", base, "POST", "/attest/AzureGuest" + v, body(map[string]any{"quote": "AAAA"}), false, 400, "InvalidParameter", "AttestationInfo"},
		{"AzureGuest garbage", base, "POST", "/attest/AzureGuest" + v, body(map[string]any{"attestationInfo": b64([]byte("garbage"))}), false, 400, "InvalidParameter", "AttestationInfo"},
		{"unknown type", base, "POST", "/attest/Nitro" + v, body(map[string]any{"report": "AAAA"}), false, 400, "InvalidParameter", "not supported"},
		{"attest without api-version", base, "POST", "/attest/SgxEnclave", body(map[string]any{"quote": b64(quote)}), false, 400, "InvalidParameter", "api-version"},
		{"Tpm policy not set", base, "POST", "/attest/Tpm" + v, body(map[string]any{"data": "e30"}), false, 400, "InvalidParameter", ""},
		{"management without token", base, "GET", "/policies/SgxEnclave" + v, nil, true, 401, "Unauthorized", "bearer token"},
		{"malformed policy JWS", base, "PUT", "/policies/SgxEnclave" + v, []byte("not-a-jws"), false, 400, "InvalidOperation", "Malformed JWT"},
		{"invalid policy text", base, "PUT", "/policies/SgxEnclave" + v, []byte(unsignedPolicy("version=1.0; authorizationrules { => permit() }")), false, 400, "PolicyParsingError", "1:"},
		{"policy without AttestationPolicy", base, "PUT", "/policies/SgxEnclave" + v, []byte("eyJhbGciOiJub25lIn0.e30."), false, 400, "InvalidOperation", "AttestationPolicy"},
		{"certificates:add in AAD", base, "POST", "/certificates:add" + v, []byte(`"x.y.z"`), false, 400, "InvalidOperation", "disallowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := sendAuth(t, tc.base, tc.method, tc.path, tc.body, !tc.noAuth)
			if got.status != tc.status || got.code != tc.code || !strings.Contains(got.message, tc.msg) {
				t.Fatalf("got %d %s %q; want %d %s containing %q", got.status, got.code, got.message, tc.status, tc.code, tc.msg)
			}
		})
	}

	// Sanity: the same evidence with the right runtime data attests, and a
	// rejected policy set left the default in force.
	ok := sendAuth(t, base, "POST", "/attest/OpenEnclave"+v, body(map[string]any{"report": b64(report), "runtimeData": map[string]any{"data": b64(runtime), "dataType": "Binary"}, "nonce": 42}), true)
	if ok.status != 200 || ok.claims["nonce"] != "42" || ok.claims["x-ms-policy-hash"] != policy.DefaultSGXPolicyHash {
		t.Fatalf("valid attestation: %d %s %v", ok.status, ok.code, ok.claims)
	}
	if h := sha256.Sum256(runtime); ok.claims["x-ms-sgx-report-data"] != hexOf(h[:])+strings.Repeat("0", 64) {
		t.Fatalf("report data %v", ok.claims["x-ms-sgx-report-data"])
	}

	// Isolated mode refuses unsigned policies.
	iso := start(t, replayConfig(t, "isolated", netIsolated+"/isolatedSigningCertificate.larryoattestationiso_2020-11-22.pem"))
	got := sendAuth(t, "http://"+iso.app.HTTPAddr(), "PUT", "/policies/SgxEnclave"+v, []byte(unsignedPolicy("version=1.0; authorizationrules{ => permit(); }; issuancerules{};")), true)
	if got.status != 400 || got.code != "InvalidOperation" {
		t.Fatalf("unsigned policy in Isolated mode: %d %s", got.status, got.code)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
