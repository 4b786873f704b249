package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quickstartDir holds the sample evidence, collateral and dev config.
var quickstartDir = filepath.Join("..", "..", "examples", "quickstart")

// devServer is a `maat serve` started with both listeners, as a user runs
// it, with what it printed at start.
type devServer struct {
	https, http, issuer, caCert string
	stdout                      *syncBuffer
}

// startDevServer runs `maat serve --config examples/quickstart/maat.yaml`
// (the Quickstart's server: 2025 evidence, real-clock tokens) on free ports
// with a fresh data directory, plus args.
func startDevServer(t *testing.T, args ...string) *devServer {
	t.Helper()
	base := []string{"serve", "--config", filepath.Join(quickstartDir, "maat.yaml"),
		"--collateral-dir", filepath.Join(quickstartDir, "collateral"),
		"--data", t.TempDir(), "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}
	cmd := exec.Command(maatBin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "MAAT_CONFIG=")
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &devServer{stdout: &syncBuffer{}}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.stdout.Write([]byte(line + "\n"))
			switch {
			case strings.HasPrefix(line, "issuer: "):
				s.issuer = strings.TrimPrefix(line, "issuer: ")
			case strings.HasPrefix(line, "dev TLS certificate: "):
				s.caCert = strings.TrimPrefix(line, "dev TLS certificate: ")
			case strings.HasPrefix(line, "listening on https://"):
				s.https = strings.TrimPrefix(line, "listening on ")
			case strings.HasPrefix(line, "listening on http://"):
				s.http = strings.TrimPrefix(line, "listening on ")
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start; stderr:\n%s", stderr.String())
	}
	return s
}

func runEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(maatBin, args...)
	cmd.Env = append(append(os.Environ(), "MAAT_CONFIG=", "MAAT_CA_CERT=", "MAAT_BEARER_TOKEN="), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func attestOE(endpoint string, extra ...string) []string {
	return append([]string{"attest", "openenclave", "--endpoint", endpoint,
		"--evidence", filepath.Join(quickstartDir, "openenclave_report.b64url"),
		"--runtime-data", filepath.Join(quickstartDir, "runtime_data.b64url")}, extra...)
}

// The CLI against either listener of a default dev server, with no issuer
// flag, validates the token (at today's clock: the server replays 2025
// evidence with --dev-evidence-time); the HTTPS listener is trusted through
// --ca-cert or MAAT_CA_CERT, the line the server prints.
func TestCLIValidatesOnBothListeners(t *testing.T) {
	s := startDevServer(t)
	if !strings.Contains(s.stdout.String(), "export MAAT_CA_CERT="+s.caCert) {
		t.Fatalf("the dev server does not print the MAAT_CA_CERT line:\n%s", s.stdout)
	}
	for _, tc := range []struct {
		name     string
		env, cmd []string
	}{
		{"http", nil, attestOE(s.http)},
		{"https --ca-cert", nil, attestOE(s.https, "--ca-cert", s.caCert)},
		{"https MAAT_CA_CERT", []string{"MAAT_CA_CERT=" + s.caCert}, attestOE(s.https)},
		{"https localhost", []string{"MAAT_CA_CERT=" + s.caCert}, attestOE(s.issuer)},
	} {
		out, stderr, code := runEnv(t, tc.env, tc.cmd...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
		}
		var claims map[string]any
		if err := json.Unmarshal([]byte(out), &claims); err != nil {
			t.Fatalf("%s: %q: %v", tc.name, out, err)
		}
		exp, _ := claims["exp"].(float64)
		if claims["iss"] != s.issuer || time.Unix(int64(exp), 0).Before(time.Now()) || claims["x-ms-sgx-mrsigner"] == nil {
			t.Fatalf("%s: claims iss %v exp %v", tc.name, claims["iss"], claims["exp"])
		}
	}
	// Without trust for the dev certificate: refused, naming --ca-cert.
	if _, stderr, code := runEnv(t, nil, attestOE(s.https)...); code == 0 || !strings.Contains(stderr, "--ca-cert") {
		t.Fatalf("untrusted https: exit %d %q", code, stderr)
	}
	// --output token writes the JWS, which token decode and verify read.
	tokFile := filepath.Join(t.TempDir(), "token.jwt")
	out, stderr, code := runEnv(t, nil, attestOE(s.http, "--output", "token")...)
	if code != 0 || strings.Count(out, ".") != 2 {
		t.Fatalf("--output token: exit %d %q %s", code, out, stderr)
	}
	os.WriteFile(tokFile, []byte(out), 0o600)
	if _, stderr, code := runEnv(t, []string{"MAAT_CA_CERT=" + s.caCert}, "token", "verify", "--jwks", s.https+"/certs", "--issuer", s.issuer, tokFile); code != 0 {
		t.Fatalf("token verify over https: exit %d %s", code, stderr)
	}
}

// A server whose issuer is another host: the CLI fails closed and the
// message names both values and the flag that accepts the issuer.
func TestCLIIssuerMismatchNamesBoth(t *testing.T) {
	s := startDevServer(t, "--issuer", "https://attest.example.com")
	_, stderr, code := runEnv(t, nil, attestOE(s.http)...)
	for _, want := range []string{`"https://attest.example.com"`, `"` + s.http + `"`, "--expected-issuer https://attest.example.com"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("exit %d, stderr %q lacks %q", code, stderr, want)
		}
	}
	if _, stderr, code := runEnv(t, nil, attestOE(s.http, "--expected-issuer", "https://attest.example.com")...); code != 0 {
		t.Fatalf("with --expected-issuer: exit %d %s", code, stderr)
	}
}

// A refused connection fails in well under 2 s by default (azcore alone
// retries silently for ~9 s), and says what to check.
func TestCLIRefusedConnectionFailsFast(t *testing.T) {
	start := time.Now()
	_, stderr, code := runEnv(t, nil, attestOE("http://127.0.0.1:1")...)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
	if code == 0 || !strings.Contains(stderr, "connection refused") || !strings.Contains(stderr, "is the server running") {
		t.Fatalf("exit %d %q", code, stderr)
	}
}

// policy set and certs add when the change is applied but the response
// token does not validate (here: a wrong --expected-issuer): exit 0 with a
// warning, the change visible; --strict fails and says it was applied.
func TestStateChangingCommandsSucceedWhenApplied(t *testing.T) {
	dir := t.TempDir()
	mgmtKey, mgmtCert := writeMgmtKey(t, dir, "initial")
	s := startDevServer(t, "--mode", "isolated", "--policy-management-cert", mgmtCert)
	pol := filepath.Join(dir, "p.policy")
	os.WriteFile(pol, []byte(`version=1.0; authorizationrules { => permit(); }; issuancerules { => issue(type="which", value="applied"); };`), 0o600)
	bad := []string{"--endpoint", s.http, "--bearer-token", "quickstart-dev-token", "--expected-issuer", "https://wrong.example"}
	signed := []string{"--signing-key", mgmtKey, "--signing-cert", mgmtCert}

	out, stderr, code := runEnv(t, nil, append(append([]string{"policy", "set", "--type", "SgxEnclave", pol}, bad...), signed...)...)
	if code != 0 || !strings.Contains(stderr, "warning: the service applied the change") || !strings.Contains(out, `"Updated"`) {
		t.Fatalf("policy set: exit %d, out %q, stderr %q", code, out, stderr)
	}
	got, stderr, code := runEnv(t, nil, "policy", "get", "--type", "SgxEnclave", "--endpoint", s.http, "--bearer-token", "quickstart-dev-token")
	if code != 0 || !strings.Contains(got, `value="applied"`) {
		t.Fatalf("policy get: exit %d %q %s", code, got, stderr)
	}
	if _, stderr, code := runEnv(t, nil, append(append([]string{"policy", "set", "--strict", "--type", "SgxEnclave", pol}, bad...), signed...)...); code == 0 || !strings.Contains(stderr, "applied the change") {
		t.Fatalf("policy set --strict: exit %d %q", code, stderr)
	}

	_, newCert := writeMgmtKey(t, dir, "second")
	out, stderr, code = runEnv(t, nil, append(append([]string{"certs", "add", newCert}, bad...), signed...)...)
	if code != 0 || !strings.Contains(stderr, "warning: the service applied the change") || !strings.Contains(out, "IsPresent") {
		t.Fatalf("certs add: exit %d, out %q, stderr %q", code, out, stderr)
	}
	list, stderr, code := runEnv(t, nil, "certs", "list", "--endpoint", s.http, "--bearer-token", "quickstart-dev-token")
	if code != 0 || !strings.Contains(list, "CN=second") {
		t.Fatalf("certs list: exit %d %q %s", code, list, stderr)
	}
}

// writeMgmtKey writes a self-signed policy management key and certificate.
func writeMgmtKey(t *testing.T, dir, cn string) (keyFile, certFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile, certFile = filepath.Join(dir, cn+".key"), filepath.Join(dir, cn+".pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	return keyFile, certFile
}

// bench attest exits non-zero when (almost) every request fails and shows
// the first distinct error; a clean run exits 0.
func TestBenchExitCodeAndFirstErrors(t *testing.T) {
	s := startDevServer(t)
	common := []string{"bench", "attest", "--endpoint", s.http, "--duration", "1s", "--concurrency", "2"}
	// An SGX quote sent as an OpenEnclave report: every request fails.
	out, stderr, code := runEnv(t, nil, append(common, "--type", "openenclave", "--evidence", filepath.Join(quickstartDir, "sgx_quote.hex"))...)
	if code == 0 || !strings.Contains(stderr, "requests failed") || !strings.Contains(out, "first error: 400 InvalidParameter: ") {
		t.Fatalf("all failing: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	out, stderr, code = runEnv(t, nil, append(common, "--type", "openenclave", "--evidence", filepath.Join(quickstartDir, "openenclave_report.b64url"))...)
	if code != 0 || !strings.Contains(out, "errors 0") {
		t.Fatalf("clean run: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	// The driver pinned to CPU 0, leaving the other cores to the server.
	oe := append(common, "--type", "openenclave", "--evidence", filepath.Join(quickstartDir, "openenclave_report.b64url"))
	out, stderr, code = runEnv(t, nil, append(oe, "--driver-cpus", "0", "--json")...)
	var pinned struct {
		Requests   int64 `json:"requests"`
		DriverCPUs []int `json:"driverCpus"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &pinned) != nil || len(pinned.DriverCPUs) != 1 || pinned.DriverCPUs[0] != 0 || pinned.Requests == 0 {
		t.Fatalf("--driver-cpus 0: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	for _, bad := range []string{"x", "3-1", "4095"} {
		_, stderr, code = runEnv(t, nil, append(oe, "--driver-cpus", bad)...)
		if code == 0 || !strings.Contains(stderr, "--driver-cpus") {
			t.Errorf("--driver-cpus %s: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

// maat version and maat --version print the same build information (Go
// version at least, from debug.ReadBuildInfo); the server logs it at start
// and sends it in x-maat-version.
func TestVersionEverywhere(t *testing.T) {
	v, _, code := runEnv(t, nil, "version")
	v2, _, code2 := runEnv(t, nil, "--version")
	if code != 0 || code2 != 0 || v != v2 || !strings.HasPrefix(v, "maat ") || !strings.Contains(v, "go1.") {
		t.Fatalf("version %q (exit %d), --version %q (exit %d)", v, code, v2, code2)
	}
	out, _, code := runEnv(t, nil, "version", "--json")
	var b struct{ Version, GoVersion string }
	if code != 0 || json.Unmarshal([]byte(out), &b) != nil || b.Version == "" || !strings.HasPrefix(b.GoVersion, "go1.") {
		t.Fatalf("version --json: %q", out)
	}
	s := startServe(t, "--data", t.TempDir())
	resp, err := http.Get(s.base + "/certs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("x-maat-version"); !strings.HasPrefix(got, b.Version) {
		t.Fatalf("x-maat-version %q, want %q", got, b.Version)
	}
	if !strings.Contains(s.stderr.String(), `msg="maat starting" version=`) {
		t.Fatalf("no version in the start log:\n%s", s.stderr)
	}
}

// A start that fails on something checkable leaves no state behind, and
// read-only commands never create a data directory.
func TestFailedStartsLeaveNoState(t *testing.T) {
	busy := startServe(t, "--data", t.TempDir())
	addr := strings.TrimPrefix(busy.base, "http://")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("junk"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--https-addr", "", "--http-addr", addr}, "address already in use"},
		{[]string{"serve", "--dev", "--https-addr", "", "--http-addr", "127.0.0.1:0", "--mode", "isolated"}, "policy-management-cert: Isolated mode needs"},
		{[]string{"serve", "--https-addr", "127.0.0.1:0", "--tls-cert", junk, "--tls-key", junk}, "are not a PEM certificate"},
		{[]string{"keys", "list"}, "no Maat data in"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		_, stderr, code := runEnv(t, nil, append(tc.args, "--data", data)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("%v left %s behind (%v)", tc.args, data, err)
		}
	}
}

// Configuration problems are all reported at once, with suggestions.
func TestServeReportsAllConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "maat.yaml")
	os.WriteFile(file, []byte("htps-addr: 127.0.0.1:1\nlog-level: loud\n"), 0o600)
	_, stderr, code := runEnv(t, []string{"MAAT_SHUTDOWN_TIMEOUT=forever"}, "serve", "--config", file)
	for _, want := range []string{`unknown key "htps-addr" (did you mean "https-addr"?)`, "MAAT_SHUTDOWN_TIMEOUT"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr %q lacks %q", code, stderr, want)
		}
	}
	// With the sources fixed, every validation problem at once.
	os.WriteFile(file, []byte("log-level: loud\nmode: shared\n"), 0o600)
	_, stderr, code = runEnv(t, nil, "serve", "--config", file, "--https-addr", "", "--http-addr", "127.0.0.1:0", "--data", t.TempDir())
	for _, want := range []string{"log-level:", "mode:"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr %q lacks %q", code, stderr, want)
		}
	}
}

// examples/maat.yaml is a configuration `maat serve --config` accepts: only
// its file paths, data directory and addresses are replaced here.
func TestExampleConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	cmd := exec.Command(maatBin, "serve", "--config", filepath.Join("..", "..", "examples", "maat.yaml"),
		"--tls-cert", cert, "--tls-key", key, "--data", filepath.Join(dir, "data"),
		"--key-encryption-key-file", "", "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "MAAT_CONFIG=")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.HasPrefix(sc.Text(), "listening on http://") {
			break
		}
	}
	out := strings.Join(seen, "\n")
	if !strings.Contains(out, "issuer: https://attest.example.com") || !strings.Contains(out, "listening on https://") {
		t.Fatalf("server with examples/maat.yaml did not start as configured:\n%s\nstderr:\n%s", out, stderr.String())
	}
}
