package guestclient

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
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
