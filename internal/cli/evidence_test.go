package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// Vectors live in internal/testsupport/sgxvectors (its README.md gives
// provenance and validity windows).
var (
	evSGXData  = sgxvectors.Path()
	evCollData = sgxvectors.Path()
)

func runEvidence(t *testing.T, args ...string) (map[string]any, string, error) {
	t.Helper()
	cmd := NewEvidenceCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	var m map[string]any
	if err == nil {
		if e := json.Unmarshal(out.Bytes(), &m); e != nil {
			t.Fatalf("output is not one JSON object: %v\n%s", e, out.String())
		}
	}
	return m, errb.String(), err
}

func evTCB(m map[string]any) map[string]any    { return m["tcb"].(map[string]any) }
func evClaims(m map[string]any) map[string]any { return m["claims"].(map[string]any) }

func TestEvidenceInspect(t *testing.T) {
	m, _, err := runEvidence(t, "inspect", "--type", "sgx", "--evidence", filepath.Join(evSGXData, "dcapqvl", "sgx_quote.bin"))
	if err != nil {
		t.Fatal(err)
	}
	q := m["quote"].(map[string]any)
	if q["header"].(map[string]any)["version"].(float64) != 3 || q["reportBody"].(map[string]any)["mrEnclave"] != "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb" {
		t.Errorf("inspect: %v", q["header"])
	}
	chain := q["pckCertificateChain"].([]any)
	if len(chain) != 3 || chain[0].(map[string]any)["sgxExtensions"].(map[string]any)["fmspc"] != "00a067110000" {
		t.Errorf("chain: %v", chain[0])
	}
	m, _, err = runEvidence(t, "inspect", "--type", "openenclave", "--evidence", filepath.Join(evSGXData, "maa", "openenclave_report.b64url"))
	if err != nil {
		t.Fatal(err)
	}
	if m["reportHeader"].(map[string]any)["reportSize"].(float64) != 4584 {
		t.Errorf("OE header %v", m["reportHeader"])
	}
	if _, _, err := runEvidence(t, "inspect", "--type", "tdx", "--evidence", "x"); err == nil {
		t.Error("bad --type accepted")
	}
}

func TestEvidenceVerifySGX(t *testing.T) {
	quote := filepath.Join(evSGXData, "dcapqvl", "sgx_quote.bin")
	coll := filepath.Join(evSGXData, "dcapqvl")
	m, _, err := runEvidence(t, "verify", "--type", "sgx", "--evidence", quote, "--collateral", coll, "--at", "2025-07-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	tcb := evTCB(m)
	if tcb["status"] != "ConfigurationAndSWHardeningNeeded" || tcb["qeStatus"] != "UpToDate" || tcb["fmspc"] != "00a067110000" {
		t.Errorf("tcb %v", tcb)
	}
	if adv := tcb["advisoryIds"].([]any); len(adv) != 2 || adv[0] != "INTEL-SA-00289" || adv[1] != "INTEL-SA-00615" {
		t.Errorf("advisories %v", adv)
	}
	c := evClaims(m)
	if c["x-ms-sgx-mrenclave"] != "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb" || c["x-ms-sgx-is-debuggable"] != false {
		t.Errorf("claims %v", c)
	}
	if _, ok := c["x-ms-sgx-collateral"].(map[string]any)["tcbinfohash"]; !ok {
		t.Error("no x-ms-sgx-collateral")
	}

	// Hex-encoded evidence is detected.
	raw, _ := os.ReadFile(quote)
	hexFile := filepath.Join(t.TempDir(), "q.hex")
	os.WriteFile(hexFile, []byte(hex.EncodeToString(raw)+"\n"), 0o600)
	if _, _, err := runEvidence(t, "verify", "--evidence", hexFile, "--collateral", coll, "--at", "2025-07-01T00:00:00Z"); err != nil {
		t.Errorf("hex evidence: %v", err)
	}
	// Expired collateral: error, one line.
	_, _, err = runEvidence(t, "verify", "--evidence", quote, "--collateral", coll, "--at", "2025-08-01T00:00:00Z")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "collateral expired") {
		t.Errorf("expired: %v", err)
	}
	m, _, err = runEvidence(t, "verify", "--evidence", quote, "--collateral", coll, "--at", "2025-08-01T00:00:00Z", "--accept-expired-collateral")
	if err != nil || m["collateral"].(map[string]any)["expired"] != true {
		t.Errorf("accept expired: %v %v", err, m)
	}
	// A mutated quote fails.
	raw[100] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.bin")
	os.WriteFile(bad, raw, 0o600)
	if _, _, err := runEvidence(t, "verify", "--evidence", bad, "--collateral", coll, "--at", "2025-07-01T00:00:00Z"); err == nil || !strings.Contains(err.Error(), "quote signature") {
		t.Errorf("mutated: %v", err)
	}
}

