package cli

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/simulate"
)

func TestSimulateTdxCommand(t *testing.T) {
	dir := t.TempDir()
	rtFile, itFile, out := filepath.Join(dir, "runtime.json"), filepath.Join(dir, "init.json"), filepath.Join(dir, "td.quote")
	if err := os.WriteFile(rtFile, []byte(`{"keys":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(itFile, []byte(`{"init":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCmd(t, NewRootCommand(), "simulate", "tdx", "--data", dir, "--runtime-data", rtFile, "--init-time-data", itFile,
		"--mrtd", strings.Repeat("ab", 48), "--rtmr0", "01", "--rtmr1", "02", "--rtmr2", "03", "--rtmr3", strings.Repeat("04", 48),
		"--mrowner", "0a", "--mrownerconfig", "0c", "--mrseam", "5e", "--tee-tcb-svn", "0703", "--xfam", "e7", "--td-attributes", "0000000001",
		"--debug", "--out", out)
	if err != nil || !strings.Contains(stderr, "SIMULATED TDX") || !strings.Contains(stderr, "maat attest tdx --evidence "+out) {
		t.Fatalf("%v %s", err, stderr)
	}
	now := time.Now()
	p, err := simulate.Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	v, err := tdx.NewVerifier(tdx.Options{DCAP: dcap.Options{Roots: []dcap.TrustRoot{p.TrustRoot()}, Now: clock, Collateral: p.Collateral(clock)}})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := os.ReadFile(out)
	ver, err := tdx.NewEvidenceVerifier(v, nil).Verify(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(h string, n int) string { return h + strings.Repeat("00", n-len(h)/2) }
	rd := simulate.ReportDataFor([]byte(`{"keys":[]}`))
	it := simulate.MRConfigIDFor([]byte(`{"init":1}`))
	want := map[string]any{
		tdx.ClaimReportData:          hex.EncodeToString(rd[:]),
		tdx.ClaimMRConfigID:          hex.EncodeToString(it[:]),
		tdx.ClaimMRTD:                strings.Repeat("ab", 48),
		tdx.ClaimRTMR0:               pad("01", 48),
		tdx.ClaimRTMR1:               pad("02", 48),
		tdx.ClaimRTMR2:               pad("03", 48),
		tdx.ClaimRTMR3:               strings.Repeat("04", 48),
		tdx.ClaimMROwner:             pad("0a", 48),
		tdx.ClaimMROwnerConfig:       pad("0c", 48),
		tdx.ClaimMRSEAM:              pad("5e", 48),
		tdx.ClaimTEETCBSVN:           pad("0703", 16),
		tdx.ClaimXFAM:                pad("e7", 8),
		tdx.ClaimTDAttributes:        "0100000001000000", // DEBUG and bit 32 (--td-attributes)
		tdx.ClaimTDAttrDebug:         true,
		tdx.ClaimTDAttrSEPTVEDisable: false, // --td-attributes replaced the default
		tdx.ClaimDbgStat:             "enabled",
		tdx.ClaimMaatModuleID:        "TDX_03",
	}
	for k, w := range want {
		if got := ver.Claims[k]; got != w {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}

	// Defaults: DefaultTD, not debuggable.
	if _, _, err := runCmd(t, NewRootCommand(), "simulate", "tdx", "--data", dir, "--out", out); err != nil {
		t.Fatal(err)
	}
	q, _ = os.ReadFile(out)
	ver, err = tdx.NewEvidenceVerifier(v, nil).Verify(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	def := simulate.DefaultTD()
	if ver.Claims[tdx.ClaimDbgStat] != "disabled" || ver.Claims[tdx.ClaimTDAttributes] != "0000001000000000" ||
		ver.Claims[tdx.ClaimMRSEAM] != hex.EncodeToString(def.MRSEAM[:]) || ver.Claims[tdx.ClaimMaatModuleID] != "TDX_01" ||
		ver.Claims[tdx.ClaimReportData] != strings.Repeat("00", 64) {
		t.Errorf("defaults: %v", ver.Claims)
	}

	for _, bad := range [][]string{
		{"--mrtd", "zz"}, {"--rtmr2", strings.Repeat("00", 49)}, {"--xfam", strings.Repeat("00", 9)},
		{"--report-data", "00", "--runtime-data", rtFile}, {"--mrconfigid", "00", "--init-time-data", itFile},
		{"--tee-tcb-svn", "0010"}, {"--runtime-data", filepath.Join(dir, "missing")},
	} {
		args := append([]string{"simulate", "tdx", "--data", dir, "--out", out}, bad...)
		if _, _, err := runCmd(t, NewRootCommand(), args...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, _, err := runCmd(t, NewRootCommand(), "simulate", "tdx", "--data", dir); err == nil || !strings.Contains(err.Error(), "out") {
		t.Errorf("no --out: %v", err)
	}
}
