package simulate

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sgx"
)

func devVerifier(t *testing.T, p *PKI, now time.Time) *sgx.Verifier {
	t.Helper()
	o := sgx.Options{Roots: []sgx.TrustRoot{p.TrustRoot()}, Now: func() time.Time { return now }, Collateral: p.Collateral(func() time.Time { return now })}
	v, err := sgx.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSimulatedQuoteVerifies(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	p, err := Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Load(dir, now)
	if err != nil || !p2.Root().Equal(p.Root()) {
		t.Fatalf("reload: %v", err)
	}
	e := Enclave{ReportData: ReportDataFor([]byte("hello")), ProductID: 7, SVN: 3}
	e.MREnclave[0], e.MRSigner[0] = 0xaa, 0xbb
	q, err := p.SGXQuote(e)
	if err != nil {
		t.Fatal(err)
	}
	res, err := devVerifier(t, p2, now).Verify(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Root != RootName || res.TCBStatus != "UpToDate" || res.QEStatus != "UpToDate" {
		t.Fatalf("root %q status %s QE %s", res.Root, res.TCBStatus, res.QEStatus)
	}
	// The production verifier (Intel root only) refuses it.
	prod, _ := sgx.NewVerifier(sgx.Options{Now: func() time.Time { return now }, Collateral: p.Collateral(func() time.Time { return now })})
	if _, err := prod.Verify(context.Background(), q); !errors.Is(err, sgx.ErrUntrustedRoot) {
		t.Fatalf("production verifier: %v", err)
	}
	// A year later the PKI is still valid and the collateral is re-signed.
	later := now.AddDate(1, 0, 0)
	if _, err := devVerifier(t, p, later).Verify(context.Background(), q); err != nil {
		t.Fatalf("a year later: %v", err)
	}
}

func TestEveryFieldLandsInItsClaim(t *testing.T) {
	now := time.Now()
	p, err := Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	v := devVerifier(t, p, now)
	var e Enclave
	copy(e.ReportData[:], bytes.Repeat([]byte{0x11}, 64))
	copy(e.MREnclave[:], bytes.Repeat([]byte{0x22}, 32))
	copy(e.MRSigner[:], bytes.Repeat([]byte{0x33}, 32))
	e.ProductID, e.SVN, e.Debug, e.KSS, e.ConfigSVN = 0x1234, 0x4321, true, true, 9
	copy(e.ConfigID[:], bytes.Repeat([]byte{0x44}, 64))
	copy(e.ISVExtProdID[:], bytes.Repeat([]byte{0x55}, 16))
	copy(e.ISVFamilyID[:], bytes.Repeat([]byte{0x66}, 16))
	want := map[string]any{
		"x-ms-sgx-report-data":             string(bytes.Repeat([]byte("11"), 64)),
		"x-ms-sgx-mrenclave":               string(bytes.Repeat([]byte("22"), 32)),
		"x-ms-sgx-mrsigner":                string(bytes.Repeat([]byte("33"), 32)),
		"x-ms-sgx-product-id":              0x1234,
		"x-ms-sgx-svn":                     0x4321,
		"x-ms-sgx-is-debuggable":           true,
		"x-ms-sgx-config-id":               string(bytes.Repeat([]byte("44"), 64)),
		"x-ms-sgx-config-svn":              9,
		"x-ms-sgx-isv-extended-product-id": string(bytes.Repeat([]byte("55"), 16)),
		"x-ms-sgx-isv-family-id":           string(bytes.Repeat([]byte("66"), 16)),
	}
	for _, kind := range []string{"sgx", "openenclave"} {
		var ver *evidence.Verified
		if kind == "sgx" {
			q, _ := p.SGXQuote(e)
			ver, err = sgx.NewEvidenceVerifier(v, nil).Verify(context.Background(), q, nil)
		} else {
			r, _ := p.OpenEnclaveReport(e)
			ver, err = openenclave.NewEvidenceVerifier(v, nil).Verify(context.Background(), r, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		for k, w := range want {
			if got := ver.Claims[k]; got != w {
				t.Errorf("%s: %s = %v, want %v", kind, k, got, w)
			}
		}
		if !bytes.Equal(ver.RuntimeData.Value, e.ReportData[:32]) {
			t.Errorf("%s: runtime binding %x", kind, ver.RuntimeData.Value)
		}
	}
	// Without KSS the KSS claims are absent; without Debug it is false.
	e.KSS, e.Debug = false, false
	q, _ := p.SGXQuote(e)
	ver, err := sgx.NewEvidenceVerifier(v, nil).Verify(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ver.Claims["x-ms-sgx-config-id"]; ok || ver.Claims["x-ms-sgx-is-debuggable"] != false {
		t.Errorf("no KSS / no debug: %v", ver.Claims)
	}
}

// Simulated evidence is verified by the same code as real evidence, so
// tampering fails the same way: the region table is the one the sgx
// package's TestMutation checks on a real quote (dcap-qvl vector), with the
// same expected error per region.
func TestTamperingFailsLikeRealEvidence(t *testing.T) {
	now := time.Now()
	p, err := Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	v := devVerifier(t, p, now)
	q, err := p.SGXQuote(Enclave{ReportData: ReportDataFor([]byte("k"))})
	if err != nil {
		t.Fatal(err)
	}
	const auth = 32
	certStart := 436 + 64 + 64 + 384 + 64 + 2 + auth + 2 + 4
	regions := []struct {
		name       string
		start, end int
		want       error
	}{
		{"version", 0, 2, sgx.ErrUnsupportedQuote},
		{"key type", 2, 4, sgx.ErrUnsupportedQuote},
		{"tee type", 4, 8, sgx.ErrUnsupportedQuote},
		{"qe/pce svn", 8, 12, sgx.ErrQuoteSignature},
		{"vendor id", 12, 28, sgx.ErrMalformedQuote},
		{"user data", 28, 48, sgx.ErrQuoteSignature},
		{"body", 48, 432, sgx.ErrQuoteSignature},
		{"sig data length", 432, 436, sgx.ErrMalformedQuote},
		{"quote signature", 436, 500, sgx.ErrQuoteSignature},
		{"attestation key", 500, 564, sgx.ErrQEReportData},
		{"QE report", 564, 948, sgx.ErrQEReportSignature},
		{"QE report signature", 948, 1012, sgx.ErrQEReportSignature},
		{"QE auth data size", 1012, 1014, sgx.ErrMalformedQuote},
		{"QE auth data", 1014, 1014 + auth, sgx.ErrQEReportData},
		{"cert data type", 1014 + auth, 1016 + auth, sgx.ErrUnsupportedCertType},
		{"cert data size", 1016 + auth, certStart, sgx.ErrMalformedQuote},
		{"cert data", certStart, len(q), sgx.ErrMalformedQuote},
	}
	for _, r := range regions {
		step := 1
		if r.end-r.start > 64 {
			step = 7 // sampled: the region's every byte is covered by the real-vector test
		}
		for i := r.start; i < r.end; i += step {
			m := bytes.Clone(q)
			m[i] ^= 0xff
			res, err := v.Verify(context.Background(), m)
			if err == nil || res != nil || !errors.Is(err, r.want) {
				t.Fatalf("%s: mutation at %d: %v, want %v", r.name, i, err, r.want)
			}
		}
	}
	// The OpenEnclave header too.
	rep, _ := p.OpenEnclaveReport(Enclave{})
	rep[8] ^= 1 // report_size no longer matches the bytes that follow
	if _, err := openenclave.NewEvidenceVerifier(v, nil).Verify(context.Background(), rep, nil); !errors.Is(err, openenclave.ErrMalformed) {
		t.Errorf("tampered OE header: %v", err)
	}
}

// Every TCB status a simulated quote asks for is the status the real SGX
// verifier computes against the development collateral, with the level's
// advisories; the same enclave's claims are otherwise unchanged. A status
// the development TCB Info has no level for is refused.
func TestSimulatedTCBStatuses(t *testing.T) {
	now := time.Now()
	p, err := Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	v := devVerifier(t, p, now)
	for _, st := range append(SGXTCBStatuses(), "") {
		e := Enclave{ReportData: ReportDataFor([]byte("tcb")), TCBStatus: st}
		q, err := p.SGXQuote(e)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(context.Background(), q)
		if st == "Revoked" {
			// Fail closed, as for a real revoked platform.
			if err == nil || !strings.Contains(err.Error(), "TCB status Revoked") {
				t.Fatalf("Revoked: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", st, err)
		}
		want := st
		if want == "" {
			want = "UpToDate"
		}
		if res.TCBStatus != want || (want == "UpToDate") != (len(res.AdvisoryIDs) == 0) {
			t.Fatalf("asked %q: status %s, advisories %v", st, res.TCBStatus, res.AdvisoryIDs)
		}
		// OpenEnclave reports carry the same quote.
		rep, err := p.OpenEnclaveReport(e)
		if err != nil {
			t.Fatal(err)
		}
		ores, err := openenclave.NewVerifier(v).Verify(context.Background(), rep)
		if err != nil || ores.TCBStatus != want {
			t.Fatalf("OE %q: %v %v", st, ores, err)
		}
	}
	if _, err := p.SGXQuote(Enclave{TCBStatus: "ConfigurationNeeded"}); err == nil {
		t.Fatal("a status without a development level was simulated")
	}
}
