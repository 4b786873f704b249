package cli

import (
	"path/filepath"
	"testing"

	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// `maat evidence inspect --type hcl` on real Azure HCL reports: the SNP one
// (trustee, via the hcl package's testdata) and the TDX one (tdxvectors).
func TestEvidenceInspectHCL(t *testing.T) {
	m, _, err := runEvidence(t, "inspect", "--type", "hcl", "--evidence", filepath.Join("..", "evidence", "hcl", "testdata", "trustee-snp-hcl-report.bin"))
	if err != nil {
		t.Fatal(err)
	}
	snp, _ := m["snpReport"].(map[string]any)
	rc, _ := m["runtimeClaims"].(map[string]any)
	if m["reportType"] != "SNP" || m["claimsBound"] != true || m["claimSize"] != float64(1110) || snp == nil || rc["vm-configuration"] == nil {
		t.Fatalf("SNP HCL: %v", m)
	}
	m, _, err = runEvidence(t, "inspect", "--type", "hcl", "--evidence", tdxvectors.Path("azure_dcesv5", "hcl-report.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if m["reportType"] != "TDX" || m["claimsBound"] != true || m["tdReport"] == nil || m["version"] != float64(2) {
		t.Fatalf("TDX HCL: %v", m)
	}
	if _, _, err := runEvidence(t, "inspect", "--type", "hcl", "--evidence", tdxvectors.Path("azure_dcesv5", "quote.bin")); err == nil {
		t.Fatal("a TD quote inspected as an HCL report")
	}
}
