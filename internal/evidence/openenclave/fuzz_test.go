package openenclave

import (
	"bytes"
	"testing"
)

func FuzzParseReport(f *testing.F) {
	f.Add(b64url(f, "openenclave_report.b64url"))
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReport(b)
		if err != nil {
			return
		}
		if uint64(len(r.Quote)) != r.Header.ReportSize || !bytes.Equal(r.Raw(), b) {
			t.Fatal("inconsistent report")
		}
	})
}

func FuzzParseEvidence(f *testing.F) {
	q := read(f, "oe2022", "sgx_quote.bin")
	f.Add(makeEvidence(FormatSGXECDSA, q))
	f.Add(makeEvidence(FormatSGXECDSA, append(bytes.Clone(q), makeClaims(Claim{"a", []byte("b")})...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvidence(b)
		if err != nil {
			return
		}
		if len(e.Quote)+len(e.CustomClaimsBuffer)+AttestationHeaderSize != len(b) {
			t.Fatal("inconsistent evidence")
		}
	})
}

func FuzzParseCustomClaims(f *testing.F) {
	f.Add(makeClaims())
	f.Add(makeClaims(Claim{"n1", []byte{1, 2}}, Claim{"name2", nil}))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseCustomClaims(b)
		if err != nil {
			return
		}
		if !bytes.Equal(makeClaims(cs...), b) {
			t.Fatal("custom claims do not round-trip")
		}
	})
}
