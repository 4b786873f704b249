package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

func devSNPVerifier(t *testing.T, p *PKI, now time.Time) *sevsnp.Verifier {
	t.Helper()
	v, err := sevsnp.NewVerifier(sevsnp.Options{Roots: p.SNPRoots(), OnlyRoots: true, Now: func() time.Time { return now }, CRL: sevsnp.CRLSoft})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSimulatedSNPReportVerifies(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	p, err := Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	// A second load (another process: `maat simulate` next to the server)
	// reads the same PKI; its evidence verifies under the first's roots.
	p2, err := Load(dir, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, prod := range SNPProducts {
		g := SNPGuest{Product: prod, ReportData: ReportDataFor([]byte("runtime")), Debug: true, VMPL: 2, GuestSVN: 5}
		g.HostData[0], g.Measurement[0], g.FamilyID[0], g.ImageID[0] = 0xd0, 0x4e, 0xfa, 0x1a
		ev, err := p2.SNPEvidence(g)
		if err != nil {
			t.Fatal(err)
		}
		vd, err := devSNPVerifier(t, p, now).Verify(context.Background(), ev, nil)
		if err != nil {
			t.Fatalf("%s: %v", prod, err)
		}
		c := vd.Claims
		want := map[string]any{
			sevsnp.ClaimProduct: string(prod), sevsnp.ClaimIsDebuggable: true, sevsnp.ClaimVMPL: 2, sevsnp.ClaimGuestSVN: 5,
			sevsnp.ClaimHostData:      "d0" + zeros(31),
			sevsnp.ClaimMeasurement:   "4e" + zeros(47),
			sevsnp.ClaimFamilyID:      "fa" + zeros(15),
			sevsnp.ClaimImageID:       "1a" + zeros(15),
			sevsnp.ClaimReportVersion: 3, sevsnp.ClaimSigningKey: "vcek", sevsnp.ClaimCRL: sevsnp.CRLUnavailable,
		}
		for k, w := range want {
			if c[k] != w {
				t.Errorf("%s: %s = %v (%T), want %v", prod, k, c[k], c[k], w)
			}
		}
		rd := ReportDataFor([]byte("runtime"))
		if string(vd.RuntimeData.Value) != string(rd[:32]) || vd.InitTimeData.Value[0] != 0xd0 {
			t.Errorf("%s: bindings %x %x", prod, vd.RuntimeData.Value, vd.InitTimeData.Value)
		}
		// AMD's roots refuse it.
		prodV, _ := sevsnp.NewVerifier(sevsnp.Options{Now: func() time.Time { return now }, CRL: sevsnp.CRLOff})
		if _, err := prodV.Verify(context.Background(), ev, nil); !errors.Is(err, sevsnp.ErrUntrustedRoot) {
			t.Errorf("%s under AMD's roots: %v", prod, err)
		}
	}
	// Not debuggable by default, VMPL 0.
	ev, _ := p.SNPEvidence(SNPGuest{})
	vd, err := devSNPVerifier(t, p, now).Verify(context.Background(), ev, nil)
	if err != nil || vd.Claims[sevsnp.ClaimIsDebuggable] != false || vd.Claims[sevsnp.ClaimVMPL] != 0 || vd.Claims[sevsnp.ClaimProduct] != "Milan" {
		t.Fatalf("defaults: %v %v", err, vd)
	}
	// Every byte of the signed report counts.
	rep, chain, _ := p.SNPReport(SNPGuest{})
	for _, off := range []int{0x08, 0x50, 0x90, 0xC0, 0x180, 0x29F, 0x2A0} {
		bad := append([]byte(nil), rep...)
		bad[off] ^= 1
		_, err := devSNPVerifier(t, p, now).Verify(context.Background(), evidenceJSON(bad, chain), nil)
		if err == nil {
			t.Errorf("byte 0x%x flipped: accepted", off)
		}
	}
	// Another data directory's PKI is not this one's.
	other, err := Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devSNPVerifier(t, other, now).Verify(context.Background(), ev, nil); !errors.Is(err, sevsnp.ErrUntrustedRoot) {
		t.Errorf("other PKI: %v", err)
	}
	if _, _, err := p.SNPReport(SNPGuest{VMPL: 4}); err == nil {
		t.Error("VMPL 4 accepted")
	}
	if _, _, err := p.SNPReport(SNPGuest{Product: sevsnp.ProductTurin}); err == nil {
		t.Error("Turin accepted")
	}
}

func zeros(n int) string {
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func evidenceJSON(rep, chain []byte) []byte {
	b, _ := json.Marshal(map[string][]byte{"SnpReport": rep, "VcekCertChain": chain})
	return b
}
