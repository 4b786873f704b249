package sgx

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

// TestMutation flips each byte of the real dcap-qvl quote (XOR 0xFF, so PEM
// text always becomes invalid base64 rather than hitting ignored padding
// bits) and checks that verification fails with an error specific to the
// region hit.
func TestMutation(t *testing.T) {
	q := readFile(t, "dcapqvl/sgx_quote.bin")
	v := newTestVerifier(t, "2025-07-01T00:00:00Z")
	b := bundleFromDir(t, "dcapqvl", "00A067110000")
	if _, err := v.Verify(context.Background(), q, WithCollateral(b)); err != nil {
		t.Fatal(err)
	}
	pq, _ := ParseQuote(q)
	auth := len(pq.QEAuthData) // 32
	certStart := 436 + 64 + 64 + 384 + 64 + 2 + auth + 2 + 4
	type region struct {
		name       string
		start, end int
		want       []error
	}
	regions := []region{
		{"version", 0, 2, []error{ErrUnsupportedQuote}},
		{"key type", 2, 4, []error{ErrUnsupportedQuote}},
		{"tee type", 4, 8, []error{ErrUnsupportedQuote}},
		{"qe/pce svn", 8, 12, []error{ErrQuoteSignature}},
		{"vendor id", 12, 28, []error{ErrMalformedQuote}},
		{"user data", 28, 48, []error{ErrQuoteSignature}},
		{"body", 48, 432, []error{ErrQuoteSignature}},
		{"sig data length", 432, 436, []error{ErrMalformedQuote}},
		{"quote signature", 436, 500, []error{ErrQuoteSignature}},
		{"attestation key", 500, 564, []error{ErrQEReportData}},
		{"QE report", 564, 948, []error{ErrQEReportSignature}},
		{"QE report signature", 948, 1012, []error{ErrQEReportSignature}},
		{"QE auth data size", 1012, 1014, []error{ErrMalformedQuote}},
		{"QE auth data", 1014, 1014 + auth, []error{ErrQEReportData}},
		{"cert data type", 1014 + auth, 1016 + auth, []error{ErrUnsupportedCertType}},
		{"cert data size", 1016 + auth, certStart, []error{ErrMalformedQuote}},
		{"cert data", certStart, len(q), []error{ErrMalformedQuote}},
	}
	for _, r := range regions {
		for i := r.start; i < r.end; i++ {
			m := bytes.Clone(q)
			m[i] ^= 0xff
			res, err := v.Verify(context.Background(), m, WithCollateral(b))
			if err == nil || res != nil {
				t.Fatalf("%s: mutation at %d accepted", r.name, i)
			}
			ok := false
			for _, w := range r.want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("%s: mutation at %d: %v, want %v", r.name, i, err, r.want)
			}
			var de *maaerr.Error
			if !errors.As(err, &de) {
				t.Fatalf("%s: not a domain error: %v", r.name, err)
			}
		}
	}
}

// TestTruncation parses and verifies every prefix of real quotes: each is
// rejected as malformed, without panicking.
func TestTruncation(t *testing.T) {
	v := newTestVerifier(t, "2025-07-01T00:00:00Z")
	b := bundleFromDir(t, "dcapqvl", "00A067110000")
	for _, f := range []string{"dcapqvl/sgx_quote.bin", "oe2022/sgx_quote.bin", "qvltestpki/quote.dat"} {
		q := readFile(t, f)
		for i := 0; i < len(q); i++ {
			_, err := v.Verify(context.Background(), q[:i], WithCollateral(b))
			if !errors.Is(err, ErrMalformedQuote) || !errors.Is(err, &maaerr.Error{Code: maaerr.InvalidParameter}) {
				t.Fatalf("%s truncated to %d: %v", f, i, err)
			}
		}
	}
}

func TestParseQuoteFields(t *testing.T) {
	q, err := ParseQuote(readFile(t, "dcapqvl/sgx_quote.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if q.Header.Version != 3 || q.Header.QESVN != 10 || q.Header.PCESVN != 15 || q.CertDataType != 5 || len(mustChain(t, q)) != 3 || q.TrailingBytes != 0 {
		t.Errorf("header %+v cert type %d chain %d", q.Header, q.CertDataType, len(mustChain(t, q)))
	}
	if q.QEReport.ISVSVN != 10 || q.QEReport.ISVProdID != 1 || string(q.Body.ReportData[:13]) != "Hello, world!" {
		t.Errorf("QE isvsvn %d body report data %q", q.QEReport.ISVSVN, q.Body.ReportData[:13])
	}
	// The input is copied.
	in := readFile(t, "dcapqvl/sgx_quote.bin")
	q2, _ := ParseQuote(in)
	in[100] ^= 1
	if q2.Raw()[100] == in[100] {
		t.Error("ParseQuote aliases its input")
	}
	// Trailing bytes are tolerated and counted.
	q3, err := ParseQuote(append(readFile(t, "dcapqvl/sgx_quote.bin"), 0, 0, 0))
	if err != nil || q3.TrailingBytes != 3 {
		t.Errorf("trailing: %v", err)
	}
	if _, err := ParseQuote(make([]byte, MaxQuoteSize+1)); !errors.Is(err, ErrMalformedQuote) {
		t.Errorf("oversize: %v", err)
	}
}
