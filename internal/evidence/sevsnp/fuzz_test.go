package sevsnp

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/maaerr"
)

func FuzzParseReport(f *testing.F) {
	for _, p := range []string{"milan", "genoa", "turin"} {
		f.Add(readTD(f, "tav/"+p+"_attestation_report.bin"))
	}
	hcl := readTD(f, "trustee/hcl-report.bin")
	f.Add(hcl[32 : 32+ReportSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		r, err := ParseReport(b)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseReport modified its input")
		}
		if err != nil {
			return
		}
		if len(b) != ReportSize || r.Version < MinReportVersion || r.Version > MaxReportVersion {
			t.Fatalf("accepted a %d-byte v%d report", len(b), r.Version)
		}
		b[0] ^= 0xFF
		if r.Raw[0] == b[0] {
			t.Fatal("ParseReport did not copy its input")
		}
		_ = r.CPUIDProduct()
	})
}

func FuzzDecodeEvidence(f *testing.F) {
	raw, _ := s25Evidence(f)
	f.Add(raw)
	ex, _, _ := ex22(f)
	f.Add(ex)
	f.Add([]byte(`{"SnpReport":"AAAA","Endorsements":"eyJVdm0iOlsiMG9RIl19"}`))
	f.Add([]byte(`{"snpreport":"AA","SNPREPORT":"AA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvidence(b)
		if err != nil {
			return
		}
		if len(ev.Report) == 0 {
			t.Fatal("accepted an empty SnpReport")
		}
		if len(ev.UVM) > MaxUVMEndorsements {
			t.Fatal("too many endorsements")
		}
	})
}

func FuzzParseChain(f *testing.F) {
	f.Add(tavVector(f, "milan").chain)
	f.Add(readTD(f, "trustee/vcek.pem"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseChain(b)
		if err != nil || ch.Leaf == nil {
			return
		}
		_, _ = ParseLeafExtensions(ch.Leaf)
	})
}

// FuzzParseEndorsement: no real UVM endorsement is in the vectors, so the
// seeds are COSE_Sign1 messages of the test PKI shaped like Microsoft's.
func FuzzParseEndorsement(f *testing.F) {
	pki := newUVMPKI(f)
	r, _ := ParseReport(readTD(f, "tav/milan_attestation_report.bin"))
	f.Add(pki.sign(f, pki.did, "ContainerPlat-AMD-UVM", map[string]string{ClaimGuestSVN: "100", ClaimMeasurement: hex.EncodeToString(r.Measurement[:])}))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEndorsement(b)
		if err != nil {
			return
		}
		if len(e.Chain) == 0 || e.Issuer == "" || e.Claims == nil {
			t.Fatalf("accepted an endorsement without chain, issuer or claims: %+v", e)
		}
	})
}

// FuzzVerifyHCLReport: the SevSnpVm verifier on raw HCL reports (and
// anything starting with HCLA). It must never panic or modify its input,
// every failure is a *maaerr.Error, and whatever it accepts carries
// runtime claims bound to the verified REPORT_DATA.
func FuzzVerifyHCLReport(f *testing.F) {
	raw := readTD(f, "trustee/hcl-report.bin")
	f.Add(raw)
	f.Add(raw[:1300])
	f.Add([]byte("HCLA"))
	v := newTestVerifier(f, pinTrustee, func(o *Options) {
		o.AcceptHCLReport, o.Collateral = true, fixedVCEK(readTD(f, "trustee/vcek.pem"))
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		ver, err := v.Verify(context.Background(), b, nil)
		if !bytes.Equal(in, b) {
			t.Fatal("Verify modified its input")
		}
		if err != nil {
			var me *maaerr.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v is not a *maaerr.Error", err, err)
			}
			return
		}
		if !bytes.HasPrefix(b, []byte(hcl.Signature)) {
			return
		}
		hr, err := hcl.Parse(b)
		if err != nil || !bytes.Equal(ver.EvidenceRuntimeJSON, hr.Claims) || !hcl.ClaimsBound(hr.Claims, hr.HashType, hr.ReportData()) {
			t.Fatalf("accepted an HCL report whose claims are not bound: %v", err)
		}
	})
}
