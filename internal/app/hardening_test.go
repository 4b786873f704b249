package app

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// TestDuplicateMembersAreRefused: every JSON object Maat reads from a client
// has one meaning. A member given twice, exactly or in another case, is a
// 400 InvalidParameter naming it — every time (Go's map order once decided
// which occurrence won).
func TestDuplicateMembersAreRefused(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	base := "http://" + r.app.HTTPAddr()
	report := b64url(readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url")))
	runtime := b64url(readB64(t, sgxvectors.Path("maa", "runtime_data.b64url")))
	oe := "/attest/OpenEnclave?api-version=2022-08-01"
	tpmPath := "/attest/Tpm?api-version=2022-08-01"
	hdrNone := b64url([]byte(`{"alg":"none"}`))
	policyPayload := func(payload string) []byte { return []byte(hdrNone + "." + b64url([]byte(payload)) + ".") }
	pol := b64url([]byte("version=1.0; authorizationrules{ => permit(); };"))
	cases := []struct {
		name, method, path string
		body               []byte
		member             string
	}{
		{"attest: report exact", "POST", oe, []byte(`{"report":"` + report + `","report":"AAAA"}`), "report"},
		{"attest: report case-variant", "POST", oe, []byte(`{"report":"` + report + `","Report":"AAAA"}`), "Report"},
		{"attest: nonce three spellings", "POST", oe, []byte(`{"report":"` + report + `","nonce":"a","Nonce":"b","NONCE":"c"}`), "Nonce"},
		{"attest: draft policy case-variant", "POST", oe, []byte(`{"report":"` + report + `","draftPolicyForAttestation":"x","DraftPolicyForAttestation":"y"}`), "DraftPolicyForAttestation"},
		{"attest: runtimeData exact", "POST", oe, []byte(`{"report":"` + report + `","runtimeData":{"data":"` + runtime + `"},"runtimeData":{"data":"AAAA"}}`), "runtimeData"},
		{"attest: runtimeData.data case-variant", "POST", oe, []byte(`{"report":"` + report + `","runtimeData":{"data":"` + runtime + `","Data":"AAAA"}}`), "Data"},
		{"attest: initTimeData.dataType exact", "POST", oe, []byte(`{"report":"` + report + `","initTimeData":{"data":"AAAA","dataType":"Binary","dataType":"JSON"}}`), "dataType"},
		{"attest: JSON runtime data exact", "POST", oe, []byte(`{"report":"` + report + `","runtimeData":{"data":"` + b64url([]byte(`{"a":1,"a":2}`)) + `","dataType":"JSON"}}`), "a"},
		{"tpm: data case-variant", "POST", tpmPath, []byte(`{"data":"` + b64url(tpmInit) + `","DATA":"` + b64url(tpmInit) + `"}`), "DATA"},
		{"tpm: message payload case-variant", "POST", tpmPath, []byte(`{"data":"` + b64url([]byte(`{"payload":{"type":"aikcert"},"Payload":{"type":"x"}}`)) + `"}`), "Payload"},
		{"policy: AttestationPolicy case-variant", "PUT", "/policies/OpenEnclave?api-version=2022-08-01", policyPayload(`{"AttestationPolicy":"` + pol + `","attestationPolicy":"` + b64url([]byte("version=1.0; authorizationrules{ => deny(); };")) + `"}`), "attestationPolicy"},
		{"policy: JWS header case-variant", "PUT", "/policies/OpenEnclave?api-version=2022-08-01", []byte(b64url([]byte(`{"alg":"none","ALG":"RS256"}`)) + "." + b64url([]byte(`{"AttestationPolicy":"`+pol+`"}`)) + "."), "ALG"},
		{"certificates: body object case-variant", "POST", "/certificates:add?api-version=2025-06-01", []byte(`{"policyCertificateToAdd":"a.b.c","PolicyCertificateToAdd":"d.e.f"}`), "PolicyCertificateToAdd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 100 {
				got := sendAuth(t, base, tc.method, tc.path, tc.body, true)
				if got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, tc.member) {
					t.Fatalf("attempt %d: %d %s %q; want 400 InvalidParameter naming %q", i, got.status, got.code, got.message, tc.member)
				}
			}
		})
	}
}

var tpmInit = []byte(`{"payload":{"type":"aikcert"}}`)

