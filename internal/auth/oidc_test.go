package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

// provider is a real (test) OpenID Connect provider: discovery and JWKS over
// HTTP, keys it can rotate.
type provider struct {
	srv      *httptest.Server
	keys     map[string]*rsa.PrivateKey
	jwksHits atomic.Int32
}

func newProvider(t *testing.T) *provider {
	p := &provider{keys: map[string]*rsa.PrivateKey{}}
	p.addKey("k1")
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		var keys []map[string]string
		for kid, k := range p.keys {
			keys = append(keys, map[string]string{"kty": "RSA", "use": "sig", "kid": kid,
				"n": jose.B64.EncodeToString(k.N.Bytes()), "e": jose.B64.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		keys = append(keys, map[string]string{"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"})
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) addKey(kid string) *rsa.PrivateKey {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	p.keys[kid] = k
	return k
}

func (p *provider) token(t *testing.T, kid string, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	base := map[string]any{"iss": p.srv.URL, "aud": "api://maat", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(-time.Minute).Unix(), "roles": []string{"Attestation Contributor"}}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	tok, err := jose.Sign(jose.Header{Alg: jose.AlgRS256, KID: kid, Typ: "JWT"}, base, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func check(o *OIDC, method, tok string) error {
	r := httptest.NewRequest(method, "/policies/SgxEnclave", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return o.Authenticate(r, method != http.MethodGet)
}

func TestOIDC(t *testing.T) {
	p := newProvider(t)
	opts := DefaultOptions()
	opts.Issuer, opts.Audience = p.srv.URL, "api://maat"
	opts.RefreshInterval = time.Millisecond
	o, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	k1 := p.keys["k1"]
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	none, _ := jose.Unsecured(jose.Header{}, map[string]any{"iss": p.srv.URL, "aud": "api://maat", "exp": time.Now().Add(time.Hour).Unix()})
	cases := []struct {
		name, method, tok string
		ok                bool
	}{
		{"contributor may set", "PUT", p.token(t, "k1", k1, nil), true},
		{"reader may get", "GET", p.token(t, "k1", k1, map[string]any{"roles": "Attestation Reader"}), true},
		{"reader may not set", "PUT", p.token(t, "k1", k1, map[string]any{"roles": []string{"Attestation Reader"}}), false},
		{"no role", "GET", p.token(t, "k1", k1, map[string]any{"roles": nil}), false},
		{"audience list", "PUT", p.token(t, "k1", k1, map[string]any{"aud": []string{"x", "api://maat"}}), true},
		{"wrong audience", "PUT", p.token(t, "k1", k1, map[string]any{"aud": "api://other"}), false},
		{"wrong issuer", "PUT", p.token(t, "k1", k1, map[string]any{"iss": "https://evil.example"}), false},
		{"expired", "PUT", p.token(t, "k1", k1, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), false},
		{"no expiry", "PUT", p.token(t, "k1", k1, map[string]any{"exp": nil}), false},
		{"not yet valid", "PUT", p.token(t, "k1", k1, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), false},
		{"signed by a stranger with a known kid", "PUT", p.token(t, "k1", other, nil), false},
		{"alg none", "PUT", none, false},
		{"garbage", "PUT", "abc.def", false},
		{"missing", "PUT", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := check(o, tc.method, tc.tok)
			if tc.ok != (err == nil) {
				t.Fatalf("Authenticate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, maaerr.ErrUnauthorized) {
				t.Fatalf("error %v is not Unauthorized", err)
			}
			if err != nil && strings.Contains(err.Error(), tc.tok) && tc.tok != "" {
				t.Fatal("error message leaks the token")
			}
		})
	}
	// Key rotation at the provider: a token with a new kid triggers one
	// refresh and passes.
	hits := p.jwksHits.Load()
	k2 := p.addKey("k2")
	time.Sleep(2 * time.Millisecond)
	if err := check(o, "PUT", p.token(t, "k2", k2, nil)); err != nil {
		t.Fatalf("token from a rotated key: %v", err)
	}
	if p.jwksHits.Load() != hits+1 {
		t.Fatalf("JWKS fetched %d times for one unknown kid", p.jwksHits.Load()-hits)
	}
}

func TestOIDCProviderDown(t *testing.T) {
	o, _ := New(Options{Issuer: "http://127.0.0.1:1", Audience: "a", Client: &http.Client{Timeout: time.Second}})
	if err := check(o, "GET", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"); !errors.Is(err, maaerr.ErrUnauthorized) {
		t.Fatalf("provider down: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("empty options accepted")
	}
}
