package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

func newValidator(t *testing.T, p *provider, refresh time.Duration) *OIDC {
	t.Helper()
	opts := DefaultOptions()
	opts.Issuer, opts.Audience = p.srv.URL, "api://maat"
	opts.RefreshInterval = refresh
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustRefuse(t *testing.T, o *OIDC, tok, why string) error {
	t.Helper()
	err := check(o, "PUT", tok)
	if err == nil {
		t.Fatalf("%s: accepted", why)
	}
	if !errors.Is(err, maaerr.ErrUnauthorized) {
		t.Fatalf("%s: %v is not Unauthorized", why, err)
	}
	return err
}

func TestIssuerMustBeHTTPS(t *testing.T) {
	for _, iss := range []string{"http://login.example.com/tenant", "http://10.1.2.3:8080", "http://[2001:db8::1]/", "ftp://idp.example", "idp.example"} {
		if _, err := New(Options{Issuer: iss, Audience: "a"}); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
	for _, iss := range []string{"https://login.example.com/tenant/v2.0", "http://127.0.0.1:5556/dex", "http://localhost:8080/realms/x", "http://[::1]:80"} {
		if _, err := New(Options{Issuer: iss, Audience: "a"}); err != nil {
			t.Errorf("issuer %q refused: %v", iss, err)
		}
	}
}

// TestJWKSURIMustBeHTTPS: a loopback provider whose discovery points the
// JWKS at a plain-HTTP host elsewhere, or whose JWKS redirects there, gives
// no keys.
func TestJWKSURIMustBeHTTPS(t *testing.T) {
	for _, name := range []string{"jwks_uri", "redirect"} {
		p := newProvider(t)
		mux := http.NewServeMux()
		mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			uri := "http://keys.example.com/keys"
			if name == "redirect" {
				uri = p.srv.URL + "/moved"
			}
			json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": uri})
		})
		mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://keys.example.com/keys", http.StatusFound)
		})
		p.srv.Config.Handler = mux
		reached := false
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host == "keys.example.com" {
				reached = true
				return nil, errors.New("test: no network")
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
		opts := DefaultOptions()
		opts.Issuer, opts.Audience, opts.Client = p.srv.URL, "api://maat", client
		o, _ := New(opts)
		err := mustRefuse(t, o, p.token(t, "k1", p.keys["k1"], nil), name)
		if reached {
			t.Errorf("%s: the plain-HTTP JWKS was fetched", name)
		}
		t.Logf("%s: %v", name, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestUnknownKIDOneRefresh: a token whose kid the JWKS does not list causes
// exactly one JWKS refresh and is refused (not tried against the other
// keys, although one of them signed it); more such tokens within the
// refresh interval cause none, and one after it causes one more.
func TestUnknownKIDOneRefresh(t *testing.T) {
	p := newProvider(t)
	clock := time.Now()
	opts := DefaultOptions()
	opts.Issuer, opts.Audience = p.srv.URL, "api://maat"
	opts.RefreshInterval = time.Minute
	opts.Now = func() time.Time { return clock }
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	k1 := p.keys["k1"]
	if err := check(o, "PUT", p.token(t, "k1", k1, nil)); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Minute)
	hits := p.jwksHits.Load()
	mustRefuse(t, o, p.token(t, "no-such-kid", k1, nil), "unknown kid signed by a listed key")
	if got := p.jwksHits.Load() - hits; got != 1 {
		t.Fatalf("unknown kid caused %d JWKS fetches, want exactly 1", got)
	}
	for range 5 {
		clock = clock.Add(5 * time.Second)
		mustRefuse(t, o, p.token(t, "other-unknown", k1, nil), "second unknown kid")
	}
	if got := p.jwksHits.Load() - hits; got != 1 {
		t.Fatalf("unknown kids within the refresh interval caused %d fetches in all, want 1", got)
	}
	if err := check(o, "PUT", p.token(t, "k1", k1, nil)); err != nil {
		t.Fatalf("known kid after the refusals: %v", err)
	}
	clock = clock.Add(time.Minute)
	mustRefuse(t, o, p.token(t, "third-unknown", k1, nil), "unknown kid after the interval")
	if got := p.jwksHits.Load() - hits; got != 2 {
		t.Fatalf("after the interval: %d fetches in all, want 2", got)
	}
}

// TestNoKID: a token without kid is verified only when the JWKS holds
// exactly one signing key.
func TestNoKID(t *testing.T) {
	p := newProvider(t) // one signing key (k1) and one encryption key
	o := newValidator(t, p, time.Hour)
	k1 := p.keys["k1"]
	if err := check(o, "PUT", p.token(t, "", k1, nil)); err != nil {
		t.Fatalf("no kid, one signing key: %v", err)
	}
	p2 := newProvider(t)
	p2.addKey("k2")
	o2 := newValidator(t, p2, time.Hour)
	err := mustRefuse(t, o2, p2.token(t, "", p2.keys["k1"], nil), "no kid, two signing keys")
	if !strings.Contains(err.Error(), "kid") {
		t.Fatalf("message %q does not say the kid is missing", err)
	}
}

// TestBearerAlgs: only the registered OIDC names pass; MAA's RSA256 alias
// (which jose.Verify accepts for policy JWSs) is refused on bearer tokens
// even with a valid RS256 signature.
func TestBearerAlgs(t *testing.T) {
	p := newProvider(t)
	o := newValidator(t, p, time.Hour)
	k1 := p.keys["k1"]
	claims := map[string]any{"iss": p.srv.URL, "aud": "api://maat", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"Attestation Contributor"}}
	for _, alg := range []string{"RSA256", "rs256", "HS256", "RS512"} {
		tok := signRS256As(t, alg, "k1", k1, claims)
		err := mustRefuse(t, o, tok, "alg "+alg)
		if !strings.Contains(err.Error(), "algorithm") {
			t.Errorf("alg %s: message %q does not name the algorithm", alg, err)
		}
	}
	if err := check(o, "PUT", signRS256As(t, "RS256", "k1", k1, claims)); err != nil {
		t.Fatalf("the same token as RS256: %v", err)
	}
	// The alias does verify as a JWS, so the refusal is the bearer rule's.
	j, _ := jose.Parse(signRS256As(t, "RSA256", "k1", k1, claims))
	if err := j.Verify(&k1.PublicKey); err != nil {
		t.Fatalf("setup: the RSA256 token does not verify as a JWS: %v", err)
	}
}

