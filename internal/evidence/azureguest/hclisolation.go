package azureguest

import (
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/maat-attest/maat/internal/evidence/hcl"
)

// SNPIsolation returns the SevSnp isolation evidence a guest sends for its
// parsed HCL report r and the VCEK chain (PEM VCEK, ASK, ARK) of its chip:
// the Proof {"SnpReport","VcekCertChain"} and the HCL runtime claims as
// RunTimeData, as Microsoft's guest-attestation library builds them. It
// returns an error when r does not hold an SNP report or chain is empty.
func SNPIsolation(r *hcl.Report, chain []byte) (Isolation, error) {
	rep, err := r.SNPReport()
	if err != nil {
		return Isolation{}, err
	}
	if len(chain) == 0 {
		return Isolation{}, errors.New("azureguest: an SEV-SNP VM needs the VCEK chain (PEM VCEK, ASK, ARK)")
	}
	proof, err := json.Marshal(map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(rep), "VcekCertChain": base64.StdEncoding.EncodeToString(chain)})
	if err != nil {
		return Isolation{}, err
	}
	return Isolation{Type: SevSnp, Proof: proof, RunTimeData: r.Claims}, nil
}
