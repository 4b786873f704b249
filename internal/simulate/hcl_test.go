package simulate

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
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
