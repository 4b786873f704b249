package httpapi

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// seedBodies are request bodies as real clients send them (the C++ SDK's
// OE report and runtime data, PascalCase Newtonsoft, the confidential
// containers sidecar) and the duplicate-member forms.
func seedBodies(f *testing.F) {
	report := strings.TrimSpace(string(sgxvectors.MustRead("maa", "openenclave_report.b64url")))
	runtime := strings.TrimSpace(string(sgxvectors.MustRead("maa", "runtime_data.b64url")))
	for _, s := range []string{
		`{"report":"` + report + `","runtimeData":{"data":"` + runtime + `","dataType":"JSON"}}`,
		`{"Quote":"+//+","RuntimeData":{"Data":"+//+","DataType":"Binary"},"Nonce":"n1"}`,
		`{"report":"-__-","inittimeData":{"data":"-__-","dataType":"JSON"},"runtimeData":{"data":"-__-"},"nonce":12345}`,
		`{"report":"QUFB","runtimeData":{"data":"","dataType":""},"initTimeData":{"data":"","dataType":""}}`,
		`{"report":"QUFB","Report":"QkJC"}`,
		`{"quote":"QUFB","nonce":"a","NONCE":"b"}`,
		`{"quote":"QUFB","draftPolicyForAttestation":"version=1.0; authorizationrules{=>permit();};"}`,
		`{"quote":"QUFB","runtimeData":{"data":"QUFB","Data":"QkJC"}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeAttestRequest: never panics, answers only InvalidParameter, and
// decodes the same bytes the same way every time (one meaning per request).
func FuzzDecodeAttestRequest(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range []evidence.Type{evidence.SgxEnclave, evidence.OpenEnclave} {
			r1, err1 := decodeAttestRequest(typ, types[typ].member, body, DefaultMaxNonceBytes)
			r2, err2 := decodeAttestRequest(typ, types[typ].member, body, DefaultMaxNonceBytes)
			if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(r1, r2) {
				t.Fatalf("two decodings of one body differ: %v / %v", err1, err2)
			}
			if err1 != nil {
				if e := maaerr.As(err1); e.Code != maaerr.InvalidParameter || len(e.Message) > 1024 {
					t.Fatalf("error %v", err1)
				}
				continue
			}
			if len(r1.Evidence) == 0 || (r1.Nonce != nil && len(*r1.Nonce) > DefaultMaxNonceBytes) {
				t.Fatalf("decoded %+v", r1)
			}
			if r1.RuntimeData != nil && len(r1.RuntimeData.Bytes) == 0 {
				t.Fatal("empty runtime data is not absent")
			}
		}
	})
}

// FuzzManagementBodies: the policy and certificate body decoders never
// panic, are deterministic, and bound the JWS.
func FuzzManagementBodies(f *testing.F) {
	jws := "eyJhbGciOiJub25lIn0." + jose.B64.EncodeToString([]byte(`{"AttestationPolicy":"dmVyc2lvbj0xLjA7"}`)) + "."
	for _, s := range []string{jws, `"` + jws + `"`, `{"policyCertificateToAdd":"` + jws + `"}`, `{"policyCertificateToAdd":"a","PolicyCertificateToAdd":"b"}`, ` "\u0061.b.c" `, `{}`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a1, e1 := jwsFromBody(body)
		a2, e2 := jwsFromBody(body)
		if a1 != a2 || (e1 == nil) != (e2 == nil) {
			t.Fatal("jwsFromBody is not deterministic")
		}
		// Invalid UTF-8 in a JSON string becomes U+FFFD (3 bytes), so a JWS
		// can outgrow its body, but only so far.
		if e1 == nil && len(a1) > 3*len(body) {
			t.Fatal("JWS far longer than its body")
		}
		c1, e1 := certificateJWSFromBody(body, "policyCertificateToAdd")
		c2, e2 := certificateJWSFromBody(body, "policyCertificateToAdd")
		if c1 != c2 || (e1 == nil) != (e2 == nil) {
			t.Fatal("certificateJWSFromBody is not deterministic")
		}
		if e1 != nil && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			if code := maaerr.As(e1).Code; code != maaerr.InvalidParameter && code != maaerr.InvalidOperation {
				t.Fatalf("code %s", code)
			}
		}
	})
}

// FuzzDecoderMatchesOld: differential against the decoder the one-pass
// decoder replaced. Where the old one accepted a body without duplicate or
// case-variant members, the new one gives the same request; it refuses
// only duplicates (which the old one resolved by random map order), an
// oversized nonce and nothing else; empty data is absent by decision D2.
func FuzzDecoderMatchesOld(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range []evidence.Type{evidence.SgxEnclave, evidence.OpenEnclave} {
			oldReq, oldErr := oldDecodeAttestRequest(typ, body)
			newReq, newErr := decodeAttestRequest(typ, types[typ].member, body, 1<<30)
			if oldErr != nil {
				continue // the new decoder may accept less or as much; never more is checked below
			}
			if newErr != nil {
				msg := maaerr.As(newErr).Message
				if strings.Contains(msg, "ambiguous") {
					continue // a member given twice (any depth): refused on purpose
				}
				t.Fatalf("old decoder accepted %q, new refuses: %v", body, newErr)
			}
			// D2: empty runtime/init-time data is absent in the new decoder.
			if oldReq.RuntimeData != nil && len(oldReq.RuntimeData.Bytes) == 0 {
				oldReq.RuntimeData = nil
			}
			if oldReq.InitTimeData != nil && len(oldReq.InitTimeData.Bytes) == 0 {
				oldReq.InitTimeData = nil
			}
			if !reflect.DeepEqual(oldReq, newReq) {
				t.Fatalf("body %q:\n old %+v\n new %+v", body, oldReq, newReq)
			}
		}
	})
}
