package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
)

// mgmtCall is one management request and the audit record it must leave.
type mgmtCall struct {
	method, path, bearer, body string
	want                       store.AuditRecord // Operation, AttestationType, Caller*, Signer, Result, Before, After
}

// doMgmt sends c and returns the x-ms-request-id and the status.
func doMgmt(t *testing.T, base string, c mgmtCall) (string, int) {
	t.Helper()
	req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("x-ms-request-id"), resp.StatusCode
}

// runAudited sends every call and checks the audit trail holds exactly one
// record per call, in order, with the caller, hashes and request id.
func runAudited(t *testing.T, r *running, calls []mgmtCall) {
	t.Helper()
	base := "http://" + r.app.HTTPAddr()
	al, err := audit.LogOf(r.app.store)
	if err != nil {
		t.Fatal(err)
	}
	before, err := al.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(calls))
	for i, c := range calls {
		id, status := doMgmt(t, base, c)
		ids[i] = id
		if (status == http.StatusOK) != (c.want.Result == "ok") {
			t.Fatalf("call %d %s %s: status %d, want result %s", i, c.method, c.path, status, c.want.Result)
		}
	}
	recs, err := al.ListAudit(context.Background(), store.AuditFilter{AfterID: lastID(before)})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(calls) {
		for _, rec := range recs {
			t.Logf("record %+v", rec)
		}
		t.Fatalf("%d audit records for %d calls", len(recs), len(calls))
	}
	for i, got := range recs {
		w := calls[i].want
		w.ID, w.Time, w.Message, w.InstanceID, w.RequestID = got.ID, got.Time, got.Message, InstanceID, ids[i]
		if got != w {
			t.Errorf("call %d (%s %s):\n got %+v\nwant %+v", i, calls[i].method, calls[i].path, got, w)
		}
		if ids[i] == "" || (w.Result != "ok" && got.Message == "") {
			t.Errorf("call %d: request id %q, message %q", i, ids[i], got.Message)
		}
	}
}

func lastID(recs []store.AuditRecord) int64 {
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].ID
}

func policyClaims(text string) map[string]string {
	return map[string]string{"AttestationPolicy": jose.B64.EncodeToString([]byte(text))}
}

func certClaims(k *mgmtKey) map[string]any {
	return map[string]any{"policyCertificate": map[string]any{"kty": "RSA", "x5c": []string{base64.StdEncoding.EncodeToString(k.cert.Raw)}}}
}

const (
	auditPolicy1 = "version=1.0; authorizationrules{ => permit(); }; issuancerules{};"
	auditPolicy2 = "version=1.0; authorizationrules{ => deny(); }; issuancerules{};"
	putSGX       = "/policies/SgxEnclave?api-version=2022-08-01"
	resetSGX     = "/policies/SgxEnclave:reset?api-version=2022-08-01"
	addCert      = "/certificates:add?api-version=2022-08-01"
	removeCert   = "/certificates:remove?api-version=2022-08-01"
	unsignedNone = "eyJhbGciOiJub25lIn0.."
)

func auditAADCalls(t *testing.T, signer *mgmtKey) []mgmtCall {
	def := defaultPolicyHash(t, "SgxEnclave")
	h1, h2 := policy.Hash(auditPolicy1), policy.Hash(auditPolicy2)
	dev := store.AuditRecord{CallerKind: audit.CallerDevToken}
	rec := func(base store.AuditRecord, op, typ, result, signer, before, after string) store.AuditRecord {
		base.Operation, base.AttestationType, base.Result, base.Signer, base.Before, base.After = op, typ, result, signer, before, after
		return base
	}
	anon := store.AuditRecord{CallerKind: audit.CallerUnauthenticated}
	return []mgmtCall{
		{"PUT", putSGX, devToken, unsignedPolicy(auditPolicy1), rec(dev, "policy.set", "SgxEnclave", "ok", "", def, h1)},
		{"PUT", putSGX, devToken, unsignedPolicy("version=1.0; authorizationrules{"), rec(dev, "policy.set", "SgxEnclave", string(maaerr.PolicyParsingError), "", h1, h1)},
		{"PUT", putSGX, "wrong-token", unsignedPolicy(auditPolicy2), rec(anon, "policy.set", "SgxEnclave", string(maaerr.Unauthorized), "", "", "")},
		{"PUT", putSGX, devToken, signedJWS(t, signer, policyClaims(auditPolicy2)), rec(dev, "policy.set", "SgxEnclave", "ok", signer.thumbprint(), h1, h2)},
		{"POST", resetSGX, devToken, unsignedNone, rec(dev, "policy.reset", "SgxEnclave", "ok", "", h2, def)},
		{"POST", addCert, devToken, signedJWS(t, signer, certClaims(signer)), rec(dev, "certificate.add", "", string(maaerr.InvalidOperation), "", "", "")},
		{"POST", removeCert, "", signedJWS(t, signer, certClaims(signer)), rec(anon, "certificate.remove", "", string(maaerr.Unauthorized), "", "", "")},
	}
}

