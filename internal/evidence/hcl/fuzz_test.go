package hcl

import (
	"bytes"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, v := range vectors {
		f.Add(readTD(f, v.file))
	}
	f.Add(readB64(f, "ClientLibTests.TestExtractSnpReportAndRuntimeDataFromHclReport.hcl_report_base64.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		r, err := Parse(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			return
		}
		if len(r.HWReport) != HWReportSize || len(r.Claims) == 0 || ClaimsOffset+len(r.Claims) > len(b) {
			t.Fatalf("inconsistent report: hw %d claims %d of %d", len(r.HWReport), len(r.Claims), len(b))
		}
		_ = r.ReportData()
		_, _ = BoundHash(r.Claims, r.ReportData())
		if c, err := ParseRuntimeClaims(r.Claims); err == nil {
			if k, ok := c.Key(KidAkPub); ok {
				_, _ = k.RSAPublicKey()
			}
			_ = c.VMUniqueID()
		}
	})
}

func FuzzParseRuntimeClaims(f *testing.F) {
	for _, v := range vectors {
		r, err := Parse(readTD(f, v.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(r.Claims)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseRuntimeClaims(b)
		if err != nil {
			return
		}
		for _, k := range c.Keys {
			_, _ = k.RSAPublicKey()
		}
	})
}
