package keyrelease

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
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const (
	maatIss  = "https://maat.test"
	mrsigner = "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e"
)

const sgxPolicy = `{"version":"1.0.0","anyOf":[{"authority":"https://maat.test","allOf":[
	{"claim":"x-ms-sgx-mrsigner","equals":"` + mrsigner + `"},
	{"claim":"x-ms-sgx-is-debuggable","equals":false},
	{"claim":"x-ms-sgx-svn","greaterOrEquals":2}]}]}`

type fixture struct {
	svc    *Service
	issuer *fake.TokenIssuer
	store  store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "maat.db"), sqlite.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateInstance(ctx, store.Instance{ID: "default", Issuer: maatIss, Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	kek := bytes.Repeat([]byte{7}, 32)
	sealer, err := keys.NewAESGCMSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := fake.NewTokenIssuer(maatIss, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	svc := &Service{Store: st, InstanceID: "default", Sealer: sealer, Now: func() time.Time { return t0 },
		Issuers: []Issuer{LocalIssuer{Issuer: maatIss, Signers: iss.Signers}}}
	return &fixture{svc: svc, issuer: iss, store: st}
}

// enclave is the TEE side: an ephemeral key and the runtime data carrying it.
type enclave struct {
	key     *azattest.RuntimeKey
	runtime []byte
}

func newEnclave(t *testing.T) *enclave {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := azattest.NewRuntimeKey(priv, "tee-1")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rk.RuntimeData()
	if err != nil {
		t.Fatal(err)
	}
	return &enclave{key: rk, runtime: rt}
}

// claims are what an SGX attestation of e with JSON runtime data yields.
func (e *enclave) claims(t *testing.T) map[string]any {
	t.Helper()
	var rt any
	if err := json.Unmarshal(e.runtime, &rt); err != nil {
		t.Fatal(err)
	}
	rd := azattest.ReportData(e.runtime)
	return map[string]any{"x-ms-attestation-type": "sgx", "x-ms-sgx-mrsigner": mrsigner, "x-ms-sgx-is-debuggable": false,
		"x-ms-sgx-svn": 2, "x-ms-runtime": rt, "x-ms-sgx-report-data": hex.EncodeToString(rd[:])}
}

func (f *fixture) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	tok, err := f.issuer.Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok.String()
}

func code(err error) maaerr.Code {
	var e *maaerr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestReleaseSatisfied(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, kty := range KeyTypes() {
		name := "k-" + strings.ToLower(kty)
		if _, err := f.svc.Create(ctx, name, CreateRequest{KeyType: kty, ReleasePolicy: json.RawMessage(sgxPolicy)}); err != nil {
			t.Fatalf("%s: %v", kty, err)
		}
		e := newEnclave(t)
		out, err := f.svc.Release(ctx, name, ReleaseRequest{Target: f.token(t, e.claims(t))})
		if err != nil {
			t.Fatalf("%s: %v", kty, err)
		}
		if out.Authority != maatIss || out.AttestedKeyID != "tee-1" || out.KeyType != kty {
			t.Fatalf("%s: %+v", kty, out)
		}
		plain, err := e.key.UnwrapSecret(out.Value)
		if err != nil {
			t.Fatalf("%s: enclave cannot open the release: %v", kty, err)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(plain); err != nil {
			t.Fatalf("%s: released key is not a JWK: %v", kty, err)
		}
		if jwk.KeyID != name || jwk.IsPublic() {
			t.Fatalf("%s: released JWK kid %q public=%v", kty, jwk.KeyID, jwk.IsPublic())
		}
		// The same key again: the material is stable across releases.
		out2, err := f.svc.Release(ctx, name, ReleaseRequest{Target: f.token(t, e.claims(t))})
		if err != nil {
			t.Fatal(err)
		}
		plain2, _ := e.key.UnwrapSecret(out2.Value)
		if !bytes.Equal(plain, plain2) {
			t.Fatalf("%s: two releases returned different keys", kty)
		}
	}
	// The store holds the key sealed, not in the clear.
	rk := f.store.(store.ReleaseKeys)
	k, _ := rk.GetReleaseKey(ctx, "default", "k-oct-256")
	e := newEnclave(t)
	out, _ := f.svc.Release(ctx, "k-oct-256", ReleaseRequest{Target: f.token(t, e.claims(t))})
	plain, _ := e.key.UnwrapSecret(out.Value)
	var jwk jose.JSONWebKey
	_ = jwk.UnmarshalJSON(plain)
	if bytes.Contains(k.Key, jwk.Key.([]byte)) {
		t.Fatal("the stored row contains the key material in the clear")
	}
}

func TestReleaseRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Create(ctx, "db", CreateRequest{ReleasePolicy: json.RawMessage(sgxPolicy)}); err != nil {
		t.Fatal(err)
	}
	e := newEnclave(t)
	stranger, _ := fake.NewTokenIssuer("https://evil.test", func() time.Time { return t0 })
	impostor, _ := fake.NewTokenIssuer(maatIss, func() time.Time { return t0 })
	oldSigned := func() string {
		c := e.claims(t)
		c["iat"], c["nbf"], c["exp"] = t0.Add(-9*time.Hour).Unix(), t0.Add(-9*time.Hour).Unix(), t0.Add(-time.Hour).Unix()
		return f.token(t, c)
	}
	mismatched := func() string {
		c := e.claims(t)
		other := newEnclave(t)
		var rt any
		_ = json.Unmarshal(other.runtime, &rt)
		c["x-ms-runtime"] = rt // another key, but the report data of e's
		return f.token(t, c)
	}
	mismatchedBinary := func() string {
		c := e.claims(t)
		delete(c, "x-ms-runtime")
		other := newEnclave(t)
		c["x-ms-sgx-ehd"] = base64.RawURLEncoding.EncodeToString(other.runtime)
		return f.token(t, c)
	}
	unsecured := func() string {
		parts := strings.Split(f.token(t, e.claims(t)), ".")
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	}
	debug := func() string { c := e.claims(t); c["x-ms-sgx-is-debuggable"] = true; return f.token(t, c) }
	lowSVN := func() string { c := e.claims(t); c["x-ms-sgx-svn"] = 1; return f.token(t, c) }
	noKey := func() string { c := e.claims(t); delete(c, "x-ms-runtime"); return f.token(t, c) }
	strangerTok, _ := stranger.Issue(e.claims(t))
	impostorTok, _ := impostor.Issue(e.claims(t))

	spaced := []byte(strings.ReplaceAll(string(e.runtime), ",", ", "))
	nonCanonical := func() string {
		c := e.claims(t)
		rd := azattest.ReportData(spaced)
		c["x-ms-sgx-report-data"] = hex.EncodeToString(rd[:])
		return f.token(t, c)
	}
	for _, tc := range []struct {
		name, token string
		runtime     []byte
		code        maaerr.Code
		msg         string
	}{
		{"policy: debuggable", debug(), nil, maaerr.Forbidden, "claim x-ms-sgx-is-debuggable is true, the policy requires equals false"},
		{"policy: svn", lowSVN(), nil, maaerr.Forbidden, "claim x-ms-sgx-svn is 1, the policy requires greaterOrEquals 2"},
		{"untrusted issuer", strangerTok.String(), nil, maaerr.Unauthorized, `issuer "https://evil.test" is not trusted`},
		{"trusted iss, foreign signature", impostorTok.String(), nil, maaerr.Unauthorized, "signature does not verify"},
		{"expired", oldSigned(), nil, maaerr.Unauthorized, "token expired"},
		{"alg none", unsecured(), nil, maaerr.Unauthorized, "unsecured token"},
		{"key not matching report data (JSON)", mismatched(), nil, maaerr.Forbidden, "not bound to the report data"},
		{"key not matching report data (binary)", mismatchedBinary(), nil, maaerr.Forbidden, "not bound to the report data"},
		{"non-canonical JSON without its bytes", nonCanonical(), nil, maaerr.Forbidden, "pass the exact bytes"},
		{"runtime data given is not what the token proves", f.token(t, e.claims(t)), spaced, maaerr.Forbidden, "not bound to the report data"},
		{"no attested key", noKey(), nil, maaerr.Forbidden, "no attested public key"},
		{"garbage", "not-a-token", nil, maaerr.Unauthorized, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: tc.token, RuntimeData: tc.runtime})
			if code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if _, err := f.svc.Release(ctx, "nope", ReleaseRequest{Target: f.token(t, e.claims(t))}); code(err) != maaerr.NotFound {
		t.Fatalf("unknown key: %v", err)
	}
}

// JSON runtime data that is not canonical is released when the TEE's exact
// bytes come with the request.
func TestReleaseNonCanonicalWithRuntimeData(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _ = f.svc.Create(ctx, "db", CreateRequest{ReleasePolicy: json.RawMessage(sgxPolicy)})
	e := newEnclave(t)
	spaced := []byte(strings.ReplaceAll(string(e.runtime), ",", ", "))
	c := e.claims(t)
	rd := azattest.ReportData(spaced)
	c["x-ms-sgx-report-data"] = hex.EncodeToString(rd[:])
	out, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: f.token(t, c), RuntimeData: spaced})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.key.UnwrapSecret(out.Value); err != nil {
		t.Fatal(err)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		req  CreateRequest
		code maaerr.Code
		msg  string
	}{
		{"bad name!", CreateRequest{ReleasePolicy: json.RawMessage(sgxPolicy)}, maaerr.InvalidParameter, "key name"},
		{"nopolicy", CreateRequest{}, maaerr.InvalidParameter, "release_policy"},
		{"badpolicy", CreateRequest{ReleasePolicy: json.RawMessage(`{"version":"9"}`)}, maaerr.InvalidParameter, "version"},
		{"badtype", CreateRequest{KeyType: "DES", ReleasePolicy: json.RawMessage(sgxPolicy)}, maaerr.InvalidParameter, "not supported"},
		{"shortoct", CreateRequest{Key: []byte{1, 2}, ReleasePolicy: json.RawMessage(sgxPolicy)}, maaerr.InvalidParameter, "32 bytes"},
		{"wrongimport", CreateRequest{KeyType: KeyTypeRSA2048, Key: mustPKCS8(t, ec), ReleasePolicy: json.RawMessage(sgxPolicy)}, maaerr.InvalidParameter, "EC-P256, but kty says RSA-2048"},
	} {
		if _, err := f.svc.Create(ctx, tc.name, tc.req); code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := f.svc.Create(ctx, "imported", CreateRequest{KeyType: KeyTypeECP256, Key: mustPKCS8(t, ec), ReleasePolicy: json.RawMessage(sgxPolicy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, "imported", CreateRequest{ReleasePolicy: json.RawMessage(sgxPolicy)}); code(err) != maaerr.Conflict {
		t.Fatalf("duplicate: %v", err)
	}
	list, err := f.svc.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "imported" || list[0].KeyType != KeyTypeECP256 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := f.svc.Delete(ctx, "imported"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, "imported"); code(err) != maaerr.NotFound {
		t.Fatalf("second delete: %v", err)
	}
}

func mustPKCS8(t *testing.T, k any) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type bearer string

func (b bearer) Authenticate(r *http.Request, write bool) error {
	if r.Header.Get("Authorization") != "Bearer "+string(b) {
		return maaerr.New(maaerr.Unauthorized, "bearer token required")
	}
	return nil
}

func TestHandler(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(&Handler{Service: f.svc, Auth: bearer("s3")})
	defer srv.Close()
	do := func(method, path, auth, body string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header
	}
	create := `{"kty":"oct-256","release_policy":` + sgxPolicy + `}`
	if st, _, h := do("PUT", "/x-maat/keys/db", "", create); st != 401 || h.Get("x-ms-error-code") != "Unauthorized" {
		t.Fatalf("create without bearer: %d", st)
	}
	if st, m, _ := do("PUT", "/x-maat/keys/db", "s3", create); st != 201 || m["name"] != "db" {
		t.Fatalf("create: %d %v", st, m)
	}
	if st, m, _ := do("GET", "/x-maat/keys", "s3", ""); st != 200 || len(m["keys"].([]any)) != 1 {
		t.Fatalf("list: %d %v", st, m)
	}
	if st, _, _ := do("GET", "/x-maat/keys", "", ""); st != 401 {
		t.Fatalf("list without bearer: %d", st)
	}
	if st, m, _ := do("PUT", "/x-maat/keys/db2", "s3", `{"release_policy":{},"release_policy":{}}`); st != 400 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "twice") {
		t.Fatalf("duplicate member: %d %v", st, m)
	}
	if st, _, _ := do("PATCH", "/x-maat/keys/db", "s3", ""); st != 405 {
		t.Fatalf("PATCH: %d", st)
	}
	e := newEnclave(t)
	body, _ := json.Marshal(map[string]string{"target": f.token(t, e.claims(t))})
	st, m, _ := do("POST", "/x-maat/keys/db/release", "", string(body))
	if st != 200 {
		t.Fatalf("release: %d %v", st, m)
	}
	if _, err := e.key.UnwrapSecret(m["value"].(string)); err != nil {
		t.Fatal(err)
	}
	c := e.claims(t)
	c["x-ms-sgx-svn"] = 0
	body, _ = json.Marshal(map[string]string{"target": f.token(t, c)})
	if st, m, h := do("POST", "/x-maat/keys/db/release", "", string(body)); st != 403 || h.Get("x-ms-error-code") != "Forbidden" ||
		!strings.Contains(m["error"].(map[string]any)["message"].(string), "x-ms-sgx-svn") {
		t.Fatalf("refused release: %d %v", st, m)
	}
	if st, _, _ := do("POST", "/x-maat/keys/db/release", "", `{}`); st != 400 {
		t.Fatalf("no target: %d", st)
	}
	if st, _, _ := do("GET", "/x-maat/keys/db/other", "s3", ""); st != 404 {
		t.Fatalf("unknown path: %d", st)
	}
	if st, _, _ := do("DELETE", "/x-maat/keys/db", "s3", ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
}

// A remote MAA-compatible issuer: tokens are checked by the SDK with the keys
// its /certs serves.
func TestRemoteIssuer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const remote = "https://sharedeus2.eus2.attest.azure.net"
	maa, _ := fake.NewTokenIssuer(remote, func() time.Time { return t0 })
	opts := &azattest.ClientOptions{}
	opts.Transport = fake.NewServerTransport(&fake.Server{GetSigners: maa.GetSigners})
	client, err := azattest.NewClient(remote, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Issuers = append(f.svc.Issuers, RemoteIssuer{Client: client})
	pol := strings.ReplaceAll(sgxPolicy, maatIss, remote)
	if _, err := f.svc.Create(ctx, "db", CreateRequest{ReleasePolicy: json.RawMessage(pol)}); err != nil {
		t.Fatal(err)
	}
	e := newEnclave(t)
	tok, _ := maa.Issue(e.claims(t))
	out, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: tok.String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.key.UnwrapSecret(out.Value); err != nil || out.Authority != remote {
		t.Fatalf("%+v %v", out, err)
	}
	// This instance's token is valid but the policy names only the remote
	// authority.
	if _, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: f.token(t, e.claims(t))}); code(err) != maaerr.Forbidden || !strings.Contains(err.Error(), "not an authority of the release policy") {
		t.Fatalf("local token for a remote-only policy: %v", err)
	}
	// A token claiming the remote issuer, signed by someone else.
	forger, _ := fake.NewTokenIssuer(remote, func() time.Time { return t0 })
	forged, _ := forger.Issue(e.claims(t))
	if _, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: forged.String()}); code(err) != maaerr.Unauthorized {
		t.Fatalf("forged remote token: %v", err)
	}
}

