package app

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// MAA's own 2025-06-01 AzureGuest request example over HTTP: the body as
// the spec sends it (attestationInfo, unpadded base64url, tab-indented
// JSON inside) decodes, every TPM check passes, and the Trusted Launch
// guest is refused only because its AK certificate's CA (Microsoft's
// Global Virtual TPM CA) is not a configured root.
func TestAzureGuestSpecExampleOverHTTP(t *testing.T) {
	raw, err := os.ReadFile("../evidence/azureguest/testdata/maa/2025-06-01_AttestAzureGuestVm.json")
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Parameters struct {
			Body json.RawMessage `json:"body"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	r := start(t, testConfig(t.TempDir()))
	got := sendAuth(t, "http://"+r.app.HTTPAddr(), "POST", "/attest/AzureGuest?api-version=2025-06-01", ex.Parameters.Body, false)
	if got.status != 400 || got.code != "InvalidQuote" || !strings.Contains(got.message, "AK certificate") || !strings.Contains(got.message, "does not chain") {
		t.Fatalf("%d %s %q", got.status, got.code, got.message)
	}
}
