package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
)

func TestJWKRoundTrip(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, pub := range []any{&rsaKey.PublicKey, &ec.PublicKey} {
		b, _ := json.Marshal(PublicJWK(pub))
		got, err := PublicKeyFromJWK(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Fatalf("round trip changed the key: %s", b)
		}
	}
	for name, raw := range map[string]string{
		"private member": `{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}`,
		"small RSA":      `{"kty":"RSA","n":"AQAB","e":"AQAB"}`,
		"off curve":      `{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}`,
		"unknown kty":    `{"kty":"oct","k":"AQAB"}`,
		"unknown curve":  `{"kty":"EC","crv":"secp256k1","x":"AQ","y":"AQ"}`,
		"not JSON":       `{`,
		"empty":          ``,
	} {
		if _, err := PublicKeyFromJWK([]byte(raw)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if PublicJWK("not a key") != nil {
		t.Error("PublicJWK of a non-key")
	}
}
