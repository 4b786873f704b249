package guestclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/simulate"
)

func TestSNPIsolation(t *testing.T) {
	p, err := simulate.Load(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ak, _ := rsa.GenerateKey(rand.Reader, 2048)
	raw, chain, err := p.AzureHCLReport(&ak.PublicKey, simulate.SNPGuest{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := SNPIsolation(r, chain)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := sevsnp.DecodeEvidence(iso.Proof)
	if err != nil {
		t.Fatal(err)
	}
	if iso.Type != azureguest.SevSnp || !bytes.Equal(ev.Report, raw[hcl.HWReportOffset:hcl.HWReportOffset+hcl.HWReportSize]) || !bytes.Equal(ev.Chain, chain) || !bytes.Equal(iso.RunTimeData, r.Claims) {
		t.Fatalf("isolation %+v", iso)
	}
	if _, err := SNPIsolation(r, nil); err == nil {
		t.Error("no chain accepted")
	}
	tdx := bytes.Clone(raw)
	binary.LittleEndian.PutUint32(tdx[hcl.HWReportOffset+hcl.HWReportSize+8:], uint32(hcl.ReportTypeTDX))
	rt, err := hcl.Parse(tdx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SNPIsolation(rt, chain); err == nil {
		t.Error("TDX HCL report accepted as SNP")
	}
}

// A simulated TDX CVM's HCL report and TD quote make Tdx isolation
// evidence that VerifyIsolation accepts with a TDX verifier trusting the
// development PKI: the quote verifies, the runtime claims bind to its
// REPORTDATA and their HCLAkPub is the AK. Another AK, other runtime
// claims, a quote of another TD or a tampered quote are refused.
func TestTDXIsolation(t *testing.T) {
	now := time.Now()
	p, err := simulate.Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	ak, _ := rsa.GenerateKey(rand.Reader, 2048)
	raw, quote, err := p.AzureTDXHCLReport(&ak.PublicKey, simulate.DefaultTD())
	if err != nil {
		t.Fatal(err)
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := TDXIsolation(r, quote)
	if err != nil {
		t.Fatal(err)
	}
	if iso.Type != azureguest.Tdx || !bytes.Equal(iso.Proof, quote) || !bytes.Equal(iso.RunTimeData, r.Claims) {
		t.Fatalf("isolation %+v", iso)
	}
	clock := func() time.Time { return now }
	tv, err := tdx.NewVerifier(tdx.Options{DCAP: dcap.Options{Roots: []dcap.TrustRoot{p.TrustRoot()}, Now: clock, Collateral: p.Collateral(clock)}})
	if err != nil {
		t.Fatal(err)
	}
	v := azureguest.New(azureguest.Options{TDX: tdx.NewEvidenceVerifier(tv, nil)})
	ctx := context.Background()
	res, err := v.VerifyIsolation(ctx, iso, &ak.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != azureguest.Tdx || res.Verified.AttestationType != tdx.AttestationType || res.Hash != hcl.HashSHA256 || res.RuntimeClaims.VMUniqueID() != simulate.AzureVMUniqueID {
		t.Fatalf("result %+v", res)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := v.VerifyIsolation(ctx, iso, &other.PublicKey, nil); !errors.Is(err, azureguest.ErrAKBinding) {
		t.Errorf("other AK: %v", err)
	}
	bad := iso
	bad.RunTimeData = bytes.Replace(iso.RunTimeData, []byte(`"secure-boot":true`), []byte(`"secure-boot":false`), 1)
	if _, err := v.VerifyIsolation(ctx, bad, &ak.PublicKey, nil); !errors.Is(err, azureguest.ErrRuntimeBinding) {
		t.Errorf("other runtime claims: %v", err)
	}
	bad = iso
	bad.Proof = bytes.Clone(quote)
	bad.Proof[48+136] ^= 1 // MRTD
	if _, err := v.VerifyIsolation(ctx, bad, &ak.PublicKey, nil); !errors.Is(err, dcap.ErrQuoteSignature) {
		t.Errorf("tampered quote: %v", err)
	}
	// Building: a quote of another TD, a quote that is none, an SNP report.
	_, otherQuote, _ := p.AzureTDXHCLReport(&other.PublicKey, simulate.DefaultTD())
	if _, err := TDXIsolation(r, otherQuote); err == nil || !strings.Contains(err.Error(), "another TD report") {
		t.Errorf("quote of another TD: %v", err)
	}
	if _, err := TDXIsolation(r, []byte("not a quote")); err == nil {
		t.Error("garbage quote accepted")
	}
	snpRaw, _, _ := p.AzureHCLReport(&ak.PublicKey, simulate.SNPGuest{})
	snp, _ := hcl.Parse(snpRaw)
	if _, err := TDXIsolation(snp, quote); err == nil {
		t.Error("SNP HCL report accepted as TDX")
	}
}
