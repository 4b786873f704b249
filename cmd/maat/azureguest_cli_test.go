//go:build simulator

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAttestAzureGuestWithSimulator: `maat attest azureguest --simulator`
// against a fresh `maat serve --dev` runs the whole AzureGuest protocol
// through the SDK — a Trusted Launch guest on the TPM simulator whose AK the
// dev AIK CA certified, the default AzureGuest policy (secure boot), the
// token sealed to the EncKey and unsealed in the TPM, validated against the
// server's keys — and prints the azurevm claims. A production server does
// not trust the dev CA and refuses the guest for its AK chain.
func TestAttestAzureGuestWithSimulator(t *testing.T) {
	s := startServe(t, "--data", t.TempDir(), "--dev", "--dev-bearer-token", "tok")
	out, stderr, code := run(t, "attest", "azureguest", "--simulator", "--endpoint", s.base, "--payload", "nonce=cli")
	if code != 0 {
		t.Fatalf("attest azureguest: exit %d: %s", code, stderr)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(out), &claims); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	root, _ := claims["x-maat-azurevm-akcert-root"].(string)
	rt, _ := claims["x-ms-runtime"].(map[string]any)
	cp, _ := rt["client-payload"].(map[string]any)
	if claims["x-ms-attestation-type"] != "azurevm" || claims["secureboot"] != true || !strings.Contains(root, "development") ||
		cp["nonce"] != "Y2xp" || claims["x-maat-azurevm-isolation-type"] != "TrustedLaunch" {
		t.Fatalf("claims %v", claims)
	}

	p := startServe(t, "--data", t.TempDir(), "--auth-disabled")
	_, stderr, code = run(t, "attest", "azureguest", "--simulator", "--endpoint", p.base)
	if code == 0 || !strings.Contains(stderr, "azure-vtpm-ak-roots") {
		t.Fatalf("production server: exit %d %q", code, stderr)
	}
}

// `maat attest azureguest --simulator --isolation Tdx` is a simulated TDX
// CVM: a synthetic HCL report with a TDREPORT and its TD quote from the
// development PKI of --data, accepted by a --dev server trusting simulated
// evidence on that data directory; the token says so.
func TestAttestAzureGuestSimulatedTdx(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "--data", data, "--dev", "--dev-bearer-token", "tok", "--dev-trust-simulated-evidence")
	out, stderr, code := run(t, "attest", "azureguest", "--simulator", "--isolation", "Tdx", "--data", data, "--endpoint", s.base)
	if code != 0 {
		t.Fatalf("attest azureguest: exit %d: %s", code, stderr)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(out), &claims); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	tee, _ := claims["x-ms-isolation-tee"].(map[string]any)
	if claims["x-maat-azurevm-isolation-type"] != "Tdx" || claims["x-maat-simulated-evidence"] != true || tee["x-ms-attestation-type"] != "tdxvm" {
		t.Fatalf("claims %v", claims)
	}
	if _, stderr, code := run(t, "attest", "azureguest", "--simulator", "--isolation", "Vbs", "--data", data, "--endpoint", s.base); code == 0 || !strings.Contains(stderr, "SevSnp or Tdx") {
		t.Fatalf("--isolation Vbs: exit %d %q", code, stderr)
	}
}
