package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/simulate"
)

func TestSimulateSevSnpCommand(t *testing.T) {
	dir := t.TempDir()
	rtFile, itFile, out := filepath.Join(dir, "runtime.json"), filepath.Join(dir, "init.json"), filepath.Join(dir, "snp.json")
	if err := os.WriteFile(rtFile, []byte(`{"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(itFile, []byte(`{"init":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCmd(t, NewRootCommand(), "simulate", "sevsnp", "--data", dir, "--runtime-data", rtFile, "--init-time-data", itFile,
		"--measurement", strings.Repeat("ab", 48), "--debug", "--vmpl", "2", "--guest-svn", "3", "--product", "genoa", "--out", out)
	if err != nil || !strings.Contains(stderr, "SIMULATED SEV-SNP") {
		t.Fatalf("%v %s", err, stderr)
	}
	now := time.Now()
	p, err := simulate.Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sevsnp.NewVerifier(sevsnp.Options{Roots: p.SNPRoots(), OnlyRoots: true, Now: func() time.Time { return now }, CRL: sevsnp.CRLOff})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := os.ReadFile(out)
	vd, err := v.Verify(context.Background(), ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := simulate.ReportDataFor([]byte(`{"keys":[]}`))
	hd := sha256.Sum256([]byte(`{"init":1}`))
	c := vd.Claims
	if c[sevsnp.ClaimMeasurement] != strings.Repeat("ab", 48) || c[sevsnp.ClaimIsDebuggable] != true || c[sevsnp.ClaimVMPL] != 2 ||
		c[sevsnp.ClaimGuestSVN] != 3 || c[sevsnp.ClaimProduct] != "Genoa" || c[sevsnp.ClaimReportData] != hex.EncodeToString(rd[:]) ||
		c[sevsnp.ClaimHostData] != hex.EncodeToString(hd[:]) {
		t.Fatalf("claims %v", c)
	}
	for _, bad := range [][]string{
		{"--host-data", "zz"}, {"--product", "turin"}, {"--vmpl", "4"}, {"--report-data", "00", "--runtime-data", rtFile},
		{"--host-data", "00", "--init-time-data", itFile}, {"--measurement", strings.Repeat("00", 49)},
	} {
		args := append([]string{"simulate", "sevsnp", "--data", dir, "--out", out}, bad...)
		if _, _, err := runCmd(t, NewRootCommand(), args...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
