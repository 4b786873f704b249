package tdx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func readFile(t testing.TB, path ...string) []byte {
	t.Helper()
	b, err := tdxvectors.Read(path...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newVerifier(t testing.TB, set, at string, mod ...func(*Options)) *Verifier {
	t.Helper()
	tm := mustTime(t, at)
	o := DefaultOptions()
	o.DCAP.Now = func() time.Time { return tm }
	o.DCAP.Collateral = collateral.Dir{FS: tdxvectors.MustFS(set)}
	for _, f := range mod {
		f(&o)
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorCases are the real TD quotes with Intel collateral (see
// testdata/README.md) and the result QVL's rules give at the pinned time.
var vectorCases = []struct {
	name, set, quote, at string
	version              uint16
	status               TCBStatus // "" = TCB_NOT_SUPPORTED
	module, qe           TCBStatus
	moduleID             string
	fmspc                string
	advisories           int
}{
	{"dcap-qvl v4", "dcapqvl_v4", "quote.bin", "2025-06-19T12:00:00Z", 4, collateral.UpToDate, collateral.UpToDate, collateral.UpToDate, "TDX_01", "B0C06F000000", 0},
	{"go-tdx-guest v4 SPR", "gotdxguest_v4", "quote.bin", "2023-07-01T01:00:00Z", 4, "", "", collateral.UpToDate, "", "50806F000000", 0},
	{"go-tdx-guest v5 TD1.5", "gotdxguest_v5", "quote.bin", "2026-02-20T00:00:00Z", 5, collateral.UpToDate, collateral.UpToDate, collateral.UpToDate, "TDX_01", "90C06F000000", 0},
	{"dcap-qvl v5 no matching level", "dcapqvl_v5_nomatch", "quote.bin", "2026-02-20T00:00:00Z", 5, "", collateral.UpToDate, collateral.UpToDate, "TDX_01", "90C06F000000", 0},
	{"openenclave v5 eval 21", "oe_v5_eval21", "quote.bin", "2026-06-15T00:00:00Z", 5, collateral.OutOfDate, collateral.OutOfDate, collateral.UpToDate, "TDX_01", "00806F050000", 16},
	{"Azure DCesv5 v4", "azure_dcesv5", "quote.bin", "2025-06-01T00:00:00Z", 4, collateral.OutOfDate, collateral.OutOfDate, collateral.UpToDate, "TDX_01", "00806F050000", 3},
	{"Azure DCesv6 v4", "azure_dcesv6", "quote_v4.bin", "2026-02-20T00:00:00Z", 4, "", collateral.UpToDate, collateral.UpToDate, "TDX_01", "90C06F000000", 0},
	{"Azure DCesv6 v5", "azure_dcesv6", "quote_v5.bin", "2026-02-20T00:00:00Z", 5, "", collateral.UpToDate, collateral.UpToDate, "TDX_01", "90C06F000000", 0},
}

func TestVectors(t *testing.T) {
	for _, tc := range vectorCases {
		t.Run(tc.name, func(t *testing.T) {
			q := readFile(t, tc.set, tc.quote)
			pq, err := ParseQuote(q)
			if err != nil {
				t.Fatal(err)
			}
			if pq.Header.Version != tc.version {
				t.Errorf("version %d", pq.Header.Version)
			}
			res, err := newVerifier(t, tc.set, tc.at).Verify(context.Background(), q)
			if tc.status == "" {
				var me *maaerr.Error
				if !errors.Is(err, dcap.ErrTCBNotSupported) || !errors.As(err, &me) || me.Code != maaerr.InvalidParameter || res != nil {
					t.Fatalf("want TCB_NOT_SUPPORTED as InvalidParameter, got %v", err)
				}
				// D9: the same quote is OutOfDate with the switch.
				res, err = newVerifier(t, tc.set, tc.at, func(o *Options) { o.Unmatched = UnmatchedOutOfDate }).Verify(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Unmatched || res.TCBStatus != collateral.OutOfDate || res.PlatformTCBStatus != "" {
					t.Errorf("unmatched switch: %+v", res)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if res.TCBStatus != tc.status || res.Unmatched {
				t.Errorf("status %s, want %s", res.TCBStatus, tc.status)
			}
			if res.ModuleStatus != tc.module || res.QEStatus != tc.qe || res.ModuleID != tc.moduleID || res.FMSPC != tc.fmspc {
				t.Errorf("module %s %s QE %s FMSPC %s", res.ModuleID, res.ModuleStatus, res.QEStatus, res.FMSPC)
			}
			if len(res.AdvisoryIDs) != tc.advisories {
				t.Errorf("advisories %v", res.AdvisoryIDs)
			}
			if res.PCKCA != collateral.CAPlatform || res.Root != dcap.IntelRootName {
				t.Errorf("CA %s root %s", res.PCKCA, res.Root)
			}
			t.Logf("%s: %s (platform %s, module %s %s, QE %s) date %s eval %d adv %v relaunch %v", tc.name, res.TCBStatus, res.PlatformTCBStatus, res.ModuleID, res.ModuleStatus, res.QEStatus, res.TCBDate.Format("2006-01-02"), res.TCBEvaluationDataNumber, res.AdvisoryIDs, res.RelaunchAdvised)
		})
	}
}
