package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttestTPMWithSimulator runs the CLI as a user would: `maat policy set`
// puts a TPM policy on a running `maat serve`, then `maat attest tpm
// --simulator` drives the whole /attest/Tpm exchange from the built-in TPM
// 2.0 simulator and prints the validated report's claims.
func TestAttestTPMWithSimulator(t *testing.T) {
	s := startServe(t, "--data", t.TempDir(), "--dev", "--dev-bearer-token", "tok", "--issuer", "")
	issuer := strings.Replace(s.base, "127.0.0.1", "localhost", 1)
	pol := filepath.Join(t.TempDir(), "tpm.policy")
	os.WriteFile(pol, []byte(`version=1.1;
configurationrules{
	=> issueproperty(type="required_pcr_mask", value=255);
	=> issueproperty(type="require_valid_aik_cert", value=false);
};
authorizationrules{ => permit(); };
issuancerules{
	c:[type=="aikValidated"] => issue(type="aikValidated", value=c.value);
	c:[type=="tpmVersion"] => issue(type="tpmVersion", value=c.value);
};`), 0o600)
	common := []string{"--endpoint", s.base, "--expected-issuer", issuer}
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
	if claims["aikValidated"] != false || claims["tpmVersion"] != float64(2) || claims["cnf"] == nil || claims["iss"] != issuer {
		t.Fatalf("claims %v", claims)
	}
	// A quote of a PCR outside 0-23 is refused before anything is sent.
	if _, stderr, code := run(t, append([]string{"attest", "tpm", "--simulator", "--pcrs", "0-30"}, common...)...); code == 0 || !strings.Contains(stderr, "--pcrs") {
		t.Fatalf("bad --pcrs: exit %d %q", code, stderr)
	}
}