// TestNonceBoundAndEchoCapped: the nonce is bounded (MAA's recorded clients
// send a few dozen bytes), and client input echoed in messages is capped.
func TestNonceBoundAndEchoCapped(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	base := "http://" + r.app.HTTPAddr()
	report := b64url(readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url")))
	oe := "/attest/OpenEnclave?api-version=2022-08-01"
	ok := sendAuth(t, base, "POST", oe, []byte(`{"report":"`+report+`","nonce":"`+strings.Repeat("n", 1024)+`"}`), false)
	if ok.status != 200 {
		t.Fatalf("1 KiB nonce: %d %s %s", ok.status, ok.code, ok.message)
	}
	big := sendAuth(t, base, "POST", oe, []byte(`{"report":"`+report+`","nonce":`+strings.Repeat("9", 900_000)+`}`), false)
	if big.status != 400 || big.code != "InvalidParameter" || !strings.Contains(big.message, "nonce") || len(big.message) > 300 {
		t.Fatalf("900,000-digit nonce: %d %s %q", big.status, big.code, big.message[:min(len(big.message), 300)])
	}
	long := strings.Repeat("x", 8000)
	got := sendAuth(t, base, "POST", "/attest/"+long+"?api-version=2022-08-01", []byte(`{}`), false)
	if got.status != 400 || len(got.message) > 512 || !strings.Contains(got.message, "…") {
		t.Fatalf("8 kB type name echoed: %d %d bytes %q", got.status, len(got.message), got.message[:min(len(got.message), 300)])
	}
}

// mgmtCert makes a self-signed management certificate with the given key
// and validity.
func mgmtCert(t *testing.T, cn string, key crypto.Signer, notBefore, notAfter time.Time, parent *mgmtKey) *mgmtKey {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
		tmpl.IsCA = false
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &mgmtKey{key: key, cert: c, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// signedJWS signs payload with k, carrying chain (k's certificate first) in x5c.
func signedJWS(t *testing.T, k *mgmtKey, payload any, chain ...*x509.Certificate) string {
	t.Helper()
	alg := "RS256"
	if _, ok := k.key.(*ecdsa.PrivateKey); ok {
		alg = "ES256"
	}
	x5c := []string{base64.StdEncoding.EncodeToString(k.cert.Raw)}
	for _, c := range chain {
		x5c = append(x5c, base64.StdEncoding.EncodeToString(c.Raw))
	}
	s, err := jose.Sign(jose.Header{Alg: alg, X5C: x5c}, payload, k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func policyPayload(text string) map[string]string {
	return map[string]string{"AttestationPolicy": jose.B64.EncodeToString([]byte(text))}
}

func certPayload(c *x509.Certificate) map[string]any {
	return map[string]any{"policyCertificate": map[string]any{"kty": "RSA", "x5c": []string{base64.StdEncoding.EncodeToString(c.Raw)}}}
}

// isolated starts an Isolated instance whose management certificate is k's.
func isolated(t *testing.T, k *mgmtKey, mutate func(cfg *config.Config)) (base string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mgmt.pem")
	if err := os.WriteFile(p, k.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := replayConfig(t, "isolated", p)
	if mutate != nil {
		mutate(&cfg)
	}
	r := start(t, cfg)
	return "http://" + r.app.HTTPAddr()
}

// TestManagementCertificateStrength: RSA-1024 and expired certificates are
// refused for add and for signing; a signer that merely chains to a
// management certificate is refused by default and accepted (and reported)
// only with policy-management-allow-chained-signers.
func TestManagementCertificateStrength(t *testing.T) {
	devNow := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) // replayConfig's dev clock
	valid := func() (time.Time, time.Time) { return devNow.AddDate(-1, 0, 0), devNow.AddDate(5, 0, 0) }
	rsaKey := func(bits int) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	nb, na := valid()
	root := mgmtCert(t, "root", rsaKey(2048), nb, na, nil)
	weak := mgmtCert(t, "weak", rsaKey(1024), nb, na, nil)
	expired := mgmtCert(t, "expired", rsaKey(2048), devNow.AddDate(-3, 0, 0), devNow.AddDate(-1, 0, 0), nil)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	weakEC := mgmtCert(t, "p224", p224, nb, na, nil)
	leaf := mgmtCert(t, "leaf", rsaKey(2048), nb, na, root)
	base := isolated(t, root, nil)
	add := func(signer *mgmtKey, c *x509.Certificate, chain ...*x509.Certificate) reply {
		return sendAuth(t, base, "POST", "/certificates:add?api-version=2022-08-01", []byte(signedJWS(t, signer, certPayload(c), chain...)), true)
	}
	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		want string
	}{{"RSA-1024", weak.cert, "RSA-1024"}, {"expired", expired.cert, "not valid at"}, {"P-224", weakEC.cert, "P-256"}} {
		if got := add(root, tc.c); got.status != 400 || !strings.Contains(got.message, tc.want) {
			t.Errorf("add %s certificate: %d %s %q", tc.name, got.status, got.code, got.message)
		}
	}
	// A weak or expired certificate that is listed still cannot sign.
	for _, k := range []*mgmtKey{weak, expired} {
		b := isolated(t, k, nil)
		got := sendAuth(t, b, "PUT", "/policies/SgxEnclave?api-version=2022-08-01", []byte(signedJWS(t, k, policyPayload("version=1.0; authorizationrules{ => permit(); };"))), true)
		if got.status != 400 || got.code != "InvalidParameter" {
			t.Errorf("policy signed by the listed %s certificate: %d %s %q", k.cert.Subject.CommonName, got.status, got.code, got.message)
		}
	}
	// A chained signer: refused by default, accepted with the option.
	set := func(b string) reply {
		return sendAuth(t, b, "PUT", "/policies/SgxEnclave?api-version=2022-08-01", []byte(signedJWS(t, leaf, policyPayload("version=1.0; authorizationrules{ => permit(); };"), root.cert)), true)
	}
	if got := set(base); got.status != 400 || !strings.Contains(got.message, "chains to a policy management certificate") {
		t.Errorf("chained signer by default: %d %s %q", got.status, got.code, got.message)
	}
	b := isolated(t, root, func(c *config.Config) { c.AllowChainedSigners = true })
	got := set(b)
	if got.status != 200 || got.claims["x-maat-policy-signer-chained-to"] != (&mgmtKey{cert: root.cert}).thumbprint() {
		t.Errorf("chained signer allowed: %d %s %q %v", got.status, got.code, got.message, got.claims["x-maat-policy-signer-chained-to"])
	}
}

// TestManagementReplayRefused: in Isolated mode a superseded signed policy
// or certificate request is refused, on SQLite and on PostgreSQL across two
// replicas; the request in force may be retried; a newer iat wins, an older
// one is refused.
func TestManagementReplayRefused(t *testing.T) {
	k := newMgmtKey(t, "replay management key")
	polA := signedJWS(t, k, policyPayload("version=1.0; authorizationrules{ => permit(); };"))
	polB := signedJWS(t, k, policyPayload("version=1.0; authorizationrules{ c:[type==\"x-ms-sgx-is-debuggable\"] => permit(); };"))
	reset := signedJWS(t, k, nil)
	k2 := newMgmtKey(t, "second management key")
	addK2 := signedJWS(t, k, certPayload(k2.cert))
	removeK2 := signedJWS(t, k, map[string]any{"policyCertificate": map[string]any{"kty": "RSA", "x5c": []string{base64.StdEncoding.EncodeToString(k2.cert.Raw)}}, "iat": 1})
	run := func(t *testing.T, bases []string) {
		at := func(i int) string { return bases[i%len(bases)] }
		step := func(i int, method, path, jws string, want int) reply {
			t.Helper()
			got := sendAuth(t, at(i), method, path, []byte(jws), true)
			if got.status != want {
				t.Fatalf("step %d %s %s: %d %s %q, want %d", i, method, path, got.status, got.code, got.message, want)
			}
			return got
		}
		const p = "/policies/SgxEnclave?api-version=2022-08-01"
		const rs = "/policies/SgxEnclave:reset?api-version=2022-08-01"
		step(0, "PUT", p, polA, 200)
		step(1, "PUT", p, polA, 200) // a retry of the request in force
		step(2, "PUT", p, polB, 200)
		if got := step(3, "PUT", p, polA, 409); !strings.Contains(got.message, "replay") {
			t.Fatalf("replay message %q", got.message)
		}
		step(4, "POST", rs, reset, 200)
		step(5, "PUT", p, polB, 409) // superseded by the reset
		iat := func(text string, sec int64) string {
			return signedJWS(t, k, map[string]any{"AttestationPolicy": jose.B64.EncodeToString([]byte(text)), "iat": sec})
		}
		step(6, "PUT", p, iat("version=1.0; authorizationrules{ => permit(); };", 2_000_000_000), 200)
		step(7, "PUT", p, iat("version=1.0; authorizationrules{ => deny(); };", 1_900_000_000), 409) // older iat
		step(8, "POST", "/certificates:add?api-version=2022-08-01", addK2, 200)
		step(9, "POST", "/certificates:remove?api-version=2022-08-01", removeK2, 200)
		step(10, "POST", "/certificates:add?api-version=2022-08-01", addK2, 409) // re-adding a removed certificate
	}
	t.Run("SQLite", func(t *testing.T) {
		run(t, []string{isolated(t, k, nil)})
	})
	t.Run("PostgreSQL two replicas", func(t *testing.T) {
		dsn, schema := pgSchema(t)
		p := filepath.Join(t.TempDir(), "mgmt.pem")
		if err := os.WriteFile(p, k.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		var bases []string
		for range 2 {
			cfg := replicaConfig(t, dsn, schema)
			cfg.Mode, cfg.PolicyMgmtCerts = "isolated", []string{p}
			bases = append(bases, "http://"+start(t, cfg).app.HTTPAddr())
		}
		run(t, bases)
	})
}
