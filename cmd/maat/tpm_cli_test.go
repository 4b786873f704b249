//go:build simulator

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttestTPMWithSimulator runs the CLI as a user would against a fresh
// `maat serve --dev`: `maat policy set` puts a TPM policy on it, then `maat
// attest tpm --simulator` drives the whole /attest/Tpm exchange from the
// built-in TPM 2.0 simulator, with no issuer or PCR flag, and prints the
// validated report's claims: the AIK validated through the dev AIK CA, which
// the token names.
func TestAttestTPMWithSimulator(t *testing.T) {
	s := startServe(t, "--data", t.TempDir(), "--dev", "--dev-bearer-token", "tok")
	issuer := strings.Replace(s.base, "127.0.0.1", "localhost", 1)
	pol := filepath.Join("..", "..", "examples", "quickstart", "tpm.policy")
	common := []string{"--endpoint", s.base}
	// Without a policy: MAA's refusal, and the CLI says what to do.
	if _, stderr, code := run(t, append([]string{"attest", "tpm", "--simulator"}, common...)...); code == 0 || !strings.Contains(stderr, "maat policy set --type") {
		t.Fatalf("no policy: exit %d %q", code, stderr)
	}
	if _, stderr, code := run(t, append([]string{"policy", "set", "--type", "Tpm", "--bearer-token", "tok", pol}, common...)...); code != 0 {
		t.Fatalf("policy set: %d %s", code, stderr)
	}
	out, stderr, code := run(t, append([]string{"attest", "tpm", "--simulator", "--rp-id", "https://rp.example"}, common...)...)
	if code != 0 {
		t.Fatalf("attest tpm: exit %d: %s", code, stderr)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(out), &claims); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	root, _ := claims["x-maat-tpm-aik-root"].(string)
	if claims["aikValidated"] != true || !strings.Contains(root, "development") || claims["tpmVersion"] != float64(2) ||
		claims["cnf"] == nil || claims["iss"] != issuer || claims["quickstart"] != "tpm" {
		t.Fatalf("claims %v", claims)
	}
	// A quote of a PCR outside 0-23 is refused before anything is sent.
	if _, stderr, code := run(t, append([]string{"attest", "tpm", "--simulator", "--pcrs", "0-30"}, common...)...); code == 0 || !strings.Contains(stderr, "--pcrs") {
		t.Fatalf("bad --pcrs: exit %d %q", code, stderr)
	}
}

// TestAttestTPMSimulatorProductionRefusals: a server outside --dev does not
// trust the dev AIK CA and applies MAA's defaults (require_valid_aik_cert,
// required_pcr_mask 0xFFFFFF); each refusal says what to change.
func TestAttestTPMSimulatorProductionRefusals(t *testing.T) {
	s := startServe(t, "--data", t.TempDir(), "--auth-disabled")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	strictPol := write("strict.policy", `version=1.2;
authorizationrules { => permit(); };
issuancerules { c:[type=="aikValidated", issuer=="AttestationService"] => issue(type="aikValidated", value=c.value); };`)
	lenientPol := write("lenient.policy", `version=1.2;
configurationrules { => issueproperty(type="require_valid_aik_cert", value=false); };
authorizationrules { => permit(); };
issuancerules { c:[type=="aikValidated", issuer=="AttestationService"] => issue(type="aikValidated", value=c.value); };`)
	common := []string{"--endpoint", s.base}
	setPolicy := func(p string) {
		t.Helper()
		if _, stderr, code := run(t, append([]string{"policy", "set", "--type", "Tpm", "--anonymous", p}, common...)...); code != 0 {
			t.Fatalf("policy set: %d %s", code, stderr)
		}
	}

	setPolicy(strictPol)
	_, stderr, code := run(t, append([]string{"attest", "tpm", "--simulator"}, common...)...)
	for _, want := range []string{"require_valid_aik_cert", "tpm-aik-root", `issueproperty(type="require_valid_aik_cert", value=false)`} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("uncertified AIK: exit %d, stderr %q lacks %q", code, stderr, want)
		}
	}

	setPolicy(lenientPol)
	_, stderr, code = run(t, append([]string{"attest", "tpm", "--simulator", "--pcrs", "0-7"}, common...)...)
	for _, want := range []string{"required_pcr_mask", "--pcrs", "8 9 10"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("PCRs 0-7 only: exit %d, stderr %q lacks %q", code, stderr, want)
		}
	}
	out, stderr, code := run(t, append([]string{"attest", "tpm", "--simulator"}, common...)...)
	if code != 0 || !strings.Contains(out, `"aikValidated": false`) || strings.Contains(out, "x-maat-tpm-aik-root") {
		t.Fatalf("lenient policy, all PCRs: exit %d, %s %s", code, out, stderr)
	}
}
