package sevsnp

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Verification times inside every certificate's validity (testdata/README.md).
var (
	pinTAV     = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	pinTrustee = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	pinS25     = time.Date(2025, 4, 8, 5, 0, 0, 0, time.UTC)
	pinEX22    = time.Date(2022, 9, 21, 22, 0, 0, 0, time.UTC)
)

func readTD(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
		if len(p) > 0 && p[len(p)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return out
}

func b64url(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vector is one real report with its chain and pinned time.
type vector struct {
	name    string
	report  []byte
	chain   []byte
	at      time.Time
	product Product
	tcb     TCB
	version uint32
}

// tavVector returns the TEE-Attestation-Verification report of a product
// with its VCEK and ASK.
func tavVector(t testing.TB, p string) vector {
	return vector{report: readTD(t, "tav/"+p+"_attestation_report.bin"),
		chain: cat(readTD(t, "tav/"+p+"_vcek.pem"), readTD(t, "tav/"+p+"_ask.pem")), at: pinTAV}
}

// s25Evidence returns the decoded "report" member of the 2025 MAA request
// sample, and the request file's runtime data sample.
func s25Evidence(t testing.TB) (raw []byte, runtimeData []byte) {
	var d map[string]string
	if err := json.Unmarshal(readTD(t, "maa/sevsnp_request_sample.json"), &d); err != nil {
		t.Fatal(err)
	}
	return unb64(t, d["request_body_field_report"]), unb64(t, d["runtimeData.data_sample"])
}

// s25Claims returns the claims of the real MAA token for that request.
func s25Claims(t testing.TB) map[string]any {
	parts := strings.Split(strings.TrimSpace(string(readTD(t, "maa/sev-snp-jwt.txt"))), ".")
	var m map[string]any
	if err := json.Unmarshal(unb64(t, parts[1]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ex22 returns the 2022-08-01 spec example: the decoded report member, the
// runtime data, and the token's claims.
func ex22(t testing.TB) (raw, runtimeData []byte, claims map[string]any) {
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
	if err := json.Unmarshal(readTD(t, "maa/2022-08-01_AttestSevSnpVm.json"), &d); err != nil {
		t.Fatal(err)
	}
	tok := strings.Split(d.Responses["200"].Body.Token, ".")
	if err := json.Unmarshal(unb64(t, tok[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return unb64(t, d.Parameters.Request.Report), unb64(t, d.Parameters.Request.RuntimeData.Data), claims
}

// trusteeEvidence returns the SNP report (at [32, 1216) of the HCL report)
// and the VCEK of a trustee evidence file, in either of its formats.
func trusteeEvidence(t testing.TB, name string) (report, vcek []byte) {
	var d struct {
		Raw     []int  `json:"report"`
		HCLB64  string `json:"hcl_report"`
		VCEK    string `json:"vcek"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(readTD(t, "trustee/"+name), &d); err != nil {
		t.Fatal(err)
	}
	var hcl []byte
	if d.HCLB64 != "" {
		hcl = unb64(t, d.HCLB64)
		vcek = unb64(t, d.VCEK)
	} else {
		hcl = make([]byte, len(d.Raw))
		for i, v := range d.Raw {
			hcl[i] = byte(v)
		}
		vcek = []byte(d.VCEK)
	}
	return hcl[32 : 32+ReportSize], vcek
}

func newTestVerifier(t testing.TB, at time.Time, mod func(*Options)) *Verifier {
	t.Helper()
	o := DefaultOptions()
	o.CRL = CRLOff
	o.Now = func() time.Time { return at }
	if mod != nil {
		mod(&o)
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// evidenceJSON builds the "report" member JSON as the sidecar does.
func evidenceJSON(report, chain []byte) []byte {
	m := map[string]string{"SnpReport": b64url(report)}
	if chain != nil {
		m["VcekCertChain"] = b64url(chain)
	}
	b, _ := json.Marshal(m)
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
