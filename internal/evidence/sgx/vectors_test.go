package sgx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/maaerr"
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
	b, err := sgxvectors.Read(strings.Split(filepath.ToSlash(filepath.Join(path...)), "/")...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleFromDir loads a collateral bundle directory for the given FMSPC.
func bundleFromDir(t testing.TB, dir, fmspc string) *collateral.Bundle {
	t.Helper()
	b, err := collateral.Get(context.Background(), collateral.Dir{FS: sgxvectors.MustFS(dir)}, fmspc, collateral.CAProcessor)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestVerifier(t testing.TB, at string, opts ...func(*Options)) *Verifier {
	t.Helper()
	o := DefaultOptions()
	tm := mustTime(t, at)
	o.Now = func() time.Time { return tm }
	for _, f := range opts {
		f(&o)
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRealVectors(t *testing.T) {
	tests := []struct {
		name, quote, coll, fmspc, at string
		status, qeStatus             TCBStatus
		advisories                   []string
		evalNum                      int
	}{
		{"dcap-qvl 2025", "dcapqvl/sgx_quote.bin", "dcapqvl", "00A067110000", "2025-07-01T00:00:00Z",
			collateral.ConfigurationAndSWHardeningNeeded, collateral.UpToDate, []string{"INTEL-SA-00289", "INTEL-SA-00615"}, 17},
		{"openenclave 2022", "oe2022/sgx_quote.bin", "oe2022", "00906ED50000", "2022-05-01T00:00:00Z",
			collateral.SWHardeningNeeded, collateral.UpToDate, []string{}, 12},
		{"openenclave 2022 quote vs PCS 2025", "oe2022/sgx_quote.bin", "pcs2025", "00906ED50000", "2025-06-01T00:00:00Z",
			collateral.OutOfDate, collateral.OutOfDate,
			[]string{"INTEL-SA-00614", "INTEL-SA-00617", "INTEL-SA-00161", "INTEL-SA-00219", "INTEL-SA-00289", "INTEL-SA-00828", "INTEL-SA-00334", "INTEL-SA-00615"}, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, tc.at)
			q := readFile(t, tc.quote)
			res, err := v.Verify(context.Background(), q, WithCollateral(bundleFromDir(t, tc.coll, tc.fmspc)))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.TCBStatus != tc.status || res.QEStatus != tc.qeStatus {
				t.Errorf("status %s / QE %s, want %s / %s", res.TCBStatus, res.QEStatus, tc.status, tc.qeStatus)
			}
			if !slices.Equal(res.AdvisoryIDs, tc.advisories) {
				t.Errorf("advisories %v, want %v", res.AdvisoryIDs, tc.advisories)
			}
			if res.Root != IntelRootName {
				t.Errorf("root %q", res.Root)
			}
			if res.FMSPC != lower(tc.fmspc) {
				t.Errorf("fmspc %s", res.FMSPC)
			}
			if res.TCBEvaluationDataNumber != tc.evalNum {
				t.Errorf("eval number %d, want %d", res.TCBEvaluationDataNumber, tc.evalNum)
			}
			if res.CollateralExpired || !res.CollateralExpiry.After(res.VerifiedAt) {
				t.Errorf("collateral expiry %v expired %v", res.CollateralExpiry, res.CollateralExpired)
			}
		})
	}
}

func lower(s string) string {
	b, _ := hex.DecodeString(s)
	return hex.EncodeToString(b)
}

func TestCollateralExpiry(t *testing.T) {
	q := readFile(t, "dcapqvl/sgx_quote.bin")
	// Window 2025-06-19T10:56:11Z → 2025-07-19T10:01:18Z.
	for _, tc := range []struct {
		at     string
		accept bool
		want   error
	}{
		{"2025-07-19T10:01:17Z", false, nil},
		{"2025-07-19T10:01:19Z", false, ErrCollateralExpired},
		{"2025-07-25T00:00:00Z", true, nil},
		{"2025-06-19T10:00:00Z", false, ErrCollateralNotYetValid},
	} {
		v := newTestVerifier(t, tc.at, func(o *Options) { o.AcceptExpiredCollateral = tc.accept })
		res, err := v.Verify(context.Background(), q, WithCollateral(bundleFromDir(t, "dcapqvl", "00A067110000")))
		if tc.want != nil {
			if !errors.Is(err, tc.want) || res != nil {
				t.Errorf("at %s: err %v, want %v", tc.at, err, tc.want)
			}
			if !errors.Is(err, &maaerr.Error{Code: maaerr.InvalidQuote}) {
				t.Errorf("at %s: code of %v is not InvalidQuote", tc.at, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("at %s: %v", tc.at, err)
			continue
		}
		if res.CollateralExpired != tc.accept {
			t.Errorf("at %s: CollateralExpired %v", tc.at, res.CollateralExpired)
		}
	}
}

type enclaveInfo struct {
	MrEnclaveHex, MrSignerHex, ProductIdHex, QuoteHex, EnclaveHeldDataHex string
	SecurityVersion                                                       int
}

func loadEnclaveInfo(t testing.TB, name string) enclaveInfo {
	var ei enclaveInfo
	if err := json.Unmarshal(readFile(t, "maa", name), &ei); err != nil {
		t.Fatal(err)
	}
	return ei
}

func TestQVLTestPKI(t *testing.T) {
	q := readFile(t, "qvltestpki/quote.dat")
	chain := append(readFile(t, "qvltestpki/pckCert.pem"), readFile(t, "qvltestpki/pckSignChain.pem")...)
	at := mustTime(t, "2025-01-01T00:00:00Z")
	mk := func(k collateral.Key, body, ch string) *collateral.Item {
		var c []byte
		if ch != "" {
			c = readFile(t, "qvltestpki", ch)
		}
		it, err := collateral.NewItem(k, readFile(t, "qvltestpki", body), c, at)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	b := &collateral.Bundle{
		TCBInfo:    mk(collateral.Key{Kind: collateral.KindTCBInfo, FMSPC: "00707F000000"}, "tcbInfo.json", "tcbSignChain.pem"),
		QEIdentity: mk(collateral.Key{Kind: collateral.KindQEIdentity}, "qeIdentity.json", "tcbSignChain.pem"),
		PCKCRL:     mk(collateral.PCKCRLKey(collateral.CAProcessor), "intermediateCaCrl.der", "pckSignChain.pem"),
		RootCACRL:  mk(collateral.Key{Kind: collateral.KindRootCACRL}, "rootCaCrl.der", ""),
	}
	pq, err := ParseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	if pq.CertDataType != CertTypePPIDCleartext {
		t.Fatalf("cert data type %d", pq.CertDataType)
	}

	// Production root only: rejected.
	v := newTestVerifier(t, "2025-01-01T00:00:00Z")
	if _, err := v.Verify(context.Background(), q, WithCollateral(b), WithPCKChain(chain)); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("with the production root: %v, want ErrUntrustedRoot", err)
	}
	// Without a chain: rejected.
	if _, err := v.Verify(context.Background(), q, WithCollateral(b)); !errors.Is(err, ErrPCKChainMissing) {
		t.Fatalf("without chain: %v", err)
	}
	// Test root trusted as well.
	root, err := NewTrustRoot("QVL test root", readFile(t, "qvltestpki/trustedRootCaCert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	v = newTestVerifier(t, "2025-01-01T00:00:00Z", func(o *Options) { o.Roots = append(o.Roots, root) })
	res, err := v.Verify(context.Background(), q, WithCollateral(b), WithPCKChain(chain))
	if err != nil {
		t.Fatalf("with the test root: %v", err)
	}
	if res.TCBStatus != collateral.UpToDate || res.Root != "QVL test root" {
		t.Errorf("status %s root %q", res.TCBStatus, res.Root)
	}
}

func TestMAASamples(t *testing.T) {
	v := newTestVerifier(t, "2025-06-01T00:00:00Z")
	b := bundleFromDir(t, "pcs2025", "00906ED50000")
	for _, tc := range []struct {
		file  string
		oe    bool
		debug bool
	}{
		{"intel_sdk_enclave.info.release.json", false, false},
		{"intel_sdk_enclave.info.debug.json", false, true},
		{"intel_sdk_enclave.info.prodid.json", false, false},
		{"oe_sdk_enclave.info.release.json", true, false},
		{"oe_sdk_enclave.info.debug.json", true, true},
		{"oe_sdk_enclave.info.prodid.json", true, false},
		{"oe_sdk_enclave.info.securityversion.json", true, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ei := loadEnclaveInfo(t, tc.file)
			ev, err := hex.DecodeString(ei.QuoteHex)
			if err != nil {
				t.Fatal(err)
			}
			q := ev
			if tc.oe {
				q = ev[16:]
			}
			res, err := v.Verify(context.Background(), q, WithCollateral(b), WithEvidence(ev))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			c := res.Claims()
			if c[ClaimMREnclave] != lower(ei.MrEnclaveHex) || c[ClaimMRSigner] != lower(ei.MrSignerHex) {
				t.Errorf("mrenclave %v mrsigner %v", c[ClaimMREnclave], c[ClaimMRSigner])
			}
			pid, _ := hex.DecodeString(ei.ProductIdHex)
			if c[ClaimProductID] != int(pid[0])|int(pid[1])<<8 || c[ClaimSVN] != ei.SecurityVersion {
				t.Errorf("product id %v svn %v, want %x %d", c[ClaimProductID], c[ClaimSVN], pid[:2], ei.SecurityVersion)
			}
			if c[ClaimIsDebuggable] != tc.debug {
				t.Errorf("debuggable %v", c[ClaimIsDebuggable])
			}
			ehd, _ := hex.DecodeString(ei.EnclaveHeldDataHex)
			sum := sha256Sum(ehd)
			if res.Report.ReportData[:32] == nil || hex.EncodeToString(res.Report.ReportData[:32]) != hex.EncodeToString(sum[:]) {
				t.Errorf("report data %x does not bind the enclave held data", res.Report.ReportData[:32])
			}
			if res.TCBStatus == "" || res.FMSPC != "00906ed50000" {
				t.Errorf("tcb %q fmspc %s", res.TCBStatus, res.FMSPC)
			}
			t.Logf("%s: %s (QE %s) %v", tc.file, res.TCBStatus, res.QEStatus, res.AdvisoryIDs)
		})
	}
}

// TestPCS2025Variants: the 2022 quote against the May-2025 TCB Info v2
// (API v3) and the update=early TCB Info (eval 19); all three TCB Infos
// share one issuer chain.
func TestPCS2025Variants(t *testing.T) {
	v := newTestVerifier(t, "2025-06-01T00:00:00Z")
	q := readFile(t, "oe2022/sgx_quote.bin")
	for _, tc := range []struct {
		file    string
		evalNum int
		extra   string
	}{
		{"tcb_info_v2.json", 17, ""},
		{"tcb_info_early.json", 17, "INTEL-SA-01153"}, // QE identity eval 17 is the min
	} {
		b := *bundleFromDir(t, "pcs2025", "00906ED50000")
		it, err := collateral.NewItem(b.TCBInfo.Key, readFile(t, "pcs2025", tc.file), b.TCBInfo.IssuerChain, b.TCBInfo.FetchedAt)
		if err != nil {
			t.Fatal(err)
		}
		b.TCBInfo = it
		res, err := v.Verify(context.Background(), q, WithCollateral(&b))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if res.TCBStatus != collateral.OutOfDate || res.QEStatus != collateral.OutOfDate || res.TCBEvaluationDataNumber != tc.evalNum {
			t.Errorf("%s: %s / QE %s / eval %d", tc.file, res.TCBStatus, res.QEStatus, res.TCBEvaluationDataNumber)
		}
		if tc.extra != "" && !slices.Contains(res.AdvisoryIDs, tc.extra) {
			t.Errorf("%s: advisories %v lack %s", tc.file, res.AdvisoryIDs, tc.extra)
		}
		t.Logf("%s: %s %v", tc.file, res.TCBStatus, res.AdvisoryIDs)
	}
}

// TestMAA2020Sample: the OE report Azure-Samples posted to MAA in 2020 and
// the claims of MAA's answer (post.attest.response.jwt.body.json), whose
// maa-quotehash was then SHA-256 of the SGX part (report[16:]).
func TestMAA2020Sample(t *testing.T) {
	var body struct{ Quote, EnclaveHeldData string }
	if err := json.Unmarshal(readFile(t, "maa", "oe_validatequotes_post.attest.body.json"), &body); err != nil {
		t.Fatal(err)
	}
	rep, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(body.Quote, "="))
	if err != nil {
		t.Fatal(err)
	}
	ehd, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(body.EnclaveHeldData, "="))
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, "2025-06-01T00:00:00Z")
	res, err := v.Verify(context.Background(), rep[16:], WithCollateral(bundleFromDir(t, "pcs2025", "00906ED50000")))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Claims()
	if c[ClaimMREnclave] != "90a328210154d861be7fc85a904e99fba713b05029321a470f62ea8495ec7d90" ||
		c[ClaimMRSigner] != "6b1f95f512413b03759aaec2ec2b27cc2735468bb6113ccca163da92ca2b9b26" ||
		c[ClaimSVN] != 8888 || c[ClaimProductID] != 1 || c[ClaimIsDebuggable] != false {
		t.Errorf("claims %v", c)
	}
	if h := hex.EncodeToString(res.Hashes.Quote[:]); h != "e2e7d0d775f53b47b9bc9c579565cd5bca0cd0c51ccb9a99c1f076e1730607df" {
		t.Errorf("quotehash %s", h)
	}
	if sum := sha256Sum(ehd); !bytes.Equal(sum[:], res.Report.ReportData[:32]) {
		t.Error("report data does not bind the enclave held data")
	}
}

// TestConcurrentVerify shares one verifier between goroutines verifying
// different quotes (run with -race).
func TestConcurrentVerify(t *testing.T) {
	at := mustTime(t, "2025-06-01T00:00:00Z")
	o := DefaultOptions()
	o.Now = func() time.Time { return at }
	o.CacheEntries = 2 // force evictions too
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	b := bundleFromDir(t, "pcs2025", "00906ED50000")
	var quotes [][]byte
	for _, n := range []string{"intel_sdk_enclave.info.release.json", "intel_sdk_enclave.info.debug.json", "oe_sdk_enclave.info.release.json"} {
		q, _ := hex.DecodeString(loadEnclaveInfo(t, n).QuoteHex)
		if q[0] == 1 {
			q = q[16:]
		}
		quotes = append(quotes, q)
	}
	quotes = append(quotes, readFile(t, "oe2022/sgx_quote.bin"))
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 8; i++ {
				_, err := v.Verify(context.Background(), quotes[(g+i)%len(quotes)], WithCollateral(b))
				errs <- err
			}
		}(g)
	}
	for i := 0; i < 64; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
