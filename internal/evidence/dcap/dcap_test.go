package dcap

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// The PCK chain as PEM and as concatenated DER (Intel's QVL TDX sample
// carries DER, root first) decodes to the same certificates.
func TestDecodeChain(t *testing.T) {
	q, err := ParseQuote(tdxvectors.MustRead("azure_dcesv5", "quote.bin"), TEETypeTDX)
	if err != nil {
		t.Fatal(err)
	}
	pems, err := DecodeChain(q.CertData)
	if err != nil || len(pems) != 3 {
		t.Fatalf("PEM: %d %v", len(pems), err)
	}
	der := bytes.Join(pems, nil)
	ders, err := DecodeChain(append(der, 0, 0))
	if err != nil || len(ders) != 3 || !bytes.Equal(ders[2], pems[2]) {
		t.Fatalf("DER: %d %v", len(ders), err)
	}
	for _, d := range ders {
		if _, err := x509.ParseCertificate(d); err != nil {
			t.Error(err)
		}
	}
	for i := 1; i < len(der); i += 97 {
		if _, err := DecodeChain(der[:i]); !errors.Is(err, ErrMalformedQuote) {
			t.Fatalf("DER truncated at %d: %v", i, err)
		}
	}
	six := bytes.Repeat(append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pems[0]}), '\n'), 6)
	if _, err := DecodeChain(six); !errors.Is(err, ErrMalformedQuote) {
		t.Errorf("6 certificates: %v", err)
	}
	// The QVL sample quote (test root) parses with its DER chain.
	qq, err := ParseQuote(tdxvectors.MustRead("qvltestpki", "quote.dat"), TEETypeTDX)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := qq.PCKChain(); err != nil || len(c) != 3 {
		t.Errorf("QVL sample chain: %v", err)
	}
}

func TestMergeStatus(t *testing.T) {
	for _, c := range [][3]TCBStatus{
		{"UpToDate", "UpToDate", "UpToDate"},
		{"SWHardeningNeeded", "OutOfDate", "OutOfDate"},
		{"ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"},
		{"OutOfDateConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"},
		{"UpToDate", "Revoked", "Revoked"},
		{"Revoked", "UpToDate", "Revoked"},
	} {
		if got := MergeStatus(c[0], c[1]); got != c[2] {
			t.Errorf("%s ⊕ %s = %s, want %s", c[0], c[1], got, c[2])
		}
	}
}

func FuzzDecodeChain(f *testing.F) {
	q, _ := ParseQuote(tdxvectors.MustRead("azure_dcesv5", "quote.bin"), TEETypeTDX)
	f.Add(q.CertData)
	qq, _ := ParseQuote(tdxvectors.MustRead("qvltestpki", "quote.dat"), TEETypeTDX)
	f.Add(qq.CertData)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChain(b)
		if (c == nil) == (err == nil) || len(c) > MaxPCKChainCerts {
			t.Fatal("bad result")
		}
	})
}
