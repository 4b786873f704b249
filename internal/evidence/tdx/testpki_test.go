package tdx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/dcappki"
)

// The DCAP test PKI (internal/testsupport/dcappki) with TDX quotes and TDX
// collateral reaches the branches no real vector does.

func buildPKI(t testing.TB, s dcappki.Spec, base *dcappki.PKI) *dcappki.PKI {
	t.Helper()
	p, err := dcappki.Build(s, base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pkiVerifier(t testing.TB, p *dcappki.PKI, unmatched Unmatched) *Verifier {
	t.Helper()
	o := DefaultOptions()
	root, err := dcap.NewTrustRoot("test root", dcappki.PEM(p.Root.Cert))
	if err != nil {
		t.Fatal(err)
	}
	o.DCAP.Roots = append(o.DCAP.Roots, root)
	o.DCAP.Now = func() time.Time { return dcappki.Now }
	o.Unmatched = unmatched
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func pkiVerify(t testing.TB, p *dcappki.PKI, unmatched Unmatched) (*Result, error) {
	return pkiVerifier(t, p, unmatched).Verify(context.Background(), p.Quote, dcap.WithCollateral(p.Bundle))
}

func withBody(s *dcappki.Spec, f func(*dcappki.TDBody)) {
	var d dcappki.TDBody
	d.TEETCBSVN = [16]byte{3, 1, 2}
	d.ReportData[0] = 0x42
	f(&d)
	s.Body = dcappki.TDReportBody(d)
}

func moduleExtra(levels ...map[string]any) map[string]any {
	return map[string]any{
		"tdxModule":           map[string]any{"mrsigner": zeros(96), "attributes": zeros(16), "attributesMask": "FFFFFFFFFFFFFFFF"},
		"tdxModuleIdentities": []any{dcappki.TDXModuleIdentity(1, levels...)},
	}
}

func TestPKIDefault(t *testing.T) {
	p := buildPKI(t, dcappki.TDXSpec(), nil)
	res, err := pkiVerify(t, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.TCBStatus != collateral.UpToDate || res.ModuleID != "TDX_01" || res.ModuleStatus != collateral.UpToDate || res.Root != "test root" || res.PCKCA != collateral.CAPlatform {
		t.Errorf("%+v", res)
	}
	// Only the production root: untrusted.
	v, _ := NewVerifier(DefaultOptions())
	if _, err := v.Verify(context.Background(), p.Quote, dcap.WithCollateral(p.Bundle), dcap.WithTime(dcappki.Now)); !errors.Is(err, dcap.ErrUntrustedRoot) {
		t.Errorf("production root: %v", err)
	}
}

// Every TCB level status, merged with an UpToDate module and QE.
func TestPKIStatuses(t *testing.T) {
	base := buildPKI(t, dcappki.TDXSpec(), nil)
	var tc [16]uint8
	tc[0], tc[2] = 3, 2
	for _, st := range collateral.PossibleTCBStatusValues() {
		s := dcappki.TDXSpec()
		s.TCBLevels = []map[string]any{dcappki.TDXLevel(9, 11, tc, "UpToDate"), dcappki.TDXLevel(7, 11, tc, string(st), "INTEL-SA-1")}
		res, err := pkiVerify(t, buildPKI(t, s, base), "")
		if st == collateral.Revoked {
			if !errors.Is(err, dcap.ErrTCBRevoked) || res != nil {
				t.Errorf("Revoked: %v", err)
			}
			continue
		}
		if err != nil || res.TCBStatus != st || res.PlatformTCBStatus != st || len(res.AdvisoryIDs) != 1 {
			t.Errorf("%s: %+v %v", st, res, err)
		}
	}
}

// QVL's convergence of the level status with the module's and the QE's.
func TestPKIMerge(t *testing.T) {
	base := buildPKI(t, dcappki.TDXSpec(), nil)
	var tc [16]uint8
	for _, c := range []struct {
		platform, module string
		qeSVN            uint16
		want             TCBStatus
		err              error
	}{
		{"UpToDate", "OutOfDate", 8, collateral.OutOfDate, nil},
		{"SWHardeningNeeded", "OutOfDate", 8, collateral.OutOfDate, nil},
		{"ConfigurationNeeded", "OutOfDate", 8, collateral.OutOfDateConfigurationNeeded, nil},
		{"ConfigurationAndSWHardeningNeeded", "UpToDate", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"UpToDate", "UpToDate", 7, collateral.OutOfDate, nil},
		{"ConfigurationNeeded", "UpToDate", 8, collateral.ConfigurationNeeded, nil},
		{"UpToDate", "Revoked", 8, "", dcap.ErrTCBRevoked},
		{"UpToDate", "UpToDate", 3, "", dcap.ErrTCBRevoked},
		{"UpToDate", "UpToDate", 1, "", dcap.ErrQETCBNotSupported},
	} {
		s := dcappki.TDXSpec()
		s.TCBLevels = []map[string]any{dcappki.TDXLevel(7, 11, tc, c.platform)}
		s.TCBInfoExtra = moduleExtra(dcappki.QELevel(3, c.module, "INTEL-SA-00900"))
		s.QEISVSVN = c.qeSVN
		res, err := pkiVerify(t, buildPKI(t, s, base), "")
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%+v: %v", c, err)
			}
			continue
		}
		if err != nil || res.TCBStatus != c.want || res.ModuleStatus != TCBStatus(c.module) {
			t.Errorf("%+v: %+v %v", c, res, err)
		}
		if c.module == "OutOfDate" && (len(res.AdvisoryIDs) != 1 || res.AdvisoryIDs[0] != "INTEL-SA-00900") {
			t.Errorf("module advisories not merged: %v", res.AdvisoryIDs)
		}
	}
}

// The module-identity branches: tdxModule when TEE_TCB_SVN[1] is 0, the
// TDX_NN identity otherwise, and their mismatches.
func TestPKIModuleIdentity(t *testing.T) {
	base := buildPKI(t, dcappki.TDXSpec(), nil)
	run := func(name string, f func(*dcappki.Spec)) (*Result, error) {
		s := dcappki.TDXSpec()
		f(&s)
		return pkiVerify(t, buildPKI(t, s, base), "")
	}
	// tdxModule path: no module status, the TDX components from index 0 count.
	res, err := run("tdxModule", func(s *dcappki.Spec) {
		withBody(s, func(d *dcappki.TDBody) { d.TEETCBSVN = [16]byte{3, 0, 2} })
	})
	if err != nil || res.ModuleID != "" || res.ModuleStatus != "" || res.TCBStatus != collateral.UpToDate {
		t.Errorf("tdxModule: %+v %v", res, err)
	}
	// With TEE_TCB_SVN[1] = 0, svn[0] below the level's TDX component 0 falls to the lower level...
	res, err = run("svn0 counts", func(s *dcappki.Spec) {
		withBody(s, func(d *dcappki.TDBody) { d.TEETCBSVN = [16]byte{2, 0, 2} })
	})
	if err != nil || res.TCBStatus != collateral.OutOfDate {
		t.Errorf("svn0 counts without a module: %+v %v", res, err)
	}
	// ...but with a module identity it is the module's to judge (UpToDate at isvsvn 2? no: OutOfDate level isvsvn 1).
	res, err = run("svn0 to module", func(s *dcappki.Spec) {
		withBody(s, func(d *dcappki.TDBody) { d.TEETCBSVN = [16]byte{2, 1, 2} })
	})
	if err != nil || res.PlatformTCBStatus != collateral.UpToDate || res.ModuleStatus != collateral.OutOfDate || res.TCBStatus != collateral.OutOfDate {
		t.Errorf("svn0 judged by the module: %+v %v", res, err)
	}
	for name, tc := range map[string]struct {
		f    func(*dcappki.Spec)
		want error
		code maaerr.Code
	}{
		"no identity TDX_02": {func(s *dcappki.Spec) {
			withBody(s, func(d *dcappki.TDBody) { d.TEETCBSVN = [16]byte{3, 2, 2} })
		}, ErrTDXModule, maaerr.InvalidQuote},
		"MRSIGNERSEAM": {func(s *dcappki.Spec) {
			withBody(s, func(d *dcappki.TDBody) { d.MRSignerSEAM[7] = 1 })
		}, ErrTDXModule, maaerr.InvalidQuote},
		"MRSIGNERSEAM tdxModule": {func(s *dcappki.Spec) {
			withBody(s, func(d *dcappki.TDBody) { d.TEETCBSVN = [16]byte{3, 0, 2}; d.MRSignerSEAM[0] = 1 })
		}, ErrTDXModule, maaerr.InvalidQuote},
		"SEAM_ATTRIBUTES": {func(s *dcappki.Spec) {
			withBody(s, func(d *dcappki.TDBody) { d.SEAMAttributes[0] = 1 })
		}, ErrTDXModule, maaerr.InvalidQuote},
		"module SVN below every level": {func(s *dcappki.Spec) {
			withBody(s, func(d *dcappki.TDBody) { d.TEETCBSVN = [16]byte{0, 1, 2} })
		}, dcap.ErrTCBNotSupported, maaerr.InvalidParameter},
		"wrong QE identity id": {func(s *dcappki.Spec) { s.QEIdentityID = "QE" }, dcap.ErrQEIdentity, maaerr.InvalidQuote},
		"SGX TCB Info": {func(s *dcappki.Spec) {
			s.CollateralID, s.TCBInfoExtra, s.TCBLevels = "SGX", nil, []map[string]any{dcappki.Level(7, 11, "UpToDate")}
		}, dcap.ErrTCBInfo, maaerr.InvalidQuote},
	} {
		_, err := run(name, tc.f)
		var me *maaerr.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &me) || me.Code != tc.code {
			t.Errorf("%s: %v, want %v (%s)", name, err, tc.want, tc.code)
		}
	}
}

// D9's switch: a platform below every level is rejected with the reasons,
// or OutOfDate and flagged when configured so.
func TestPKIUnmatched(t *testing.T) {
	s := dcappki.TDXSpec()
	for i := range s.PCK.Comps {
		s.PCK.Comps[i] = 2
	}
	p := buildPKI(t, s, nil)
	_, err := pkiVerify(t, p, UnmatchedReject)
	var me *maaerr.Error
	if !errors.Is(err, dcap.ErrTCBNotSupported) || !errors.As(err, &me) || me.Code != maaerr.InvalidParameter {
		t.Fatalf("reject: %v", err)
	}
	res, err := pkiVerify(t, p, UnmatchedOutOfDate)
	if err != nil || !res.Unmatched || res.TCBStatus != collateral.OutOfDate || res.ModuleStatus != collateral.UpToDate {
		t.Fatalf("out-of-date: %+v %v", res, err)
	}
	c := res.Claims()
	if c["x-maat-tdx-tcb-unmatched"] != true || c["attester_tcb_status"] != "OutOfDate" {
		t.Errorf("claims %v", c)
	}
	if _, err := ParseUnmatched("maybe"); err == nil {
		t.Error("bad switch value accepted")
	}
}

// TD 1.5 (v5 body type 3): the relaunch check on TEE_TCB_SVN_2.
func TestPKIRelaunch(t *testing.T) {
	base := buildPKI(t, dcappki.TDXSpec(), nil)
	for _, tc := range []struct {
		svn, svn2 [16]byte
		status    TCBStatus
		relaunch  bool
	}{
		{[16]byte{2, 1, 2}, [16]byte{3, 1, 2}, collateral.OutOfDate, true},  // launched on an old module, running a current one
		{[16]byte{2, 1, 2}, [16]byte{2, 1, 2}, collateral.OutOfDate, false}, // same module
		{[16]byte{2, 1, 2}, [16]byte{2, 1, 3}, collateral.OutOfDate, false}, // still out of date
		{[16]byte{3, 1, 2}, [16]byte{4, 1, 2}, collateral.UpToDate, false},  // already up to date
	} {
		s := dcappki.TDXSpec()
		s.Version = 5
		withBody(&s, func(d *dcappki.TDBody) { d.V15, d.TEETCBSVN, d.TEETCBSVN2 = true, tc.svn, tc.svn2 })
		p := buildPKI(t, s, base)
		q, err := ParseQuote(p.Quote)
		if err != nil || q.BodyType != 3 || !q.Body.V15 {
			t.Fatalf("v5 TD 1.5: %v", err)
		}
		res, err := pkiVerify(t, p, "")
		if err != nil || res.TCBStatus != tc.status || res.RelaunchAdvised != tc.relaunch {
			t.Errorf("%x / %x: %+v %v", tc.svn, tc.svn2, res, err)
		}
		if res != nil && res.Claims()["x-maat-tdx-relaunch-advised"] != tc.relaunch {
			t.Errorf("claim")
		}
	}
	// TEE_TCB_SVN_2 naming a module the TCB Info does not know: an error, as in QVL.
	s0 := dcappki.TDXSpec()
	s0.Version = 5
	withBody(&s0, func(d *dcappki.TDBody) { d.V15, d.TEETCBSVN, d.TEETCBSVN2 = true, [16]byte{2, 1, 2}, [16]byte{3, 2, 2} })
	if _, err := pkiVerify(t, buildPKI(t, s0, base), ""); !errors.Is(err, ErrTDXModule) {
		t.Errorf("unknown module in TEE_TCB_SVN_2: %v", err)
	}
	// An out-of-date QE blocks the advice.
	s0 = dcappki.TDXSpec()
	s0.Version, s0.QEISVSVN = 5, 7
	withBody(&s0, func(d *dcappki.TDBody) { d.V15, d.TEETCBSVN, d.TEETCBSVN2 = true, [16]byte{2, 1, 2}, [16]byte{3, 1, 2} })
	if res, err := pkiVerify(t, buildPKI(t, s0, base), ""); err != nil || res.RelaunchAdvised || res.TCBStatus != collateral.OutOfDate {
		t.Errorf("QE out of date: %+v %v", res, err)
	}
	// v5 with a TD report 1.0 (body type 2).
	s := dcappki.TDXSpec()
	s.Version = 5
	if res, err := pkiVerify(t, buildPKI(t, s, base), ""); err != nil || res.Quote.BodyType != 2 || res.Report.V15 {
		t.Errorf("v5 body type 2: %v", err)
	}
	// Body type 1 is not a TD report.
	s.BodyType = 1
	if _, err := ParseQuote(buildPKI(t, s, base).Quote); !errors.Is(err, dcap.ErrUnsupportedQuote) {
		t.Errorf("v5 body type 1: %v", err)
	}
}

// Debug TDs and the attribute bits.
func TestPKIAttributes(t *testing.T) {
	s := dcappki.TDXSpec()
	withBody(&s, func(d *dcappki.TDBody) { d.TDAttributes = [8]byte{0x01, 0, 0, 0x10 | 0x40 | 0x80, 0, 0, 0, 0x80} })
	res, err := pkiVerify(t, buildPKI(t, s, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	c := res.Claims()
	for _, k := range []string{"tdx_td_attributes_debug", "tdx_td_attributes_septve_disable", "tdx_td_attributes_protection_keys", "tdx_td_attributes_key_locker", "tdx_td_attributes_perfmon"} {
		if c[k] != true {
			t.Errorf("%s = %v", k, c[k])
		}
	}
	if c["dbgstat"] != "enabled" || c["tdx_td_attributes"] != "010000d000000080" || c["tdx_seamsvn"] != 0x0103 {
		t.Errorf("dbgstat %v attributes %v seamsvn %v", c["dbgstat"], c["tdx_td_attributes"], c["tdx_seamsvn"])
	}
}
