package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateTdxThenAttest: `maat simulate tdx` writes a TD quote from the
// data directory's development PKI that `maat attest tdx` sends to a
// `maat serve --dev --dev-trust-simulated-evidence` on that directory; the
// validated token is marked simulated and carries the chosen fields and
// the runtime data. A server without --dev on the same data directory,
// with the trust flag, refuses the same quote.
func TestSimulateTdxThenAttest(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "--data", data, "--dev", "--dev-bearer-token", "tok", "--dev-trust-simulated-evidence")
	rt := filepath.Join(data, "runtime.json")
	if err := os.WriteFile(rt, []byte(`{"keys":[],"nonce":"tdx"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	quote := filepath.Join(data, "td.quote")
	if _, stderr, code := run(t, "simulate", "tdx", "--data", data, "--runtime-data", rt, "--mrtd", strings.Repeat("7d", 48), "--debug", "--out", quote); code != 0 {
		t.Fatalf("simulate tdx: exit %d: %s", code, stderr)
	}
	out, stderr, code := run(t, "attest", "tdx", "--endpoint", s.base, "--evidence", quote, "--runtime-json", rt)
	if code != 0 {
		t.Fatalf("attest tdx: exit %d: %s", code, stderr)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(out), &claims); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	runtime, _ := claims["x-ms-runtime"].(map[string]any)
	if claims["x-maat-simulated-evidence"] != true || claims["x-ms-attestation-type"] != "tdxvm" || claims["tdx_mrtd"] != strings.Repeat("7d", 48) ||
		claims["dbgstat"] != "enabled" || runtime["nonce"] != "tdx" {
		t.Fatalf("claims %v", claims)
	}

	// The same data directory (its PKI) without --dev: refused.
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	p := startServe(t, "--data", data, "--auth-disabled", "--dev-trust-simulated-evidence")
	_, stderr, code = run(t, "attest", "tdx", "--endpoint", p.base, "--evidence", quote, "--runtime-json", rt)
	if code == 0 || !strings.Contains(stderr, "is not a trusted root") {
		t.Fatalf("production server: exit %d %q", code, stderr)
	}
}
