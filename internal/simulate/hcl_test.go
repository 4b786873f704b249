package simulate

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/json"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

func TestAzureHCLReport(t *testing.T) {
	now := time.Now()
	p, err := Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	ak, _ := rsa.GenerateKey(rand.Reader, 2048)
	raw, chain, err := p.AzureHCLReport(&ak.PublicKey, SNPGuest{VMPL: 3, ReportData: [64]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.ReportType != hcl.ReportTypeSNP || r.HashType != hcl.HashSHA256 || !hcl.ClaimsBound(r.Claims, hcl.HashSHA256, r.ReportData()) {
		t.Fatalf("type %v hash %v bound %v", r.ReportType, r.HashType, hcl.ClaimsBound(r.Claims, hcl.HashSHA256, r.ReportData()))
	}
	rc, err := hcl.ParseRuntimeClaims(r.Claims)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := rc.Key(hcl.KidAkPub)
	if !ok {
		t.Fatal("no HCLAkPub")
	}
	if pub, err := k.RSAPublicKey(); err != nil || !pub.Equal(&ak.PublicKey) {
		t.Fatalf("HCLAkPub %v", err)
	}
	if rc.VMUniqueID() != AzureVMUniqueID {
		t.Errorf("vmUniqueId %q", rc.VMUniqueID())
	}
	snp, _ := r.SNPReport()
	ev, _ := json.Marshal(map[string][]byte{"SnpReport": snp, "VcekCertChain": chain})
	vd, err := devSNPVerifier(t, p, now).Verify(context.Background(), ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Claims[sevsnp.ClaimVMPL] != 0 {
		t.Errorf("VMPL %v, want 0 (the paravisor's)", vd.Claims[sevsnp.ClaimVMPL])
	}
}

func TestAzureTDXHCLReport(t *testing.T) {
	p, err := Load(t.TempDir(), simT0)
	if err != nil {
		t.Fatal(err)
	}
	ak, _ := rsa.GenerateKey(rand.Reader, 2048)
	td := DefaultTD()
	td.ReportData = [64]byte{1} // overwritten
	td.MRTD[0], td.RTMR[3][47] = 0x7d, 0xa3
	raw, quote, err := p.AzureTDXHCLReport(&ak.PublicKey, td)
	if err != nil {
		t.Fatal(err)
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.ReportType != hcl.ReportTypeTDX || r.HashType != hcl.HashSHA256 || !hcl.ClaimsBound(r.Claims, hcl.HashSHA256, r.ReportData()) {
		t.Fatalf("type %v hash %v bound %v", r.ReportType, r.HashType, hcl.ClaimsBound(r.Claims, hcl.HashSHA256, r.ReportData()))
	}
	rc, err := hcl.ParseRuntimeClaims(r.Claims)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := rc.Key(hcl.KidAkPub); !ok {
		t.Fatal("no HCLAkPub")
	} else if pub, err := k.RSAPublicKey(); err != nil || !pub.Equal(&ak.PublicKey) {
		t.Fatalf("HCLAkPub %v", err)
	}
	// The TD quote verifies and describes the TD of the TDREPORT: same
	// REPORTDATA, and TDINFO carries the TD report body's registers.
	res, err := devTDXVerifier(t, p, simT0.Add(time.Hour)).Verify(context.Background(), quote)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Report.ReportData[:], r.ReportData()) {
		t.Fatalf("quote REPORTDATA %x, TDREPORT %x", res.Report.ReportData, r.ReportData())
	}
	rep, _ := r.TDReport()
	info, tcb := rep[512:1024], rep[256:495]
	if rep[0] != 0x81 || !bytes.Equal(info[16:64], res.Report.MRTD[:]) || !bytes.Equal(info[16+7*48:16+8*48], res.Report.RTMR[3][:]) ||
		!bytes.Equal(tcb[8:24], res.Report.TEETCBSVN[:]) || !bytes.Equal(tcb[24:72], res.Report.MRSEAM[:]) {
		t.Fatalf("TDREPORT %x", rep)
	}
	tcbHash, infoHash := sha512.Sum384(tcb), sha512.Sum384(info)
	if !bytes.Equal(rep[32:80], tcbHash[:]) || !bytes.Equal(rep[80:128], infoHash[:]) {
		t.Error("REPORTMACSTRUCT hashes do not cover TEE_TCB_INFO and TDINFO")
	}
	td.TEETCBSVN[1] = MaxTDXModuleMajor + 1
	if _, _, err := p.AzureTDXHCLReport(&ak.PublicKey, td); err == nil {
		t.Error("unknown TDX module accepted")
	}
}
