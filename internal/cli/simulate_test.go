package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/keyrelease"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

// The CLI walkthrough without a server process: enclave key, simulated
// quote, then keys-release create/list/release/open against the key release
// handler.
func TestSimulateAndKeysReleaseCommands(t *testing.T) {
	dir := t.TempDir()
	keyFile, rtFile, qFile := filepath.Join(dir, "enclave.pem"), filepath.Join(dir, "runtime.json"), filepath.Join(dir, "quote.bin")
	if _, _, err := runCmd(t, NewRootCommand(), "simulate", "enclave-key", "--private-key", keyFile, "--runtime-data", rtFile); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCmd(t, NewRootCommand(), "simulate", "sgx", "--data", dir, "--runtime-data", rtFile, "--mrsigner", strings.Repeat("ab", 32),
		"--svn", "4", "--product-id", "9", "--kss", "--isv-family-id", "0102", "--out", qFile)
	if err != nil || !strings.Contains(stderr, "SIMULATED") {
		t.Fatalf("%v %s", err, stderr)
	}
	// The quote verifies against the data directory's development PKI, with
	// the fields asked for.
	now := time.Now()
	p, err := simulate.Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := sgx.NewVerifier(sgx.Options{Roots: []sgx.TrustRoot{p.TrustRoot()}, Now: func() time.Time { return now }, Collateral: p.Collateral(func() time.Time { return now })})
	q, _ := os.ReadFile(qFile)
	res, err := v.Verify(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := os.ReadFile(rtFile)
	rd := simulate.ReportDataFor(rt)
	c := res.Claims()
	if c["x-ms-sgx-mrsigner"] != strings.Repeat("ab", 32) || c["x-ms-sgx-svn"] != 4 || c["x-ms-sgx-product-id"] != 9 ||
		c["x-ms-sgx-isv-family-id"] != "0102"+strings.Repeat("00", 14) || res.Report.ReportData != rd {
		t.Fatalf("claims %v", c)
	}
	if _, _, err := runCmd(t, NewRootCommand(), "simulate", "sgx", "--data", dir, "--mrsigner", "zz", "--out", qFile); err == nil || !strings.Contains(err.Error(), "--mrsigner") {
		t.Fatalf("bad hex: %v", err)
	}
	// --tcb-status picks the development TCB level the quote's platform is at.
	if _, _, err := runCmd(t, NewRootCommand(), "simulate", "openenclave", "--data", dir, "--tcb-status", "OutOfDate", "--out", qFile); err != nil {
		t.Fatal(err)
	}
	rep, _ := os.ReadFile(qFile)
	if ores, err := openenclave.NewVerifier(v).Verify(context.Background(), rep); err != nil || ores.TCBStatus != "OutOfDate" {
		t.Fatalf("--tcb-status OutOfDate: %v", err)
	}
	if _, _, err := runCmd(t, NewRootCommand(), "simulate", "sgx", "--data", dir, "--tcb-status", "Fine", "--out", qFile); err == nil || !strings.Contains(err.Error(), "--tcb-status") || !strings.Contains(err.Error(), "SWHardeningNeeded") {
		t.Fatalf("bad --tcb-status: %v", err)
	}

	// keys-release against the handler, with a token carrying the enclave key.
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "maat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.CreateInstance(context.Background(), store.Instance{ID: "default", Issuer: "https://maat.test", Mode: store.ModeAAD})
	iss, _ := fake.NewTokenIssuer("https://maat.test", nil)
	svc := &keyrelease.Service{Store: st, InstanceID: "default", Sealer: keys.PlainSealer{}, Issuers: []keyrelease.Issuer{keyrelease.LocalIssuer{Issuer: "https://maat.test", Signers: iss.Signers}}}
	hs := httptest.NewServer(&keyrelease.Handler{Service: svc})
	defer hs.Close()
	pol := writeFile(t, "policy.json", []byte(`{"version":"1.0.0","anyOf":[{"authority":"https://maat.test","allOf":[{"claim":"x-ms-sgx-svn","greaterOrEquals":4}]}]}`))
	if out, _, err := runCmd(t, NewRootCommand(), "keys-release", "create", "db", "--endpoint", hs.URL, "--policy", pol, "--kty", "EC-P256"); err != nil || !strings.Contains(out, `"kty": "EC-P256"`) {
		t.Fatalf("create: %v %s", err, out)
	}
	if out, _, err := runCmd(t, NewRootCommand(), "keys-release", "list", "--endpoint", hs.URL); err != nil || !strings.Contains(out, `"name": "db"`) {
		t.Fatalf("list: %v %s", err, out)
	}
	var runtime any
	_ = json.Unmarshal(rt, &runtime)
	tok, _ := iss.Issue(map[string]any{"x-ms-sgx-svn": 4, "x-ms-runtime": runtime, "x-ms-sgx-report-data": c["x-ms-sgx-report-data"]})
	tokFile := writeFile(t, "token.txt", []byte(tok.String()+"\n"))
	out, _, err := runCmd(t, NewRootCommand(), "keys-release", "release", "db", "--endpoint", hs.URL, "--token", tokFile)
	if err != nil {
		t.Fatal(err)
	}
	relFile := writeFile(t, "release.json", []byte(out))
	jwk, _, err := runCmd(t, NewRootCommand(), "keys-release", "open", "--private-key", keyFile, "--in", relFile)
	if err != nil || !strings.Contains(jwk, `"kty":"EC"`) || !strings.Contains(jwk, `"d":`) {
		t.Fatalf("open: %v %s", err, jwk)
	}
	low, _ := iss.Issue(map[string]any{"x-ms-sgx-svn": 3, "x-ms-runtime": runtime, "x-ms-sgx-report-data": c["x-ms-sgx-report-data"]})
	lowFile := writeFile(t, "low.txt", []byte(low.String()))
	if _, _, err := runCmd(t, NewRootCommand(), "keys-release", "release", "db", "--endpoint", hs.URL, "--token", lowFile); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "x-ms-sgx-svn is 3") {
		t.Fatalf("refused release: %v", err)
	}
}
