package simulate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/evidence/tdx"
)

// simT0 is when the test PKIs are made; tests verify at simT0 + 1h.
var simT0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func devTDXVerifier(t *testing.T, p *PKI, now time.Time) *tdx.Verifier {
	t.Helper()
	o := tdx.DefaultOptions()
	clock := func() time.Time { return now }
	o.DCAP = dcap.Options{Roots: []dcap.TrustRoot{p.TrustRoot()}, Now: clock, Collateral: p.Collateral(clock)}
	v, err := tdx.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSimulatedTDQuoteVerifies(t *testing.T) {
	dir := t.TempDir()
	p, err := Load(dir, simT0)
	if err != nil {
		t.Fatal(err)
	}
	at := simT0.Add(time.Hour)
	// `maat simulate tdx` in another process reads the same PKI.
	p2, err := Load(dir, at)
	if err != nil {
		t.Fatal(err)
	}
	td := DefaultTD()
	td.ReportData = ReportDataFor([]byte("runtime"))
	q, err := p2.TDQuote(td)
	if err != nil {
		t.Fatal(err)
	}
	res, err := devTDXVerifier(t, p, at).Verify(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Root != RootName || res.TCBStatus != collateral.UpToDate || res.QEStatus != collateral.UpToDate ||
		res.ModuleID != "TDX_01" || res.ModuleStatus != collateral.UpToDate || res.PCKCA != collateral.CAProcessor ||
		res.FMSPC != "00DE7E000000" || res.Unmatched || res.CollateralExpired {
		t.Fatalf("%+v", res)
	}
	// Offline, with the bundle instead of the source.
	b, err := p.TDXBundle(at)
	if err != nil {
		t.Fatal(err)
	}
	if b.TCBInfo.Key.Kind != collateral.KindTDXTCBInfo || b.QEIdentity.Key.Kind != collateral.KindTDQEIdentity {
		t.Fatalf("TDX bundle keys %v %v", b.TCBInfo.Key, b.QEIdentity.Key)
	}
	if _, err := devTDXVerifier(t, p, at).Verify(context.Background(), q, dcap.WithCollateral(b)); err != nil {
		t.Fatalf("with the TDX bundle: %v", err)
	}
	// The SGX bundle is not TDX collateral.
	sb, _ := p.Bundle(at)
	if _, err := devTDXVerifier(t, p, at).Verify(context.Background(), q, dcap.WithCollateral(sb)); err == nil {
		t.Fatal("verified with the SGX collateral")
	}
	// Intel's root only: untrusted, before any collateral is fetched.
	prod, _ := tdx.NewVerifier(tdx.Options{DCAP: dcap.Options{Now: func() time.Time { return at }, Collateral: p.Collateral(func() time.Time { return at })}})
	if _, err := prod.Verify(context.Background(), q); !errors.Is(err, dcap.ErrUntrustedRoot) {
		t.Fatalf("production verifier: %v", err)
	}
	// Another data directory's PKI is not this one's.
	other, err := Load(t.TempDir(), simT0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devTDXVerifier(t, other, at).Verify(context.Background(), q); !errors.Is(err, dcap.ErrUntrustedRoot) {
		t.Fatalf("other PKI: %v", err)
	}
	// A year later the PKI is still valid and the collateral re-signed;
	// before the PKI existed it is not.
	if _, err := devTDXVerifier(t, p, simT0.AddDate(1, 0, 0)).Verify(context.Background(), q); err != nil {
		t.Fatalf("a year later: %v", err)
	}
	if _, err := devTDXVerifier(t, p, simT0.AddDate(0, 0, -1)).Verify(context.Background(), q); !errors.Is(err, dcap.ErrCertificateExpired) {
		t.Fatalf("before the PKI: %v", err)
	}
	// Module 0 (the TCB Info's tdxModule) and the last identity verify;
	// one past it is refused when building.
	for _, major := range []byte{0, MaxTDXModuleMajor} {
		td := DefaultTD()
		td.TEETCBSVN[1] = major
		q, err := p.TDQuote(td)
		if err != nil {
			t.Fatal(err)
		}
		res, err := devTDXVerifier(t, p, at).Verify(context.Background(), q)
		if err != nil {
			t.Fatalf("module %d: %v", major, err)
		}
		if want := map[byte]string{0: "", MaxTDXModuleMajor: "TDX_0F"}[major]; res.ModuleID != want {
			t.Errorf("module %d: id %q", major, res.ModuleID)
		}
	}
	td.TEETCBSVN[1] = MaxTDXModuleMajor + 1
	if _, err := p.TDQuote(td); err == nil || !strings.Contains(err.Error(), "TDX module major") {
		t.Fatalf("module %d: %v", MaxTDXModuleMajor+1, err)
	}
}

func TestTDEveryFieldLandsInItsClaim(t *testing.T) {
	p, err := Load(t.TempDir(), simT0)
	if err != nil {
		t.Fatal(err)
	}
	at := simT0.Add(time.Hour)
	ev := tdx.NewEvidenceVerifier(devTDXVerifier(t, p, at), nil)
	fill := func(b byte, n int) string { return strings.Repeat(hex.EncodeToString([]byte{b}), n) }
	var td TD
	copy(td.ReportData[:], bytes.Repeat([]byte{0x11}, 64))
	copy(td.MRTD[:], bytes.Repeat([]byte{0x22}, 48))
	for i := range td.RTMR {
		copy(td.RTMR[i][:], bytes.Repeat([]byte{0x30 + byte(i)}, 48))
	}
	td.MRConfigID = MRConfigIDFor([]byte(`{"init":true}`))
	copy(td.MROwner[:], bytes.Repeat([]byte{0x44}, 48))
	copy(td.MROwnerConfig[:], bytes.Repeat([]byte{0x55}, 48))
	copy(td.MRSEAM[:], bytes.Repeat([]byte{0x66}, 48))
	td.TEETCBSVN = [16]byte{7, 3, 9, 9}
	binary.LittleEndian.PutUint64(td.TDAttributes[:], 1<<28|1<<30|1<<31|1<<63)
	td.Debug = true
	copy(td.XFAM[:], []byte{0xe7, 0x02, 0x06, 0, 0, 0, 0, 0})
	q, err := p.TDQuote(td)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := ev.Verify(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		tdx.ClaimReportData:           fill(0x11, 64),
		tdx.ClaimMRTD:                 fill(0x22, 48),
		tdx.ClaimRTMR0:                fill(0x30, 48),
		tdx.ClaimRTMR1:                fill(0x31, 48),
		tdx.ClaimRTMR2:                fill(0x32, 48),
		tdx.ClaimRTMR3:                fill(0x33, 48),
		tdx.ClaimMRConfigID:           hex.EncodeToString(td.MRConfigID[:]),
		tdx.ClaimMROwner:              fill(0x44, 48),
		tdx.ClaimMROwnerConfig:        fill(0x55, 48),
		tdx.ClaimMRSEAM:               fill(0x66, 48),
		tdx.ClaimMRSignerSEAM:         fill(0, 48),
		tdx.ClaimSEAMAttributes:       fill(0, 8),
		tdx.ClaimTEETCBSVN:            "07030909" + fill(0, 12),
		tdx.ClaimSEAMSVN:              0x0307,
		tdx.ClaimTDAttributes:         "010000d000000080",
		tdx.ClaimXFAM:                 "e702060000000000",
		tdx.ClaimDbgStat:              "enabled",
		tdx.ClaimTDAttrDebug:          true,
		tdx.ClaimTDAttrSEPTVEDisable:  true,
		tdx.ClaimTDAttrProtectionKeys: true,
		tdx.ClaimTDAttrKeyLocker:      true,
		tdx.ClaimTDAttrPerfmon:        true,
		tdx.ClaimAttesterTCBStatus:    "UpToDate",
		tdx.ClaimMaatModuleID:         "TDX_03",
		tdx.ClaimMaatFMSPC:            "00DE7E000000",
	}
	for k, w := range want {
		if got := ver.Claims[k]; got != w {
			t.Errorf("%s = %v (%T), want %v", k, got, got, w)
		}
	}
	if ver.AttestationType != tdx.AttestationType {
		t.Errorf("attestation type %q", ver.AttestationType)
	}
	if !bytes.Equal(ver.RuntimeData.Value, td.ReportData[:32]) || !bytes.Equal(ver.InitTimeData.Value, td.MRConfigID[:32]) {
		t.Errorf("bindings %x %x", ver.RuntimeData.Value, ver.InitTimeData.Value)
	}
	// DefaultTD: not debuggable, SEPT_VE_DISABLE only.
	q, _ = p.TDQuote(DefaultTD())
	ver, err = ev.Verify(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ver.Claims[tdx.ClaimDbgStat] != "disabled" || ver.Claims[tdx.ClaimTDAttrDebug] != false || ver.Claims[tdx.ClaimTDAttrSEPTVEDisable] != true ||
		ver.Claims[tdx.ClaimTDAttrPerfmon] != false || ver.Claims[tdx.ClaimXFAM] != "e702060000000000" || ver.Claims[tdx.ClaimSEAMSVN] != 0x0103 {
		t.Errorf("defaults: %v", ver.Claims)
	}
}

// Simulated TD quotes are verified by the same code as real ones, so
// tampering fails the same way: every byte of the signed part (header and
// TD report) flipped is refused, as the tdx package's TestMutation checks
// on real quotes, and each region of the signature data fails with the
// error of that region, as the SGX table (TestTamperingFailsLikeRealEvidence)
// does for SGX quotes.
func TestTDTamperingFailsLikeRealEvidence(t *testing.T) {
	p, err := Load(t.TempDir(), simT0)
	if err != nil {
		t.Fatal(err)
	}
	v := devTDXVerifier(t, p, simT0.Add(time.Hour))
	ctx := context.Background()
	q, err := p.TDQuote(DefaultTD())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, q); err != nil {
		t.Fatal(err)
	}
	const (
		signed = 48 + 584
		sig    = signed + 4
		qeCert = sig + 64 + 64 + 6
		auth   = 32
		chain  = qeCert + 384 + 64 + 2 + auth + 6
	)
	regions := []struct {
		name       string
		start, end int
		want       error
	}{
		{"version", 0, 2, dcap.ErrUnsupportedQuote},
		{"key type", 2, 4, dcap.ErrUnsupportedQuote},
		{"tee type", 4, 8, dcap.ErrUnsupportedQuote},
		{"qe/pce svn", 8, 12, dcap.ErrQuoteSignature},
		{"vendor id", 12, 28, dcap.ErrMalformedQuote},
		{"user data", 28, 48, dcap.ErrQuoteSignature},
		{"TD report", 48, signed, dcap.ErrQuoteSignature},
		{"sig data length", signed, sig, dcap.ErrMalformedQuote},
		{"quote signature", sig, sig + 64, dcap.ErrQuoteSignature},
		{"attestation key", sig + 64, sig + 128, dcap.ErrQEReportData},
		{"outer cert data type", sig + 128, sig + 130, dcap.ErrUnsupportedCertType},
		{"outer cert data size", sig + 130, qeCert, dcap.ErrMalformedQuote},
		{"QE report", qeCert, qeCert + 384, dcap.ErrQEReportSignature},
		{"QE report signature", qeCert + 384, qeCert + 448, dcap.ErrQEReportSignature},
		{"QE auth data size", qeCert + 448, qeCert + 450, dcap.ErrMalformedQuote},
		{"QE auth data", qeCert + 450, qeCert + 450 + auth, dcap.ErrQEReportData},
		{"inner cert data type", qeCert + 450 + auth, qeCert + 452 + auth, dcap.ErrUnsupportedCertType},
		{"inner cert data size", qeCert + 452 + auth, chain, dcap.ErrMalformedQuote},
		{"PCK chain", chain, len(q), dcap.ErrMalformedQuote},
	}
	for _, r := range regions {
		step := 1
		if r.end-r.start > 64 && r.name != "TD report" {
			step = 7 // sampled; the TD report is flipped byte by byte
		}
		for i := r.start; i < r.end; i += step {
			m := bytes.Clone(q)
			m[i] ^= 0xff
			res, err := v.Verify(ctx, m)
			if err == nil || res != nil || !errors.Is(err, r.want) {
				t.Fatalf("%s: mutation at %d: %v, want %v", r.name, i, err, r.want)
			}
		}
	}
	// A PCK certificate whose signature no longer verifies (the PEM stays
	// well-formed): the chain is refused.
	blk, rest := pem.Decode(q[chain:])
	if blk == nil {
		t.Fatal("no PEM in the chain")
	}
	blk.Bytes[len(blk.Bytes)-1] ^= 1
	leaf := pem.EncodeToMemory(blk)
	m := append(append(bytes.Clone(q[:chain]), leaf...), rest...)
	if len(m) != len(q) {
		t.Fatalf("re-encoded chain is %d bytes, want %d", len(m), len(q))
	}
	if _, err := v.Verify(ctx, m); !errors.Is(err, dcap.ErrPCKChain) {
		t.Fatalf("PCK certificate signature: %v", err)
	}
	// Truncations fail without panic.
	for i := 0; i < len(q); i += 13 {
		if res, err := v.Verify(ctx, q[:i]); err == nil || res != nil {
			t.Fatalf("truncated to %d accepted", i)
		}
	}
}
