package sevsnp

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// fixedVCEK is a collateral source with one VCEK and no CRL.
type fixedVCEK []byte

func (f fixedVCEK) VCEK(context.Context, CertQuery) ([]byte, error) { return f, nil }
func (fixedVCEK) CRL(context.Context, Product, SigningKey) ([]byte, error) {
	return nil, errors.New("no CRL here")
}

func wantCode(t *testing.T, err error, sentinel error, code maaerr.Code, msg string) {
	t.Helper()
	var me *maaerr.Error
	if !errors.Is(err, sentinel) || !errors.As(err, &me) || me.Code != code || !strings.Contains(me.Message, msg) {
		t.Fatalf("err = %v, want %v (%s) containing %q", err, sentinel, code, msg)
	}
}

// Contract §3.1 variant (b): the SevSnpVm "report" may be the raw HCL
// report the Azure paravisor writes, behind sevsnp-accept-hcl-report. Its
// SNP report is verified with a VCEK from the collateral source and its
// runtime claims, bound to REPORT_DATA by the header's hash, become the
// evidence's runtime data.
func TestRawHCLReport(t *testing.T) {
	raw := readTD(t, "trustee/hcl-report.bin")
	hr, err := hcl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	on := func(o *Options) { o.AcceptHCLReport, o.Collateral = true, fixedVCEK(readTD(t, "trustee/vcek.pem")) }

	// Off (the default): refused, naming the switch.
	_, err = newTestVerifier(t, pinTrustee, nil).Verify(context.Background(), raw, nil)
	wantCode(t, err, ErrMalformedRequest, maaerr.InvalidParameter, "sevsnp-accept-hcl-report")

	v := newTestVerifier(t, pinTrustee, on)
	ver, err := v.Verify(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ver.EvidenceRuntimeJSON, hr.Claims) || ver.Claims["x-ms-sevsnpvm-vmpl"] != 0 || ver.Claims["x-ms-sevsnpvm-microcode-svn"] != 115 {
		t.Fatalf("runtime %q, claims %v", ver.EvidenceRuntimeJSON[:40], ver.Claims)
	}
	if !bytes.Equal(ver.RuntimeData.Value, hr.ReportData()[:32]) {
		t.Fatal("client runtime data would not bind to REPORT_DATA[0:32]")
	}
	// The JSON form of the same SNP report gives the same claims.
	snp, _ := hr.SNPReport()
	viaJSON, err := v.Verify(context.Background(), evidenceJSON(snp, readTD(t, "trustee/vcek.pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ver.Claims[ClaimVCEKSource] != "collateral" || viaJSON.Claims[ClaimVCEKSource] != "evidence" {
		t.Errorf("VCEK source: %v from the HCL report, %v from the JSON request", ver.Claims[ClaimVCEKSource], viaJSON.Claims[ClaimVCEKSource])
	}
	for k, c := range viaJSON.Claims {
		if ver.Claims[k] != c && k != ClaimVCEKSource {
			t.Errorf("%s: %v from the HCL report, %v from the JSON request", k, ver.Claims[k], c)
		}
	}
	if viaJSON.EvidenceRuntimeJSON != nil {
		t.Error("the JSON request carries evidence runtime data")
	}

	// The runtime claims are not signed by the SNP report, only bound by
	// their hash: one changed byte is refused.
	tampered := bytes.Clone(raw)
	tampered[hcl.ClaimsOffset+10] ^= 1
	_, err = v.Verify(context.Background(), tampered, nil)
	wantCode(t, err, ErrHCLBinding, maaerr.InvalidQuote, "REPORT_DATA")
	// So is a changed SNP report.
	tampered = bytes.Clone(raw)
	tampered[hcl.HWReportOffset+0x60] ^= 1
	if _, err := v.Verify(context.Background(), tampered, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered SNP report: %v", err)
	}
	// No VCEK source: the HCL report carries no chain.
	_, err = newTestVerifier(t, pinTrustee, func(o *Options) { o.AcceptHCLReport = true }).Verify(context.Background(), raw, nil)
	wantCode(t, err, ErrNoVCEK, maaerr.InvalidParameter, "")
	// A TDX HCL report and a truncated one are malformed SevSnpVm reports.
	_, err = v.Verify(context.Background(), tdxvectors.MustRead("azure_dcesv5", "hcl-report.bin"), nil)
	wantCode(t, err, ErrMalformedRequest, maaerr.InvalidParameter, "/attest/TdxVm")
	_, err = v.Verify(context.Background(), raw[:600], nil)
	wantCode(t, err, ErrMalformedRequest, maaerr.InvalidParameter, "HCL")
}

// Only the paravisor's SNP report (VMPL 0) vouches for the HCL runtime
// claims: the same report re-signed at VMPL 1 by a test VCEK is refused,
// at VMPL 0 accepted.
func TestRawHCLReportVMPL(t *testing.T) {
	raw := readTD(t, "trustee/hcl-report.bin")
	p := getTestPKI(t)
	for _, vmpl := range []byte{0, 1} {
		r := bytes.Clone(raw[hcl.HWReportOffset : hcl.HWReportOffset+ReportSize])
		r[0x30] = vmpl
		signed, leaf := p.leaf(t, r, SigningKeyVCEK)
		h := bytes.Clone(raw)
		copy(h[hcl.HWReportOffset:], signed)
		v := newTestVerifier(t, pinTAV.Add(time.Hour), func(o *Options) {
			o.Roots, o.OnlyRoots, o.AcceptHCLReport, o.Collateral = map[Product]*Roots{ProductMilan: p.roots}, true, true, fixedVCEK(leaf)
		})
		_, err := v.Verify(context.Background(), h, nil)
		if vmpl == 0 && err != nil {
			t.Fatalf("VMPL 0: %v", err)
		}
		if vmpl == 1 {
			wantCode(t, err, ErrHCLBinding, maaerr.InvalidQuote, "VMPL 1")
		}
	}
}
