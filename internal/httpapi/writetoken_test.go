package httpapi

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/maat-attest/maat/internal/jose"
)

// writeToken writes exactly what json.Marshal writes for {"token": tok}
// for compact JWS as jose produces them (signed and unsecured, claims with
// characters JSON escapes), which is what lets it skip escaping.
func TestWriteTokenIsJSONMarshal(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"x-ms-sgx-mrenclave": "ab", "odd": "<&>\"\\\u2028\x01é", "n": 1.5}
	signed, err := jose.Sign(jose.Header{Alg: jose.AlgRS256, KID: "k<1>", JKU: "https://x/certs"}, claims, k)
	if err != nil {
		t.Fatal(err)
	}
	unsecured, err := jose.Unsecured(jose.Header{Typ: "JWT"}, claims)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{signed, unsecured} {
		w := httptest.NewRecorder()
		if err := writeToken(w, tok); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(map[string]string{"token": tok})
		if got := w.Body.String(); got != string(want) {
			t.Fatalf("writeToken wrote %s, json.Marshal %s", got, want)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
	}
}
