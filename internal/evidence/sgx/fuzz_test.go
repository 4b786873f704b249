package sgx

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"testing"
)

func quoteSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, p := range []string{"dcapqvl/sgx_quote.bin", "oe2022/sgx_quote.bin", "qvltestpki/quote.dat"} {
		out = append(out, readFile(f, p))
	}
	for _, n := range []string{"intel_sdk_enclave.info.release.json", "oe_sdk_enclave.info.release.json"} {
		ei := loadEnclaveInfo(f, n)
		b, _ := hex.DecodeString(ei.QuoteHex)
		if bytes.HasPrefix(b, []byte{1, 0, 0, 0, 2, 0, 0, 0}) {
			b = b[16:]
		}
		out = append(out, b)
	}
	return out
}

func FuzzParseQuote(f *testing.F) {
	for _, s := range quoteSeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQuote(b)
		if err != nil {
			if q != nil {
				t.Fatal("quote returned with an error")
			}
			return
		}
		if q.Len()+q.TrailingBytes != len(b) || !bytes.Equal(q.Raw(), b) {
			t.Fatal("lengths inconsistent")
		}
		if n, err := QuoteLength(b); err != nil || n != q.Len() {
			t.Fatalf("QuoteLength %d %v, Len %d", n, err, q.Len())
		}
		if !bytes.Equal(q.SignedData(), b[:len(q.SignedData())]) {
			t.Fatal("signed data is not a prefix")
		}
	})
}

func FuzzParsePCKExtensions(f *testing.F) {
	for _, s := range quoteSeeds(f) {
		q, err := ParseQuote(s)
		if err != nil || q.CertDataType != CertTypePCKCertChain {
			continue
		}
		c, err := x509.ParseCertificate(mustChain(f, q)[0])
		if err != nil {
			continue
		}
		for _, e := range c.Extensions {
			if e.Id.Equal(OIDSGXExtension) {
				f.Add(e.Value)
			}
		}
	}
	sp := defaultSpec()
	sp.PCK.Platform = true
	f.Add(buildSGXExtension(f, sp.PCK))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ParsePCKExtensions(b)
		if (x == nil) == (err == nil) {
			t.Fatal("exactly one of result and error expected")
		}
	})
}
