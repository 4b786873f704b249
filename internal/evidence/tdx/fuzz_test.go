package tdx

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

func quoteSeeds(f *testing.F) {
	files, _ := fs.Glob(tdxvectors.MustFS("."), "*/quote*.bin")
	files = append(files, "qvltestpki/quote.dat")
	for _, p := range files {
		f.Add(readFile(f, strings.Split(p, "/")...))
	}
}

// FuzzParseQuote: the TD quote parser never panics, returns exactly one of
// a quote and an error, and a parsed quote is self-consistent.
func FuzzParseQuote(f *testing.F) {
	quoteSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseQuote(b)
		if (q == nil) == (err == nil) {
			t.Fatal("exactly one of quote and error expected")
		}
		if q == nil {
			return
		}
		if q.Len()+q.TrailingBytes != len(b) || len(q.SignedData()) > q.Len() {
			t.Fatalf("lengths: %d + %d != %d", q.Len(), q.TrailingBytes, len(b))
		}
		if _, err := ParseReport(q.BodyBytes); err != nil {
			t.Fatal(err)
		}
	})
}
