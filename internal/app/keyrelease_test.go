package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/keyrelease"
	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/sdk/azattest"
)

const skrBearer = "skr-test-token"

// simServer starts a server over plain HTTP whose issuer is its HTTP
// address; dev and trust choose --dev and dev-trust-simulated-evidence.
func simServer(t *testing.T, dev, trust bool) (*running, string, *simulate.PKI) {
	t.Helper()
	dir := t.TempDir()
	// The development PKI exists in the data directory in every case:
	// whether it is trusted depends on --dev and the flag only.
	p, err := simulate.Load(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir)
	cfg.HTTPSAddr = ""
	cfg.Dev = dev
	cfg.DevTrustSimulatedEvidence = trust
	if dev {
		cfg.DevBearerToken = skrBearer
	} else {
		cfg.AuthDisabled = true
	}
	r := start(t, cfg)
	return r, r.app.Issuer(), p
}

type teeKey struct {
	rk      *azattest.RuntimeKey
	runtime []byte
	json    bool
}

func newTEEKey(t *testing.T, json bool) *teeKey {
	t.Helper()
	if json {
		priv, _ := rsa.GenerateKey(rand.Reader, 2048)
		rk, _ := azattest.NewRuntimeKey(priv, "tee-key")
		rt, err := rk.RuntimeData()
		if err != nil {
			t.Fatal(err)
		}
		return &teeKey{rk: rk, runtime: rt, json: true}
	}
	// Binary runtime data: the DER SubjectPublicKeyInfo of an EC key.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := azattest.NewRuntimeKey(priv, "")
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &teeKey{rk: rk, runtime: der}
}

func (k *teeKey) data() *azattest.AttestationData {
	dt := azattest.DataTypeBinary
	if k.json {
		dt = azattest.DataTypeJSON
	}
	return &azattest.AttestationData{Data: k.runtime, DataType: dt}
}

var skrMRSigner = bytes.Repeat([]byte{0x5a}, 32)

func simEnclave(k *teeKey) simulate.Enclave {
	e := simulate.Enclave{ReportData: simulate.ReportDataFor(k.runtime), ProductID: 3, SVN: 7}
	copy(e.MRSigner[:], skrMRSigner)
	copy(e.MREnclave[:], bytes.Repeat([]byte{0xe1}, 32))
	return e
}

func attestSim(ctx context.Context, c *azattest.Client, p *simulate.PKI, typ string, e simulate.Enclave, k *teeKey) (azattest.AttestationResult, error) {
	if typ == "OpenEnclave" {
		rep, err := p.OpenEnclaveReport(e)
		if err != nil {
			return azattest.AttestationResult{}, err
		}
		r, err := c.AttestOpenEnclave(ctx, rep, &azattest.AttestOpenEnclaveOptions{RuntimeData: k.data()})
		return r.AttestationResult, err
	}
	q, err := p.SGXQuote(e)
	if err != nil {
		return azattest.AttestationResult{}, err
	}
	r, err := c.AttestSGXEnclave(ctx, q, &azattest.AttestSGXEnclaveOptions{RuntimeData: k.data()})
	return r.AttestationResult, err
}

