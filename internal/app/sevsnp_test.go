package app

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/sdk/azattest"
)

// The SevSnpVm vectors live with their verifier (provenance in
// internal/evidence/sevsnp/testdata/README.md).
const snpTestdata = "../evidence/sevsnp/testdata/"

// snpSpec2022 returns the 2022-08-01 spec example: the inner report JSON's
// SnpReport and VcekCertChain (decoded), the runtime data, and the claims of
// the real MAA token for it.
func snpSpec2022(t *testing.T) (report, chain, runtime []byte, maa map[string]any) {
	t.Helper()
	b, err := os.ReadFile(snpTestdata + "maa/2022-08-01_AttestSevSnpVm.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Parameters struct {
			Request struct {
				Report      string `json:"report"`
				RuntimeData struct {
					Data string `json:"data"`
				} `json:"runtimeData"`
			} `json:"request"`
		} `json:"parameters"`
		Responses map[string]struct {
			Body struct {
				Token string `json:"token"`
			} `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	inner := mustB64(t, d.Parameters.Request.Report)
	var ev struct{ SnpReport, VcekCertChain string }
	if err := json.Unmarshal(inner, &ev); err != nil {
		t.Fatal(err)
	}
	j, err := jose.Parse(d.Responses["200"].Body.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j.Payload, &maa); err != nil {
		t.Fatal(err)
	}
	return mustB64(t, ev.SnpReport), mustB64(t, ev.VcekCertChain), mustB64(t, d.Parameters.Request.RuntimeData.Data), maa
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := jose.DecodeB64Loose(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sidecarBody builds the request exactly as microsoft/confidential-sidecar-
// containers (pkg/common/maa.go) does: padded base64url everywhere, the
// "report" member base64url of {"SnpReport","VcekCertChain"} (Endorsements
// omitted when empty), JSON runtime data, an always-present empty
// initTimeData {"data":"","dataType":""}, and the nonce as a JSON number
// (a random uint64, here above 2^63).
func sidecarBody(report, chain, runtime []byte, nonce uint64) []byte {
	inner, _ := json.Marshal(struct {
		SNPReport    string `json:"SnpReport"`
		CertChain    string `json:"VcekCertChain"`
		Endorsements string `json:"Endorsements,omitempty"`
	}{base64.URLEncoding.EncodeToString(report), base64.URLEncoding.EncodeToString(chain), ""})
	type data struct {
		Data     string `json:"data"`
		DataType string `json:"dataType"`
	}
	b, _ := json.Marshal(struct {
		Report       string `json:"report"`
		RuntimeData  data   `json:"runtimeData"`
		InittimeData data   `json:"initTimeData"`
		Nonce        uint64 `json:"nonce"`
	}{base64.URLEncoding.EncodeToString(inner), data{base64.URLEncoding.EncodeToString(runtime), "JSON"}, data{}, nonce})
	return b
}

func snpClaimsEqual(t *testing.T, got, maa map[string]any) {
	t.Helper()
	n := 0
	for k, want := range maa {
		if !strings.HasPrefix(k, "x-ms-sevsnpvm-") {
			continue
		}
		n++
		a, _ := json.Marshal(got[k])
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("%s = %s, MAA's token has %s", k, a, b)
		}
	}
	if n != 17 {
		t.Fatalf("MAA token has %d x-ms-sevsnpvm-* claims", n)
	}
	if got["x-ms-attestation-type"] != "sevsnpvm" || got["x-ms-ver"] != "1.0" {
		t.Errorf("type %v ver %v", got["x-ms-attestation-type"], got["x-ms-ver"])
	}
	for k := range got {
		if strings.Contains(strings.ToLower(k), "chip") {
			t.Errorf("token leaks %s", k)
		}
	}
}

// TestSevSnpVmSidecarRequest: the confidential-sidecar request shape end to
// end over HTTP against the real server, with the 2022 spec example's real
// report and chain, at every api-version clients use.
func TestSevSnpVmSidecarRequest(t *testing.T) {
	report, chain, runtime, maa := snpSpec2022(t)
	cfg := testConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	cfg.DevTime = "2022-09-21T22:00:00Z"
	srv := start(t, cfg)
	base := "http://" + srv.app.HTTPAddr()
	const nonce = uint64(13413764049005270139)
	for _, path := range []string{"/attest/SevSnpVM?api-version=2020-10-01", "/attest/SevSnpVm?api-version=2022-08-01", "/attest/sevsnpvm?api-version=2025-06-01"} {
		t.Run(path, func(t *testing.T) {
			got := sendAuth(t, base, "POST", path, sidecarBody(report, chain, runtime, nonce), false)
			if got.status != 200 {
				t.Fatalf("%d %s %s", got.status, got.code, got.message)
			}
			snpClaimsEqual(t, got.claims, maa)
			if got.claims["nonce"] != fmt.Sprint(nonce) {
				t.Errorf("nonce %v, want the string %d", got.claims["nonce"], nonce)
			}
			a, _ := json.Marshal(got.claims["x-ms-runtime"])
			b, _ := json.Marshal(maa["x-ms-runtime"])
			if string(a) != string(b) {
				t.Errorf("x-ms-runtime %s, MAA %s", a, b)
			}
			if _, ok := got.claims["x-ms-policy"]; ok {
				t.Error("x-ms-policy present although the default policy issues nothing (D8)")
			}
			if _, ok := got.claims["x-ms-inittime"]; ok {
				t.Error("empty initTimeData produced x-ms-inittime")
			}
			if got.claims["x-ms-policy-hash"] != policy.DefaultSevSnpVmPolicyHash {
				t.Errorf("policy hash %v", got.claims["x-ms-policy-hash"])
			}
			if got.claims["x-maat-sevsnpvm-product"] != "Milan" || got.claims["x-maat-sevsnpvm-report-version"] != float64(1) {
				t.Errorf("extras %v %v", got.claims["x-maat-sevsnpvm-product"], got.claims["x-maat-sevsnpvm-report-version"])
			}
			if got.claims["x-ms-compliance-status"] != nil {
				t.Error("compliance without configuration")
			}
			if exp, iat := got.claims["exp"].(float64), got.claims["iat"].(float64); exp-iat != 28800 {
				t.Errorf("exp-iat %v", exp-iat)
			}
		})
	}
	// Wrong runtime data: InvalidParameter naming the report field.
	got := sendAuth(t, base, "POST", "/attest/SevSnpVm?api-version=2022-08-01", sidecarBody(report, chain, []byte(`{"keys":[]}`), 1), false)
	if got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, "report_data[0:32]") {
		t.Fatalf("mismatch: %d %s %q", got.status, got.code, got.message)
	}
	// A flipped report byte: InvalidQuote.
	bad := append([]byte(nil), report...)
	bad[0x90] ^= 1
	got = sendAuth(t, base, "POST", "/attest/SevSnpVm?api-version=2022-08-01", sidecarBody(bad, chain, runtime, 1), false)
	if got.status != 400 || got.code != "InvalidQuote" {
		t.Fatalf("tampered: %d %s %q", got.status, got.code, got.message)
	}
}

// TestSevSnpVmMAA2025Pair: the 2025 MAA request sample over HTTP; every
// x-ms-sevsnpvm-* value equals the real MAA token's, and the runtime data
// shipped with the sample is refused (it belongs to the 2022 report).
func TestSevSnpVmMAA2025Pair(t *testing.T) {
	b, err := os.ReadFile(snpTestdata + "maa/sevsnp_request_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample map[string]string
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(snpTestdata + "maa/sev-snp-jwt.txt")
	if err != nil {
		t.Fatal(err)
	}
	j, err := jose.Parse(strings.TrimSpace(string(tok)))
	if err != nil {
		t.Fatal(err)
	}
	var maa map[string]any
	if err := json.Unmarshal(j.Payload, &maa); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	cfg.DevTime = "2025-04-08T05:00:00Z"
	srv := start(t, cfg)
	base := "http://" + srv.app.HTTPAddr()

	body, _ := json.Marshal(map[string]any{"report": sample["request_body_field_report"]})
	got := sendAuth(t, base, "POST", "/attest/sevsnpvm?api-version=2022-08-01", body, false)
	if got.status != 200 {
		t.Fatalf("%d %s %s", got.status, got.code, got.message)
	}
	snpClaimsEqual(t, got.claims, maa)
	for _, k := range []string{"x-ms-compliance-status", "x-ms-runtime", "nonce", "x-ms-policy"} {
		if _, ok := got.claims[k]; ok != (maa[k] != nil) {
			t.Errorf("claim %s present=%v, MAA's token present=%v", k, ok, maa[k] != nil)
		}
	}

	// D8: x-ms-policy appears once the policy issues something.
	draft := `version= 1.0;authorizationrules{[type=="x-ms-sevsnpvm-is-debuggable", value==false] => permit();};issuancerules{c:[type=="x-ms-sevsnpvm-hostdata"] => issue(type="hostdata", value=c.value);};`
	body, _ = json.Marshal(map[string]any{"report": sample["request_body_field_report"], "draftPolicyForAttestation": draft})
	got = sendAuth(t, base, "POST", "/attest/sevsnpvm?api-version=2022-08-01", body, false)
	if got.status != 200 {
		t.Fatalf("draft policy: %d %s %s", got.status, got.code, got.message)
	}
	if pol, _ := got.claims["x-ms-policy"].(map[string]any); pol["hostdata"] != maa["x-ms-sevsnpvm-hostdata"] || got.claims["hostdata"] != maa["x-ms-sevsnpvm-hostdata"] {
		t.Errorf("issued claims: x-ms-policy %v, hostdata %v", got.claims["x-ms-policy"], got.claims["hostdata"])
	}

	body, _ = json.Marshal(map[string]any{"report": sample["request_body_field_report"],
		"runtimeData": map[string]string{"data": sample["runtimeData.data_sample"], "dataType": sample["runtimeData.dataType_sample"]}})
	got = sendAuth(t, base, "POST", "/attest/sevsnpvm?api-version=2022-08-01", body, false)
	if got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, "report_data[0:32]") {
		t.Fatalf("foreign runtime data: %d %s %q", got.status, got.code, got.message)
	}
}

// TestSevSnpVmGoSDK: the Go SDK's AttestSEVSNPVM against the real server
// over HTTPS, token validated by the SDK (signature from the server's JWKS,
// issuer, time), with the 2022 spec example and its JSON runtime data.
func TestSevSnpVmGoSDK(t *testing.T) {
	report, chain, runtime, maa := snpSpec2022(t)
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.DevTime = "2022-09-21T22:00:00Z"
	r := start(t, cfg)
	c := sdkClient(t, r, dir)
	inner, _ := json.Marshal(map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(report), "VcekCertChain": base64.StdEncoding.EncodeToString(chain)})
	nonce := "sdk-nonce"
	res, err := c.AttestSEVSNPVM(t.Context(), inner, &azattest.AttestSEVSNPVMOptions{
		RuntimeData: &azattest.AttestationData{Data: runtime, DataType: azattest.DataTypeJSON}, Nonce: &nonce})
	if err != nil {
		t.Fatal(err)
	}
	snpClaimsEqual(t, res.RawClaims, maa)
	if res.RawClaims["nonce"] != nonce || res.RawClaims["x-ms-runtime"] == nil {
		t.Errorf("nonce %v runtime %v", res.RawClaims["nonce"], res.RawClaims["x-ms-runtime"])
	}
}

// BenchmarkAttestSevSnpVm measures one SevSnpVm attestation (the sidecar's
// request shape) through the whole HTTP handler (decode, verify with the
// chain cached, bind runtime data, policy, token) without the network, next
// to its unavoidable crypto in the same run: one ECDSA P-384 verification
// and one RS256 signature.
//
//	go test -run '^$' -bench AttestSevSnpVm -benchtime 3s ./internal/app
func BenchmarkAttestSevSnpVm(b *testing.B) {
	t := &testing.T{}
	report, chain, runtime, _ := snpSpec2022(t)
	cfg := testConfig(b.TempDir())
	cfg.HTTPSAddr = ""
	cfg.DevTime = "2022-09-21T22:00:00Z"
	r := start(t, cfg)
	b.Cleanup(func() { r.cancel() })
	body := sidecarBody(report, chain, runtime, 42)
	do := func() {
		req := httptest.NewRequest("POST", "/attest/SevSnpVM?api-version=2020-10-01", bytes.NewReader(body))
		w := httptest.NewRecorder()
		r.app.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	do()
	ek, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := sha512.Sum384([]byte("x"))
	sig, _ := ecdsa.SignASN1(rand.Reader, ek, msg[:])
	h := sha256.Sum256([]byte("x"))
	var att, bound time.Duration
	for b.Loop() {
		t0 := time.Now()
		do()
		t1 := time.Now()
		ecdsa.VerifyASN1(&ek.PublicKey, msg[:], sig)
		rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, h[:])
		t2 := time.Now()
		att += t1.Sub(t0)
		bound += t2.Sub(t1)
	}
	b.ReportMetric(float64(att)/float64(bound), "attest/crypto")
	b.ReportMetric(float64(att.Nanoseconds())/float64(b.N), "attest-ns/op")
	b.ReportMetric(float64(bound.Nanoseconds())/float64(b.N), "crypto-ns/op")
}

// TestSevSnpVmRawHCLReport: with sevsnp-accept-hcl-report, the raw HCL
// report an Azure CVM's paravisor writes is a SevSnpVm "report": the SNP
// report inside is verified with the VCEK from the AMD collateral cache
// (the HCL report carries no chain), and the HCL runtime claims become
// x-ms-runtime without runtimeData. Without the switch it is a 400 that
// names it.
func TestSevSnpVmRawHCLReport(t *testing.T) {
	raw, err := os.ReadFile(snpTestdata + "trustee/hcl-report.bin")
	if err != nil {
		t.Fatal(err)
	}
	vcek, err := os.ReadFile(snpTestdata + "trustee/vcek.pem")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sevsnp.ParseReport(raw[32 : 32+sevsnp.ReportSize])
	if err != nil {
		t.Fatal(err)
	}
	// The AMD collateral cache layout: snp/{product}/{chip id}/{REPORTED_TCB}.pem.
	coll := t.TempDir()
	dir := filepath.Join(coll, "snp", "Milan", hex.EncodeToString(r.ChipID[:]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(r.ReportedTCB[:])+".pem"), vcek, 0o644); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"report": jose.B64.EncodeToString(raw)})
	for _, accept := range []bool{false, true} {
		cfg := testConfig(t.TempDir())
		cfg.HTTPSAddr, cfg.DevTime = "", "2025-06-01T00:00:00Z"
		cfg.CollateralDir, cfg.Offline, cfg.SevSnpCRL = coll, true, "off"
		cfg.SevSnpAcceptHCL = accept
		got := sendAuth(t, "http://"+start(t, cfg).app.HTTPAddr(), "POST", "/attest/SevSnpVm?api-version=2022-08-01", body, false)
		if !accept {
			if got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, "sevsnp-accept-hcl-report") {
				t.Fatalf("without the switch: %d %s %q", got.status, got.code, got.message)
			}
			continue
		}
		if got.status != 200 {
			t.Fatalf("%d %s %s", got.status, got.code, got.message)
		}
		rt, _ := got.claims["x-ms-runtime"].(map[string]any)
		keys, _ := rt["keys"].([]any)
		if rt["vm-configuration"] == nil || len(keys) == 0 || got.claims["x-ms-sevsnpvm-vmpl"] != float64(0) ||
			got.claims["x-ms-attestation-type"] != "sevsnpvm" || got.claims["x-maat-sevsnpvm-vcek-source"] != "collateral" {
			t.Fatalf("claims %v", got.claims)
		}
	}
}