// signRS256As signs with RSASSA-PKCS1-v1_5 SHA-256 under a header naming
// alg, whatever it is.
func signRS256As(t *testing.T, alg, kid string, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	input := jose.B64.EncodeToString(h) + "." + jose.B64.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + jose.B64.EncodeToString(sig)
}

// TestKeyAlgRestriction: a JWK restricted to another algorithm is not used.
func TestKeyAlgRestriction(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk := func(alg string) map[string]any {
		m := jose.PublicJWK(&k.PublicKey)
		m["kid"], m["use"] = "k", "sig"
		if alg != "" {
			m["alg"] = alg
		}
		return m
	}
	for alg, ok := range map[string]bool{"": true, "RS256": true, "PS256": false} {
		b, _ := json.Marshal(map[string]any{"keys": []any{jwk(alg)}})
		set, err := parseJWKS(b)
		if err != nil {
			t.Fatal(err)
		}
		var srv *httptest.Server
		mux := http.NewServeMux()
		mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys"})
		})
		mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) { w.Write(b) })
		srv = httptest.NewServer(mux)
		o, _ := New(Options{Issuer: srv.URL, Audience: "a"})
		tok, _ := jose.Sign(jose.Header{Alg: "RS256", KID: "k"}, map[string]any{"iss": srv.URL, "aud": "a", "exp": time.Now().Add(time.Hour).Unix()}, k)
		_, err = o.Validate(t.Context(), tok)
		srv.Close()
		if ok != (err == nil) {
			t.Errorf("JWK alg %q: Validate = %v (set %d keys)", alg, err, len(set.all))
		}
	}
}