func httpErrorCode(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// The end-to-end: simulated SGX and OE evidence with binary and JSON
// runtime data through /attest; the token carries the key; the SDK unwraps
// what the relying party wrapped; the release endpoint releases a key to
// it under an AKV release policy and refuses with the reason otherwise.
func TestSimulatedEvidenceAndKeyRelease(t *testing.T) {
	r, endpoint, p := simServer(t, true, true)
	ctx := context.Background()
	client, err := azattest.NewClient(endpoint, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kr := &keyrelease.Client{Endpoint: "http://" + r.app.HTTPAddr(), BearerToken: skrBearer}
	policy := `{"version":"1.0.0","anyOf":[{"authority":"` + endpoint + `","allOf":[
		{"claim":"x-ms-sgx-mrsigner","equals":"` + hex.EncodeToString(skrMRSigner) + `"},
		{"claim":"x-ms-sgx-is-debuggable","equals":false},
		{"claim":"x-ms-sgx-svn","greaterOrEquals":7},
		{"claim":"x-maat-simulated-evidence","equals":true}]}]}`
	if _, err := kr.Create(ctx, "db-key", keyrelease.CreateRequest{ReleasePolicy: json.RawMessage(policy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&keyrelease.Client{Endpoint: kr.Endpoint}).Create(ctx, "x", keyrelease.CreateRequest{ReleasePolicy: json.RawMessage(policy)}); err == nil {
		t.Fatal("create without the bearer token succeeded")
	}

	for _, typ := range []string{"SgxEnclave", "OpenEnclave"} {
		for _, isJSON := range []bool{true, false} {
			name := typ + "/binary"
			if isJSON {
				name = typ + "/json"
			}
			t.Run(name, func(t *testing.T) {
				k := newTEEKey(t, isJSON)
				res, err := attestSim(ctx, client, p, typ, simEnclave(k), k)
				if err != nil {
					t.Fatal(err)
				}
				if res.RawClaims[simulate.ClaimSimulated] != true {
					t.Fatalf("token lacks %s: %v", simulate.ClaimSimulated, res.RawClaims)
				}
				// Relying party: validate, extract, wrap; enclave: unwrap.
				valid, err := client.ValidateToken(ctx, res.Token.String(), nil)
				if err != nil {
					t.Fatal(err)
				}
				ak, err := azattest.ExtractAttestedKey(valid.Token, &azattest.AttestedKeyOptions{RequireReportDataCheck: true})
				if err != nil {
					t.Fatal(err)
				}
				wantClaim := "x-ms-sgx-ehd"
				if isJSON {
					wantClaim = "x-ms-runtime"
				}
				if ak.Claim != wantClaim || !ak.ReportDataChecked {
					t.Fatalf("attested key %+v", ak)
				}
				secret := []byte("relying party secret " + name)
				jwe, err := ak.WrapSecret(secret, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := k.rk.UnwrapSecret(jwe); err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("unwrap: %q %v", got, err)
				}
				// Release endpoint.
				rel, err := kr.Release(ctx, "db-key", keyrelease.ReleaseRequest{Target: res.Token.String()})
				if err != nil {
					t.Fatal(err)
				}
				jwk, err := k.rk.UnwrapSecret(rel.Value)
				if err != nil || !strings.Contains(string(jwk), `"kty":"oct"`) {
					t.Fatalf("released key: %s %v", jwk, err)
				}
				// Not satisfied: a lower SVN.
				e := simEnclave(k)
				e.SVN = 6
				low, err := attestSim(ctx, client, p, typ, e, k)
				if err != nil {
					t.Fatal(err)
				}
				_, err = kr.Release(ctx, "db-key", keyrelease.ReleaseRequest{Target: low.Token.String()})
				var se *keyrelease.ServiceError
				if !errors.As(err, &se) || se.StatusCode != 403 || !strings.Contains(se.Message, "claim x-ms-sgx-svn is 6, the policy requires greaterOrEquals 7") {
					t.Fatalf("unsatisfied release: %v", err)
				}
			})
		}
	}

	t.Run("field overrides land in the token", func(t *testing.T) {
		k := newTEEKey(t, false)
		e := simEnclave(k)
		e.Debug, e.KSS, e.ConfigSVN = true, true, 4
		copy(e.ConfigID[:], bytes.Repeat([]byte{0xc1}, 64))
		copy(e.ISVFamilyID[:], bytes.Repeat([]byte{0xf1}, 16))
		copy(e.ISVExtProdID[:], bytes.Repeat([]byte{0xe2}, 16))
		res, err := attestSim(ctx, client, p, "SgxEnclave", e, k)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"x-ms-sgx-mrsigner": hex.EncodeToString(skrMRSigner), "x-ms-sgx-mrenclave": strings.Repeat("e1", 32),
			"x-ms-sgx-product-id": 3.0, "x-ms-sgx-svn": 7.0, "x-ms-sgx-is-debuggable": true,
			"x-ms-sgx-config-id": strings.Repeat("c1", 64), "x-ms-sgx-config-svn": 4.0,
			"x-ms-sgx-isv-family-id": strings.Repeat("f1", 16), "x-ms-sgx-isv-extended-product-id": strings.Repeat("e2", 16),
			"x-ms-sgx-report-data": hex.EncodeToString(e.ReportData[:]), "x-ms-sgx-ehd": base64.RawURLEncoding.EncodeToString(k.runtime),
		}
		for c, w := range want {
			if got := res.RawClaims[c]; got != w {
				t.Errorf("%s = %v, want %v", c, got, w)
			}
		}
		// A debuggable enclave is refused by the release policy.
		_, err = kr.Release(ctx, "db-key", keyrelease.ReleaseRequest{Target: res.Token.String()})
		var se *keyrelease.ServiceError
		if !errors.As(err, &se) || se.StatusCode != 403 || !strings.Contains(se.Message, "x-ms-sgx-is-debuggable") {
			t.Fatalf("debug release: %v", err)
		}
	})

	t.Run("tampered simulated evidence fails like real evidence", func(t *testing.T) {
		k := newTEEKey(t, true)
		q, _ := p.SGXQuote(simEnclave(k))
		q[48+64] ^= 1 // MRENCLAVE: the quote signature no longer verifies
		_, err := client.AttestSGXEnclave(ctx, q, &azattest.AttestSGXEnclaveOptions{RuntimeData: k.data()})
		if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" {
			t.Fatalf("tampered quote: %d %s (%v)", st, code, err)
		}
		// Runtime data that is not what the report binds.
		q, _ = p.SGXQuote(simEnclave(k))
		other := newTEEKey(t, true)
		_, err = client.AttestSGXEnclave(ctx, q, &azattest.AttestSGXEnclaveOptions{RuntimeData: other.data()})
		if st, _ := httpErrorCode(err); st != 400 || !strings.Contains(err.Error(), "does not match the enclave") {
			t.Fatalf("other runtime data: %v", err)
		}
	})

	t.Run("key release management", func(t *testing.T) {
		ks, err := kr.List(ctx)
		if err != nil || len(ks) != 1 || ks[0].Name != "db-key" {
			t.Fatalf("list: %+v %v", ks, err)
		}
		// The MAA surface is untouched: its 404 envelope for unknown paths.
		resp, err := http.Get("http://" + r.app.HTTPAddr() + "/x-maat/other")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(b), `"NotFound"`) {
			t.Fatalf("MAA 404: %d %s", resp.StatusCode, b)
		}
		if err := kr.Delete(ctx, "db-key"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("release attempts are in the audit trail", func(t *testing.T) {
		al, _ := audit.LogOf(r.app.store)
		recs, err := al.ListAudit(ctx, store.AuditFilter{Operation: "key-release.release"})
		if err != nil {
			t.Fatal(err)
		}
		var ok, refused int
		for _, rec := range recs {
			if rec.After != "db-key" || rec.CallerKind != audit.CallerAttestationToken {
				t.Errorf("record %+v", rec)
			}
			if rec.Result == "ok" {
				ok++
			} else if rec.Result == "Forbidden" {
				refused++
			}
		}
		if ok == 0 || refused == 0 {
			t.Fatalf("release records: %d ok, %d refused (%+v)", ok, refused, recs)
		}
		for _, op := range []string{"key-release.create", "key-release.delete"} {
			recs, err := al.ListAudit(ctx, store.AuditFilter{Operation: op, Result: "ok"})
			if err != nil || len(recs) != 1 || recs[0].After != "db-key" {
				t.Fatalf("%s records %+v %v", op, recs, err)
			}
		}
	})
}

// A server without --dev never trusts simulated evidence, whatever the
// configuration says; a --dev server without the flag does not either.
func TestSimulatedEvidenceRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dev, trust bool
	}{{"production with the trust flag", false, true}, {"production without it", false, false}, {"dev without the flag", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			_, endpoint, p := simServer(t, tc.dev, tc.trust)
			client, err := azattest.NewClient(endpoint, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{"SgxEnclave", "OpenEnclave"} {
				k := newTEEKey(t, true)
				_, err := attestSim(context.Background(), client, p, typ, simEnclave(k), k)
				st, code := httpErrorCode(err)
				if st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), `root \"Maat Development SGX Root CA\"`) || !strings.Contains(err.Error(), "is not a trusted root") {
					t.Fatalf("%s: %d %s: %v", typ, st, code, err)
				}
			}
		})
	}
}

