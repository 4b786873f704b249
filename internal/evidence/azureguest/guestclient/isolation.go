package guestclient

import (
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/hcl"
)

// SNPIsolation returns the SevSnp isolation evidence a guest sends for its
// parsed HCL report r and the VCEK chain (PEM VCEK, ASK, ARK) of its chip:
// the Proof {"SnpReport","VcekCertChain"} and the HCL runtime claims as
// RunTimeData, as Microsoft's guest-attestation library builds them. It
// returns an error when r does not hold an SNP report or chain is empty.
func SNPIsolation(r *hcl.Report, chain []byte) (azureguest.Isolation, error) {
	rep, err := r.SNPReport()
	if err != nil {
		return azureguest.Isolation{}, err
	}
	if len(chain) == 0 {
		return azureguest.Isolation{}, errors.New("azureguest: an SEV-SNP VM needs the VCEK chain (PEM VCEK, ASK, ARK)")
	}
	proof, err := json.Marshal(map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(rep), "VcekCertChain": base64.StdEncoding.EncodeToString(chain)})
	if err != nil {
		return azureguest.Isolation{}, err
	}
	return azureguest.Isolation{Type: azureguest.SevSnp, Proof: proof, RunTimeData: r.Claims}, nil
}