func TestEvidenceVerifyOpenEnclaveRuntimeData(t *testing.T) {
	rep := filepath.Join(evSGXData, "maa", "openenclave_report.b64url")
	rd := filepath.Join(evSGXData, "maa", "runtime_data.b64url")
	coll := filepath.Join(evSGXData, "pcs2025")
	m, _, err := runEvidence(t, "verify", "--type", "openenclave", "--evidence", rep, "--runtime-data", rd, "--collateral", coll, "--at", "2025-06-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	c := evClaims(m)
	if c["x-ms-sgx-collateral"].(map[string]any)["quotehash"] != "928c12bc25633ed7ef54515c79caa37133cb53f4999d60c648d06d4d43e249b8" {
		t.Errorf("quotehash %v", c["x-ms-sgx-collateral"])
	}
	rdb, _ := os.ReadFile(rd)
	if c["x-ms-sgx-ehd"] != strings.TrimSpace(string(rdb)) || m["runtimeDataBound"] != true {
		t.Errorf("ehd %v", c["x-ms-sgx-ehd"])
	}
	if evTCB(m)["status"] != "OutOfDate" {
		t.Errorf("tcb %v", evTCB(m))
	}
	// Wrong runtime data.
	other := filepath.Join(t.TempDir(), "rd")
	os.WriteFile(other, []byte("not the runtime data"), 0o600)
	if _, _, err := runEvidence(t, "verify", "--type", "openenclave", "--evidence", rep, "--runtime-data", other, "--collateral", coll, "--at", "2025-06-01T00:00:00Z"); err == nil || !strings.Contains(err.Error(), "runtime data") {
		t.Errorf("wrong runtime data: %v", err)
	}
	// An OE report given as --type sgx is not a quote.
	if _, _, err := runEvidence(t, "verify", "--type", "sgx", "--evidence", rep, "--collateral", coll, "--at", "2025-06-01T00:00:00Z"); err == nil {
		t.Error("OE report accepted as an SGX quote")
	}
}

func TestEvidenceVerifyTrustRoot(t *testing.T) {
	// The QVL sample quote carries no PCK chain and is signed by Intel's test root.
	d := filepath.Join(evSGXData, "qvltestpki")
	dir := t.TempDir()
	cp := func(from, to string) {
		b, err := os.ReadFile(filepath.Join(d, from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, to), b, 0o600)
	}
	cp("tcbInfo.json", "tcb_info.json")
	cp("tcbSignChain.pem", "tcb_info_issuer_chain.pem")
	cp("qeIdentity.json", "qe_identity.json")
	cp("tcbSignChain.pem", "qe_identity_issuer_chain.pem")
	cp("intermediateCaCrl.der", "pck_crl.der")
	cp("pckSignChain.pem", "pck_crl_issuer_chain.pem")
	cp("rootCaCrl.der", "root_ca_crl.der")
	pck, _ := os.ReadFile(filepath.Join(d, "pckCert.pem"))
	sign, _ := os.ReadFile(filepath.Join(d, "pckSignChain.pem"))
	chain := filepath.Join(dir, "chain.pem")
	os.WriteFile(chain, append(pck, sign...), 0o600)
	args := []string{"verify", "--evidence", filepath.Join(d, "quote.dat"), "--collateral", dir, "--pck-chain", chain, "--at", "2025-01-01T00:00:00Z"}
	if _, _, err := runEvidence(t, args...); err == nil || !strings.Contains(err.Error(), "trusted root") {
		t.Fatalf("production root only: %v", err)
	}
	m, _, err := runEvidence(t, append(args, "--trust-root", filepath.Join(d, "trustedRootCaCert.pem"))...)
	if err != nil {
		t.Fatal(err)
	}
	if evTCB(m)["status"] != "UpToDate" || !strings.Contains(m["root"].(string), "trustedRootCaCert.pem") {
		t.Errorf("tcb %v root %v", evTCB(m), m["root"])
	}
}

// TestEvidenceVerifyPCS fetches collateral from an httptest PCS (custom CA)
// serving Intel's recorded May-2025 responses.
func TestEvidenceVerifyPCS(t *testing.T) {
	read := func(name string, fields ...string) []string {
		var m map[string]string
		b, err := os.ReadFile(filepath.Join(evCollData, "pcs2025raw", name))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, &m)
		var out []string
		for _, f := range fields {
			out = append(out, m[f])
		}
		return out
	}
	tcb := read("sgx_tcb_info_00906ED50000.json", "tcb_info_json", "issuer_chain")
	qe := read("sgx_qe_identity.json", "enclave_identity_json", "issuer_chain")
	crl := read("pck_crl_processor_der.json", "crl_data_base64", "issuer_chain")
	crlDER, _ := base64.StdEncoding.DecodeString(crl[0])
	rootCRL, _ := os.ReadFile(filepath.Join(evCollData, "dcapqvl", "root_ca_crl.der"))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sgx/certification/v4/tcb":
			w.Header().Set("TCB-Info-Issuer-Chain", url.QueryEscape(tcb[1]))
			w.Write([]byte(tcb[0]))
		case "/sgx/certification/v4/qe/identity":
			w.Header().Set("SGX-Enclave-Identity-Issuer-Chain", url.QueryEscape(qe[1]))
			w.Write([]byte(qe[0]))
		case "/sgx/certification/v4/pckcrl":
			w.Header().Set("SGX-PCK-CRL-Issuer-Chain", url.QueryEscape(crl[1]))
			w.Write(crlDER)
		case "/sgx/certification/v4/rootcacrl":
			w.Write([]byte(hex.EncodeToString(rootCRL)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	args := []string{"verify", "--evidence", filepath.Join(evSGXData, "oe2022", "sgx_quote.bin"), "--collateral-url", srv.URL + "/sgx/certification/v4", "--at", "2025-06-01T00:00:00Z"}
	m, _, err := runEvidence(t, append(args, "--collateral-ca", caFile)...)
	if err != nil {
		t.Fatal(err)
	}
	if evTCB(m)["status"] != "OutOfDate" || evTCB(m)["qeStatus"] != "OutOfDate" {
		t.Errorf("tcb %v", evTCB(m))
	}
	// Without the custom CA the TLS connection is refused: not verified.
	if _, _, err := runEvidence(t, args...); err == nil {
		t.Error("verified without trusting the PCS TLS certificate")
	}
}

func TestEvidenceDecode(t *testing.T) {
	raw := []byte{0, 1, 2, 0xfe, 0xff, 0x10}
	for name, in := range map[string]string{
		"hex":       hex.EncodeToString(raw),
		"base64":    base64.StdEncoding.EncodeToString(raw),
		"base64url": base64.RawURLEncoding.EncodeToString(raw),
		"wrapped":   " " + hex.EncodeToString(raw[:3]) + "\n" + hex.EncodeToString(raw[3:]) + "\n",
	} {
		if got := decodeText([]byte(in)); !bytes.Equal(got, raw) {
			t.Errorf("%s: %x", name, got)
		}
	}
	if got := decodeText(raw); !bytes.Equal(got, raw) {
		t.Errorf("raw: %x", got)
	}
}

// TestEvidenceVerifyAsTheServer: verify uses the server's verifier catalog,
// so its claims are those the server's policy sees (x-ms-attestation-type,
// Maat's TCB claims, the legacy ehd aliases), a refusal names what to
// change, and the server's TCB acceptance can be asked for.
func TestEvidenceVerifyAsTheServer(t *testing.T) {
	rep := filepath.Join(evSGXData, "maa", "openenclave_report.b64url")
	rd := filepath.Join(evSGXData, "maa", "runtime_data.b64url")
	coll := filepath.Join(evSGXData, "pcs2025")
	at := "2025-06-01T00:00:00Z"
	m, _, err := runEvidence(t, "verify", "--type", "openenclave", "--evidence", rep, "--runtime-data", rd, "--collateral", coll, "--at", at)
	if err != nil {
		t.Fatal(err)
	}
	c := evClaims(m)
	if c["x-ms-attestation-type"] != "sgx" || c["x-maat-sgx-tcb-status"] != "OutOfDate" || c["aas-ehd"] != c["x-ms-sgx-ehd"] || c["maa-ehd"] != c["x-ms-sgx-ehd"] {
		t.Errorf("claims are not the server's: %v", c)
	}
	_, _, err = runEvidence(t, "verify", "--type", "openenclave", "--evidence", rep, "--collateral", coll, "--at", at,
		"--accept-tcb-status", "UpToDate,SWHardeningNeeded")
	if err == nil || !strings.Contains(err.Error(), "'OutOfDate' is not accepted") || !strings.Contains(err.Error(), "--accept-tcb-status") {
		t.Errorf("server TCB acceptance: %v", err)
	}
	_, _, err = runEvidence(t, "verify", "--type", "sgx", "--evidence", rep, "--collateral", coll, "--at", at)
	if err == nil || !strings.Contains(err.Error(), "try --type openenclave") {
		t.Errorf("OE report as --type sgx: %v", err)
	}
	_, _, err = runEvidence(t, "verify", "--type", "tpm", "--evidence", rep)
	if err == nil || !strings.Contains(err.Error(), "cannot be verified offline") || !strings.Contains(err.Error(), "maat evidence inspect --type tpm") {
		t.Errorf("--type tpm: %v", err)
	}
}

// TestEvidenceConfidentialVMs: inspect and verify SEV-SNP and TDX evidence
// with the server's verifiers (real vectors at their pinned times).
func TestEvidenceConfidentialVMs(t *testing.T) {
	var sample struct {
		Report string `json:"request_body_field_report"`
	}
	b, err := os.ReadFile(filepath.Join("..", "evidence", "sevsnp", "testdata", "maa", "sevsnp_request_sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	snp := filepath.Join(t.TempDir(), "snp-report.b64url")
	os.WriteFile(snp, []byte(sample.Report), 0o600)
	m, _, err := runEvidence(t, "inspect", "--type", "sevsnp", "--evidence", snp)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := m["report"].(map[string]any); r == nil || m["chain"] == nil {
		t.Fatalf("sevsnp inspect: %v", m)
	}
	m, _, err = runEvidence(t, "verify", "--type", "sevsnp", "--evidence", snp, "--at", "2025-04-08T05:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	c := evClaims(m)
	if c["x-ms-attestation-type"] != "sevsnpvm" || c["x-ms-sevsnpvm-microcode-svn"] != float64(115) {
		t.Fatalf("sevsnp claims %v", c)
	}

	dir := tdxvectors.Path("azure_dcesv5")
	quote := filepath.Join(dir, "quote.bin")
	m, _, err = runEvidence(t, "inspect", "--type", "tdx", "--evidence", quote)
	if err != nil {
		t.Fatal(err)
	}
	if m["quote"] == nil {
		t.Fatalf("tdx inspect %v", m)
	}
	m, _, err = runEvidence(t, "verify", "--type", "tdx", "--evidence", quote, "--collateral", dir, "--at", "2025-06-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if c := evClaims(m); c["x-ms-attestation-type"] != "tdxvm" || c["attester_tcb_status"] != "OutOfDate" {
		t.Fatalf("tdx claims %v", c)
	}
	_, _, err = runEvidence(t, "verify", "--type", "tdx", "--evidence", quote, "--collateral", dir, "--at", "2025-06-01T00:00:00Z", "--accept-tcb-status", "UpToDate")
	if err == nil || !strings.Contains(err.Error(), "OutOfDate") {
		t.Fatalf("tdx with only UpToDate accepted: %v", err)
	}
}