// Rehearsing TCB statuses: `maat simulate sgx --tcb-status` quotes meet the
// server's accept-tcb-status like real ones. With the default list a
// SWHardeningNeeded platform attests (the status in the token), an
// OutOfDate one is refused naming the setting, and a Revoked one is
// refused as a failed verification; a server that accepts OutOfDate
// attests it.
func TestSimulatedTCBStatusRehearsal(t *testing.T) {
	dir := t.TempDir()
	p, err := simulate.Load(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serve := func(accept []string) string {
		// Each server has its own data directory holding the same PKI.
		d := t.TempDir()
		if err := os.CopyFS(filepath.Join(d, simulate.DirName), os.DirFS(filepath.Join(dir, simulate.DirName))); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(d)
		cfg.HTTPSAddr, cfg.Dev, cfg.DevTrustSimulatedEvidence, cfg.DevBearerToken = "", true, true, skrBearer
		if accept != nil {
			cfg.AcceptTCBStatus = accept
		}
		return "http://" + start(t, cfg).app.HTTPAddr()
	}
	attest := func(base string, st collateral.TCBStatus) reply {
		q, err := p.SGXQuote(simulate.Enclave{TCBStatus: st})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"quote": jose.B64.EncodeToString(q)})
		return sendAuth(t, base, "POST", "/attest/SgxEnclave?api-version=2022-08-01", body, false)
	}
	def := serve(nil)
	if got := attest(def, collateral.SWHardeningNeeded); got.status != 200 || got.claims["x-maat-sgx-tcb-status"] != "SWHardeningNeeded" || got.claims[simulate.ClaimSimulated] != true {
		t.Fatalf("SWHardeningNeeded: %d %s %s %v", got.status, got.code, got.message, got.claims["x-maat-sgx-tcb-status"])
	}
	if got := attest(def, collateral.OutOfDate); got.status != 400 || got.code != "InvalidParameter" || !strings.Contains(got.message, "OutOfDate") || !strings.Contains(got.message, "accept-tcb-status") {
		t.Fatalf("OutOfDate on the default list: %d %s %q", got.status, got.code, got.message)
	}
	if got := attest(def, collateral.Revoked); got.status != 400 || got.code != "InvalidQuote" || !strings.Contains(got.message, "Revoked") {
		t.Fatalf("Revoked: %d %s %q", got.status, got.code, got.message)
	}
	lax := serve([]string{"UpToDate", "SWHardeningNeeded", "OutOfDate"})
	if got := attest(lax, collateral.OutOfDate); got.status != 200 || got.claims["x-maat-sgx-tcb-status"] != "OutOfDate" {
		t.Fatalf("OutOfDate accepted: %d %s %s", got.status, got.code, got.message)
	}
}
