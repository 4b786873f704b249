package attestation

import (
	"reflect"
	"testing"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

// FuzzPayloads: the management payload decoders (policy text, certificate,
// reset payload, iat) never panic and are deterministic; a refusal is
// MAA's InvalidOperation or InvalidParameter.
func FuzzPayloads(f *testing.F) {
	for _, s := range []string{
		`{"AttestationPolicy":"` + jose.B64.EncodeToString([]byte("version=1.0; authorizationrules{=>permit();};")) + `"}`,
		`{"AttestationPolicy":"version=1.0;","attestationPolicy":"x"}`,
		`{"policyCertificate":{"kty":"RSA","x5c":["MIIB"]}}`,
		`{"policyCertificate":{"x5c":["a"],"X5C":["b"]}}`,
		`{"policyCertificate":{},"maa-policyCertificate":{}}`,
		`{"iat":1700000000}`, `null`, `{}`, `{"iat":-1}`, `{"iat":1e99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		t1, e1 := policyText(p)
		t2, e2 := policyText(p)
		if t1 != t2 || (e1 == nil) != (e2 == nil) {
			t.Fatal("policyText is not deterministic")
		}
		if e1 != nil {
			if c := maaerr.As(e1).Code; c != maaerr.InvalidOperation && c != maaerr.InvalidParameter {
				t.Fatalf("policyText code %s", c)
			}
		}
		c1, e1 := certificateFromPayload(p)
		c2, e2 := certificateFromPayload(p)
		if (e1 == nil) != (e2 == nil) || (c1 != nil && !c1.Equal(c2)) {
			t.Fatal("certificateFromPayload is not deterministic")
		}
		if emptyResetPayload(p) != emptyResetPayload(p) || !payloadIAT(p).Equal(payloadIAT(p)) {
			t.Fatal("reset payload checks are not deterministic")
		}
	})
}

// FuzzJSONRuntimeData: JSON runtime data becomes claims through one
// duplicate-refusing decoder, deterministically.
func FuzzJSONRuntimeData(f *testing.F) {
	for _, s := range []string{`{"jwk":{"kty":"RSA","n":"x","e":"AQAB"}}`, `{"a":1,"a":2}`, `[1,2]`, "{\"k\":\"v\"}\x00", `{"n":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ver := &evidence.Verified{AttestationType: "x", RuntimeData: &evidence.Binding{Field: "f", Value: sum(doc)}}
		c1, e1 := IncomingClaims(ver, &Data{Bytes: doc, JSON: true}, nil)
		c2, e2 := IncomingClaims(ver, &Data{Bytes: doc, JSON: true}, nil)
		if (e1 == nil) != (e2 == nil) || !reflect.DeepEqual(c1, c2) {
			t.Fatal("JSON runtime data decodes two ways")
		}
		if e1 != nil && maaerr.As(e1).Code != maaerr.InvalidParameter {
			t.Fatalf("code %s", maaerr.As(e1).Code)
		}
	})
}
