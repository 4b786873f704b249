package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/maat-attest/maat/internal/jose"
)

func readSeed(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// usableJWKS is a real MAA JWKS key made usable for verification (its
// key_ops removed), plus generated RSA and EC keys, one kid listed twice
// and an encryption key: the shapes parseJWKS must sort out.
func usableJWKS(tb testing.TB) []byte {
	tb.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(readSeed(tb, "sevsnp-runtime-data.jwks.json"), &doc); err != nil {
		tb.Fatal(err)
	}
	real := doc.Keys[0]
	delete(real, "key_ops")
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rj, ej := jwkOf(&rk.PublicKey, "dup", "sig"), jwkOf(&ek.PublicKey, "dup", "")
	enc := jwkOf(&rk.PublicKey, "enc", "enc")
	b, _ := json.Marshal(map[string]any{"keys": []any{real, rj, ej, enc}})
	return b
}

func jwkOf(pub any, kid, use string) map[string]any {
	var m map[string]any
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m = map[string]any{"kty": "RSA", "n": jose.B64.EncodeToString(k.N.Bytes()), "e": "AQAB"}
	case *ecdsa.PublicKey:
		m = map[string]any{"kty": "EC", "crv": "P-256", "x": jose.B64.EncodeToString(k.X.FillBytes(make([]byte, 32))), "y": jose.B64.EncodeToString(k.Y.FillBytes(make([]byte, 32)))}
	}
	m["kid"] = kid
	if use != "" {
		m["use"] = use
	}
	return m
}

// TestRealDocuments pins what the seeds parse to, so the fuzz corpus is
// known to reach the interesting paths.
func TestRealDocuments(t *testing.T) {
	if _, err := parseJWKS(readSeed(t, "maa-certs.jwks.json")); err == nil {
		t.Error("MAA's x5c-only JWKS gave usable keys")
	}
	if _, err := parseJWKS(readSeed(t, "sevsnp-runtime-data.jwks.json")); err == nil {
		t.Error("an encrypt-only key was taken for verification")
	}
	set, err := parseJWKS(usableJWKS(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.all) != 3 || len(set.byKID["dup"]) != 2 || len(set.byKID["HCLTransferKey"]) != 1 || set.byKID["enc"] != nil {
		t.Fatalf("parsed %d keys, by kid %v", len(set.all), set.byKID)
	}
	iss, jwks, err := parseDiscovery(readSeed(t, "maa-openid-configuration.json"))
	if err != nil || iss != "https://REDACTED.wus.attest.azure.net" || jwks != iss+"/certs" {
		t.Fatalf("discovery: %q %q %v", iss, jwks, err)
	}
	for name, exp := range map[string]string{"maa-sevsnp-token.claims.json": "1663825651", "cvm-sample-token.claims.json": "1653021894"} {
		c, err := parseClaims(readSeed(t, name))
		if err != nil || c["exp"] != json.Number(exp) {
			t.Errorf("%s: exp %v, %v", name, c["exp"], err)
		}
	}
	for _, bad := range []string{`{"a":1} {"b":2}`, `[1]`, `null`, `"x"`, `{"a":1`, ``} {
		if _, err := parseClaims([]byte(bad)); err == nil {
			t.Errorf("claims %q accepted", bad)
		}
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("JWKS %q accepted", bad)
		}
	}
}

// keyFingerprint renders a parsed set comparably (kid, alg, key) in order.
func keyFingerprint(s *keySet) []string {
	var out []string
	for _, k := range s.all {
		b, _ := json.Marshal(k.pub)
		out = append(out, k.kid+"|"+k.alg+"|"+string(b))
	}
	return out
}

// FuzzParseJWKS: never panics, and the same bytes always give the same
// keys in the same order (determinism), with byKID consistent with all.
func FuzzParseJWKS(f *testing.F) {
	f.Add(readSeed(f, "maa-certs.jwks.json"))
	f.Add(readSeed(f, "sevsnp-runtime-data.jwks.json"))
	f.Add(usableJWKS(f))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"","y":""}],"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","Kid":"b","use":"sig","key_ops":["verify"],"n":"AQAB","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		s1, err1 := parseJWKS(b)
		s2, err2 := parseJWKS(b)
		if !bytes.Equal(in, b) {
			t.Fatal("parseJWKS modified its input")
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("nondeterministic: %v vs %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if !reflect.DeepEqual(keyFingerprint(s1), keyFingerprint(s2)) {
			t.Fatal("the same JWKS parsed to different keys")
		}
		n := 0
		for kid, ks := range s1.byKID {
			for _, k := range ks {
				if k.kid != kid || k.pub == nil {
					t.Fatalf("byKID[%q] holds %+v", kid, k)
				}
			}
			n += len(ks)
		}
		if len(s1.all) == 0 || len(s1.all) > maxJWKSKeys || n > len(s1.all) {
			t.Fatalf("%d keys, %d by kid", len(s1.all), n)
		}
	})
}

// FuzzParseClaims: never panics; deterministic; a success is one JSON
// object whose re-encoding parses to the same claims.
func FuzzParseClaims(f *testing.F) {
	f.Add(readSeed(f, "maa-sevsnp-token.claims.json"))
	f.Add(readSeed(f, "cvm-sample-token.claims.json"))
	f.Add([]byte(`{"iss":"a","iss":"b","exp":1e400,"nbf":-1,"aud":["x",1,null]}`))
	f.Add([]byte(`{"exp":1} trailing`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c1, err1 := parseClaims(b)
		c2, err2 := parseClaims(b)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("nondeterministic: %v / %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		re, err := json.Marshal(c1)
		if err != nil {
			t.Fatalf("claims do not re-encode: %v", err)
		}
		c3, err := parseClaims(re)
		if err != nil || !reflect.DeepEqual(c1, c3) {
			t.Fatalf("re-encoded claims differ: %v", err)
		}
		_, _ = numericDate(c1["exp"]) // must not panic on any number
		_ = stringsOf(c1["aud"])
	})
}

// FuzzParseDiscovery: never panics; deterministic; a success names both
// members.
func FuzzParseDiscovery(f *testing.F) {
	f.Add(readSeed(f, "maa-openid-configuration.json"))
	f.Add([]byte(`{"issuer":"https://a","jwks_uri":"http://b","issuer":"https://c"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		i1, j1, err1 := parseDiscovery(b)
		i2, j2, err2 := parseDiscovery(b)
		if i1 != i2 || j1 != j2 || (err1 == nil) != (err2 == nil) {
			t.Fatal("nondeterministic")
		}
		if err1 == nil && (i1 == "" || j1 == "") {
			t.Fatal("success without issuer or jwks_uri")
		}
		if err1 == nil {
			_ = checkProviderURL(j1)
		}
	})
}
