package sgx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/testsupport/dcappki"
)

// The test PKI (internal/testsupport/dcappki) builds everything a
// verification needs — a root, the PCK Processor CA, a PCK certificate with
// the SGX extension, the TCB Signing certificate, a v3 quote, TCB Info, QE
// Identity and both CRLs — from a spec whose every field can be overridden
// per test.

var pkiNow = dcappki.Now

type (
	pkiSpec = dcappki.Spec
	testPKI = dcappki.PKI
)

var (
	defaultSpec = dcappki.DefaultSpec
	level       = dcappki.Level
	pemCert     = dcappki.PEM
)

func buildPKI(t testing.TB, s pkiSpec, base *testPKI) *testPKI {
	t.Helper()
	p, err := dcappki.Build(s, base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func buildSGXExtension(t testing.TB, p dcappki.PCKSpec) []byte {
	t.Helper()
	b, err := dcappki.SGXExtension(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pkiVerifier(t testing.TB, p *testPKI) *Verifier {
	o := DefaultOptions()
	root, err := NewTrustRoot("test root", pemCert(p.Root.Cert))
	if err != nil {
		t.Fatal(err)
	}
	o.Roots = append(o.Roots, root)
	o.Now = func() time.Time { return pkiNow }
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func pkiVerify(t testing.TB, p *testPKI) (*Result, error) {
	return pkiVerifier(t, p).Verify(context.Background(), p.Quote, WithCollateral(p.Bundle))
}

func TestPKIStatuses(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, st := range collateral.PossibleTCBStatusValues() {
		t.Run(string(st), func(t *testing.T) {
			s := defaultSpec()
			s.TCBLevels = []map[string]any{level(9, 11, "UpToDate"), level(5, 10, string(st), "INTEL-SA-1")}
			p := buildPKI(t, s, base)
			res, err := pkiVerify(t, p)
			if st == collateral.Revoked {
				if !errors.Is(err, ErrTCBRevoked) || res != nil {
					t.Fatalf("Revoked: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.TCBStatus != st || res.QEStatus != collateral.UpToDate || res.Root != "test root" {
				t.Errorf("status %s QE %s root %s", res.TCBStatus, res.QEStatus, res.Root)
			}
			if len(res.AdvisoryIDs) != 1 || res.AdvisoryIDs[0] != "INTEL-SA-1" {
				t.Errorf("advisories %v", res.AdvisoryIDs)
			}
		})
	}
	// The same PKI is rejected when only the production root is trusted.
	v, _ := NewVerifier(Options{Now: func() time.Time { return pkiNow }})
	if _, err := v.Verify(context.Background(), base.Quote, WithCollateral(base.Bundle)); !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("production root: %v", err)
	}
}

func TestPKIQEMerge(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, tc := range []struct {
		platform string
		qeSVN    uint16
		want     TCBStatus
		wantErr  error
	}{
		{"UpToDate", 7, collateral.OutOfDate, nil},
		{"SWHardeningNeeded", 7, collateral.OutOfDate, nil},
		{"ConfigurationNeeded", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"ConfigurationAndSWHardeningNeeded", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"OutOfDate", 7, collateral.OutOfDate, nil},
		{"OutOfDateConfigurationNeeded", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"UpToDate", 3, "", ErrTCBRevoked},
		{"UpToDate", 1, "", ErrQETCBNotSupported},
	} {
		s := defaultSpec()
		s.TCBLevels = []map[string]any{level(5, 10, tc.platform)}
		s.QEISVSVN = tc.qeSVN
		res, err := pkiVerify(t, buildPKI(t, s, base))
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s/QE svn %d: %v, want %v", tc.platform, tc.qeSVN, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/QE svn %d: %v", tc.platform, tc.qeSVN, err)
			continue
		}
		if res.TCBStatus != tc.want || res.PlatformTCBStatus != TCBStatus(tc.platform) {
			t.Errorf("%s/QE svn %d: %s, want %s", tc.platform, tc.qeSVN, res.TCBStatus, tc.want)
		}
		if tc.qeSVN == 7 && (len(res.AdvisoryIDs) != 1 || res.AdvisoryIDs[0] != "INTEL-SA-00615") {
			t.Errorf("QE advisories not merged: %v", res.AdvisoryIDs)
		}
	}
}

func TestPKILevelSelection(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, tc := range []struct {
		comp   uint8
		pcesvn uint16
		want   TCBStatus
	}{
		{7, 11, collateral.UpToDate},
		{9, 11, collateral.UpToDate},
		{7, 10, collateral.SWHardeningNeeded}, // PCESVN below the top level
		{5, 10, collateral.SWHardeningNeeded},
		{6, 99, collateral.SWHardeningNeeded},
		{4, 10, collateral.OutOfDate},
	} {
		s := defaultSpec()
		for i := range s.PCK.Comps {
			s.PCK.Comps[i] = tc.comp
		}
		s.PCK.PCESVN = tc.pcesvn
		res, err := pkiVerify(t, buildPKI(t, s, base))
		if err != nil || res.TCBStatus != tc.want {
			t.Errorf("comps %d pcesvn %d: %v %v, want %s", tc.comp, tc.pcesvn, res, err, tc.want)
		}
	}
	// One component below every level: not supported.
	s := defaultSpec()
	s.PCK.Comps[15] = 2
	if _, err := pkiVerify(t, buildPKI(t, s, base)); !errors.Is(err, ErrTCBNotSupported) {
		t.Errorf("low component: %v", err)
	}
}

func TestPKINegative(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for name, tc := range map[string]struct {
		mod  func(*pkiSpec)
		want error
	}{
		"revoked PCK":      {func(s *pkiSpec) { s.RevokePCK = true }, ErrPCKRevoked},
		"revoked CA":       {func(s *pkiSpec) { s.RevokeInter = true }, ErrCARevoked},
		"expired PCK":      {func(s *pkiSpec) { s.PCK.NotAfter = pkiNow.Add(-time.Hour) }, ErrCertificateExpired},
		"wrong FMSPC":      {func(s *pkiSpec) { s.TCBFMSPC = "00A067110000" }, ErrFMSPCMismatch},
		"forged TCB Info":  {func(s *pkiSpec) { s.ForgeTCBSig = true }, ErrTCBInfoSignature},
		"QE mrsigner":      {func(s *pkiSpec) { s.IDMRSigner[5] ^= 1 }, ErrQEIdentityMismatch},
		"TCB Info expired": {func(s *pkiSpec) { s.TCBNext = pkiNow.Add(-time.Minute) }, ErrCollateralExpired},
		"unknown status":   {func(s *pkiSpec) { s.TCBLevels = []map[string]any{level(1, 1, "Fine")} }, ErrTCBInfo},
		"bad SGX ext":      {func(s *pkiSpec) { s.PCK.Ext = []byte{0x30, 0x00} }, ErrMalformedPCKExt},
		"PCE-ID":           {func(s *pkiSpec) { s.PCK.PCEID = [2]byte{0, 1} }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			s := defaultSpec()
			tc.mod(&s)
			p := buildPKI(t, s, base)
			if tc.want == nil { // PCE-ID of cert and TCB Info both changed: still fine
				if _, err := pkiVerify(t, p); err != nil {
					t.Fatal(err)
				}
				// now only the TCB Info's
				b := *p.Bundle
				s2 := defaultSpec()
				p2 := buildPKI(t, s2, base)
				b.TCBInfo = p2.Bundle.TCBInfo
				if _, err := pkiVerifier(t, p).Verify(context.Background(), p.Quote, WithCollateral(&b)); !errors.Is(err, ErrPCEIDMismatch) {
					t.Fatalf("PCE-ID mismatch: %v", err)
				}
				return
			}
			res, err := pkiVerify(t, p)
			if !errors.Is(err, tc.want) || res != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPKIParsePCKExtensions(t *testing.T) {
	s := defaultSpec()
	s.PCK.Comps[3] = 200
	s.PCK.PCESVN = 300
	s.PCK.PCEID = [2]byte{0xab, 0xcd}
	der := buildSGXExtension(t, s.PCK)
	x, err := ParsePCKExtensions(der)
	if err != nil {
		t.Fatal(err)
	}
	if x.TCBComponents != s.PCK.Comps || x.PCESVN != 300 || x.PCEID != s.PCK.PCEID || x.FMSPC != s.PCK.FMSPC || x.SGXType != SGXTypeStandard {
		t.Errorf("%+v", x)
	}
	for i := 0; i < len(der); i++ {
		if _, err := ParsePCKExtensions(der[:i]); err == nil {
			t.Errorf("truncated at %d accepted", i)
		}
	}
}

func TestPKIQuoteVersions(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, ver := range []uint16{3, 4, 5} {
		s := defaultSpec()
		s.Version = ver
		p := buildPKI(t, s, base)
		q, err := ParseQuote(p.Quote)
		if err != nil {
			t.Fatalf("v%d: %v", ver, err)
		}
		if q.Header.Version != ver || q.CertDataType != 5 || (ver > 3) != (q.OuterCertDataType == 6) {
			t.Errorf("v%d: cert types %d/%d", ver, q.OuterCertDataType, q.CertDataType)
		}
		res, err := pkiVerify(t, p)
		if err != nil || res.TCBStatus != collateral.SWHardeningNeeded {
			t.Errorf("v%d: %v %v", ver, res, err)
		}
		for i := 0; i < len(p.Quote); i++ {
			if _, err := ParseQuote(p.Quote[:i]); err == nil {
				t.Fatalf("v%d truncated to %d accepted", ver, i)
			}
		}
	}
}

func TestPKIPlatformCA(t *testing.T) {
	s := defaultSpec()
	s.PCK.Platform = true
	p := buildPKI(t, s, nil)
	res, err := pkiVerify(t, p)
	if err != nil {
		t.Fatal(err)
	}
	x := res.PCK
	if res.PCKCA != collateral.CAPlatform || x.SGXType != SGXTypeScalable || len(x.PlatformInstanceID) != 16 ||
		x.Configuration == nil || !*x.Configuration.DynamicPlatform || *x.Configuration.CachedKeys || !*x.Configuration.SMTEnabled {
		t.Errorf("platform PCK: %s %+v", res.PCKCA, x)
	}
	// The processor CA's CRL does not cover a platform PCK.
	s2 := defaultSpec()
	b := *p.Bundle
	b.PCKCRL = buildPKI(t, s2, p).Bundle.PCKCRL
	if _, err := pkiVerifier(t, p).Verify(context.Background(), p.Quote, WithCollateral(&b)); !errors.Is(err, ErrCRL) {
		t.Errorf("processor CRL for a platform PCK: %v", err)
	}
	s.RevokePCK = true
	if _, err := pkiVerify(t, buildPKI(t, s, p)); !errors.Is(err, ErrPCKRevoked) {
		t.Errorf("revoked platform PCK: %v", err)
	}
}