func auditIsolatedCalls(t *testing.T, k1, k2 *mgmtKey) []mgmtCall {
	def := defaultPolicyHash(t, "SgxEnclave")
	h1 := policy.Hash(auditPolicy1)
	dev := store.AuditRecord{CallerKind: audit.CallerDevToken}
	rec := func(op, typ, result, signer, before, after string) store.AuditRecord {
		r := dev
		r.Operation, r.AttestationType, r.Result, r.Signer, r.Before, r.After = op, typ, result, signer, before, after
		return r
	}
	noAuth := rec("certificate.add", "", string(maaerr.Unauthorized), "", "", "")
	noAuth.CallerKind = audit.CallerUnauthenticated
	return []mgmtCall{
		{"PUT", putSGX, devToken, signedJWS(t, k1, policyClaims(auditPolicy1)), rec("policy.set", "SgxEnclave", "ok", k1.thumbprint(), def, h1)},
		{"PUT", putSGX, devToken, unsignedPolicy(auditPolicy2), rec("policy.set", "SgxEnclave", string(maaerr.InvalidOperation), "", h1, h1)},
		{"PUT", putSGX, devToken, signedJWS(t, k2, policyClaims(auditPolicy2)), rec("policy.set", "SgxEnclave", string(maaerr.InvalidParameter), "", h1, h1)},
		{"POST", addCert, devToken, signedJWS(t, k1, certClaims(k2)), rec("certificate.add", "", "ok", k1.thumbprint(), "", k2.thumbprint())},
		{"POST", addCert, "", signedJWS(t, k1, certClaims(k2)), noAuth},
		{"POST", removeCert, devToken, signedJWS(t, k2, certClaims(k2)), rec("certificate.remove", "", "ok", k2.thumbprint(), k2.thumbprint(), "")},
		{"POST", removeCert, devToken, signedJWS(t, k1, certClaims(k1)), rec("certificate.remove", "", string(maaerr.InvalidOperation), k1.thumbprint(), k1.thumbprint(), k1.thumbprint())},
		{"POST", resetSGX, devToken, signedJWS(t, k1, nil), rec("policy.reset", "SgxEnclave", "ok", k1.thumbprint(), h1, def)},
	}
}

func isolatedAuditConfig(t *testing.T) (config.Config, *mgmtKey, *mgmtKey) {
	k1, k2 := newMgmtKey(t, "audit k1"), newMgmtKey(t, "audit k2")
	p := filepath.Join(t.TempDir(), "k1.pem")
	if err := os.WriteFile(p, k1.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return replayConfig(t, "isolated", p), k1, k2
}

// TestAuditTrail: every management operation, successful and refused, in
// AAD and Isolated mode, on SQLite and (with MAAT_TEST_POSTGRES_DSN)
// PostgreSQL, leaves exactly one audit record with its caller, signer,
// request id, result and policy hash / certificate thumbprint before and
// after.
func TestAuditTrail(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := func(t *testing.T, cfg config.Config) config.Config {
				if backend == "postgres" {
					cfg.Store, cfg.StoreSchema = pgSchema(t)
					cfg.KeyEncryption = sharedKEKFile(t, cfg.StoreSchema)
				}
				return cfg
			}
			t.Run("AAD", func(t *testing.T) {
				cfg := pg(t, replayConfig(t, "aad"))
				r := start(t, cfg)
				runAudited(t, r, auditAADCalls(t, newMgmtKey(t, "aad signer")))
			})
			t.Run("Isolated", func(t *testing.T) {
				cfg, k1, k2 := isolatedAuditConfig(t)
				r := start(t, pg(t, cfg))
				runAudited(t, r, auditIsolatedCalls(t, k1, k2))
			})
		})
	}
}

// TestAuditOIDCCaller: the OIDC subject and object id of the caller are
// recorded, also when the token is valid but its roles refuse the write.
func TestAuditOIDCCaller(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	var idp *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "idp1",
			"n": jose.B64.EncodeToString(key.N.Bytes()), "e": jose.B64.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	})
	idp = httptest.NewServer(mux)
	defer idp.Close()
	cfg := replayConfig(t, "aad")
	cfg.DevTime, cfg.DevBearerToken = "", ""
	cfg.OIDCIssuer, cfg.OIDCAudience = idp.URL, "https://attest.example/"
	r := start(t, cfg)
	tok := func(sub, oid string, roles ...string) string {
		s, err := jose.Sign(jose.Header{Alg: "RS256", KID: "idp1", Typ: "JWT"}, map[string]any{
			"iss": idp.URL, "aud": "https://attest.example/", "exp": time.Now().Add(time.Hour).Unix(), "roles": roles, "sub": sub, "oid": oid}, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	def := defaultPolicyHash(t, "SgxEnclave")
	h1 := policy.Hash(auditPolicy1)
	runAudited(t, r, []mgmtCall{
		{"PUT", putSGX, tok("alice", "oid-alice", "Attestation Contributor"), unsignedPolicy(auditPolicy1),
			store.AuditRecord{Operation: "policy.set", AttestationType: "SgxEnclave", CallerKind: "oidc", CallerSubject: "alice", CallerObjectID: "oid-alice", Result: "ok", Before: def, After: h1}},
		{"PUT", putSGX, tok("bob", "oid-bob", "Attestation Reader"), unsignedPolicy(auditPolicy2),
			store.AuditRecord{Operation: "policy.set", AttestationType: "SgxEnclave", CallerKind: "oidc", CallerSubject: "bob", CallerObjectID: "oid-bob", Result: string(maaerr.Unauthorized)}},
		{"POST", resetSGX, "forged." + strings.Repeat("x", 20) + ".sig", unsignedNone,
			store.AuditRecord{Operation: "policy.reset", AttestationType: "SgxEnclave", CallerKind: "unauthenticated", Result: string(maaerr.Unauthorized)}},
	})
}