// An unreachable remote issuer is ServiceUnavailable, not a release.
func TestRemoteIssuerUnreachable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const remote = "https://unreachable.attest.test"
	opts := &azattest.ClientOptions{}
	opts.Transport = fake.NewServerTransport(&fake.Server{}) // no /certs handler
	client, _ := azattest.NewClient(remote, nil, opts)
	f.svc.Issuers = append(f.svc.Issuers, RemoteIssuer{Client: client})
	_, _ = f.svc.Create(ctx, "db", CreateRequest{ReleasePolicy: json.RawMessage(strings.ReplaceAll(sgxPolicy, maatIss, remote))})
	maa, _ := fake.NewTokenIssuer(remote, func() time.Time { return t0 })
	tok, _ := maa.Issue(newEnclave(t).claims(t))
	if _, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: tok.String()}); code(err) != maaerr.ServiceUnavailable {
		t.Fatalf("unreachable issuer: %v", err)
	}
}

// A sealed key copied into another key's row does not open there.
func TestSealedKeyBoundToItsName(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rk := f.store.(store.ReleaseKeys)
	for _, n := range []string{"a", "b"} {
		if _, err := f.svc.Create(ctx, n, CreateRequest{ReleasePolicy: json.RawMessage(sgxPolicy)}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := rk.GetReleaseKey(ctx, "default", "b")
	if err := rk.DeleteReleaseKey(ctx, "default", "a"); err != nil {
		t.Fatal(err)
	}
	b.Name = "a"
	if err := rk.CreateReleaseKey(ctx, b); err != nil {
		t.Fatal(err)
	}
	e := newEnclave(t)
	if _, err := f.svc.Release(ctx, "a", ReleaseRequest{Target: f.token(t, e.claims(t))}); code(err) != maaerr.Internal {
		t.Fatalf("b's sealed key released as a: %v", err)
	}
	if _, err := f.svc.Release(ctx, "b", ReleaseRequest{Target: f.token(t, e.claims(t))}); err != nil {
		t.Fatal(err)
	}
}
