package app

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
)

// TestManagementWithOIDC: a server configured with an OpenID Connect issuer
// (a real discovery + JWKS endpoint) authorizes management calls by the
// provider's bearer tokens and their roles.
func TestManagementWithOIDC(t *testing.T) {
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
	cfg.DevTime = ""
	cfg.DevBearerToken = ""
	cfg.OIDCIssuer, cfg.OIDCAudience = idp.URL, "https://attest.example/"
	r := start(t, cfg)
	base := "http://" + r.app.HTTPAddr()
	tok := func(roles ...string) string {
		s, err := jose.Sign(jose.Header{Alg: "RS256", KID: "idp1", Typ: "JWT"}, map[string]any{
			"iss": idp.URL, "aud": "https://attest.example/", "exp": time.Now().Add(time.Hour).Unix(), "roles": roles}, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	do := func(method, path, bearer string, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const get = "/policies/SgxEnclave?api-version=2022-08-01"
	const put = "/policies/SgxEnclave?api-version=2022-08-01"
	pol := unsignedPolicy("version=1.0; authorizationrules{ => permit(); }; issuancerules{};")
	for _, c := range []struct {
		method, path, bearer, body string
		want                       int
	}{
		{"GET", get, "", "", 401},
		{"GET", get, tok("Attestation Reader"), "", 200},
		{"PUT", put, tok("Attestation Reader"), pol, 401},
		{"PUT", put, tok("Attestation Contributor"), pol, 200},
		{"GET", get, "not-a-token", "", 401},
	} {
		if got := do(c.method, c.path, c.bearer, c.body); got != c.want {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.bearer, got, c.want)
		}
	}
}
