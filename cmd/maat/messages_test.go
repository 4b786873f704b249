package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The first errors a new user meets say what to change, once, in the
// user's terms (issue 12's error-message list; evidence verify's are the
// evidence command's own tests).
func TestFirstHourErrorMessages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badPolicy := write("bad.policy", "version=1.0;\nauthorizationrules { => permit() };\nissuancerules {};\n")
	goodPolicy := filepath.Join(quickstartDir, "sgx.policy")
	arrayOfNumbers := write("claims.json", "[1, 2]")

	t.Run("policy get without a token names --bearer-token", func(t *testing.T) {
		_, stderr, code := runEnv(t, nil, "policy", "get", "--type", "SgxEnclave", "--endpoint", "http://127.0.0.1:1")
		if code == 0 || !strings.Contains(stderr, "--bearer-token") || !strings.Contains(stderr, "dev bearer token") ||
			strings.Contains(stderr, "DefaultAzureCredential") || strings.Count(stderr, "\n") > 2 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("policy check prints the error once", func(t *testing.T) {
		_, stderr, code := runEnv(t, nil, "policy", "check", badPolicy)
		if code == 0 || strings.Count(stderr, badPolicy) != 1 || !strings.Contains(stderr, badPolicy+":2:34:") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("policy eval with an array of numbers explains the shape", func(t *testing.T) {
		_, stderr, code := runEnv(t, nil, "policy", "eval", "--policy", goodPolicy, "--claims", arrayOfNumbers)
		if code == 0 || strings.Contains(stderr, "Go value") || strings.Contains(stderr, "struct {") ||
			!strings.Contains(stderr, "element 0 is a number") || !strings.Contains(stderr, `"type"`) {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("attest tdx defaults to the api-version TdxVm needs", func(t *testing.T) {
		_, stderr, code := runEnv(t, nil, "attest", "tdx", "--endpoint", "http://127.0.0.1:1", "--retries", "0",
			"--evidence", filepath.Join(quickstartDir, "sgx_quote.hex"), "--verbose")
		if code == 0 || strings.Contains(stderr, "needs ServiceVersion") || !strings.Contains(stderr, "api-version=2025-06-01") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("keys retire of the active key says to rotate, no store internals", func(t *testing.T) {
		data := t.TempDir()
		s := startServe(t, "--data", data)
		kid := kids(t, s.base)[0]
		_, stderr, code := runEnv(t, nil, "keys", "retire", kid, "--data", data)
		if code == 0 || strings.Contains(stderr, "store: conflict") || !strings.Contains(stderr, "maat keys rotate") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		_, stderr, code = runEnv(t, nil, "keys", "retire", "nosuchkid", "--data", data)
		if code == 0 || strings.Contains(stderr, "store: not found") || !strings.Contains(stderr, "maat keys list") {
			t.Fatalf("unknown kid: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("attest --runtime-data decodes base64 text as evidence verify does", func(t *testing.T) {
		s := startDevServer(t)
		// The file is base64url text; the report binds SHA-256 of the bytes
		// it encodes, so the attestation succeeds only if they are sent.
		out, stderr, code := runEnv(t, nil, attestOE(s.http)...)
		if code != 0 || !strings.Contains(out, `"x-ms-sgx-ehd": "CiAgICAgICAgewog`) {
			t.Fatalf("exit %d %s %s", code, out, stderr)
		}
	})
}
