package guestclient

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/tdx"
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

// TDXIsolation returns the Tdx isolation evidence a guest sends for its
// parsed HCL report r and the TD quote of r's TDREPORT: the quote as Proof
// and the HCL runtime claims as RunTimeData. It returns an error when r
// does not hold a TDREPORT, or quote is not a TD quote (structure only) whose
// REPORTDATA is the TDREPORT's: a quote of another TD report.
func TDXIsolation(r *hcl.Report, quote []byte) (azureguest.Isolation, error) {
	if _, err := r.TDReport(); err != nil {
		return azureguest.Isolation{}, err
	}
	q, err := tdx.ParseQuote(quote)
	if err != nil {
		return azureguest.Isolation{}, fmt.Errorf("azureguest: the TD quote: %w", err)
	}
	if !bytes.Equal(q.Body.ReportData[:], r.ReportData()) {
		return azureguest.Isolation{}, errors.New("azureguest: the TD quote's REPORTDATA is not the HCL report's TDREPORT REPORTDATA: it is the quote of another TD report")
	}
	return azureguest.Isolation{Type: azureguest.Tdx, Proof: bytes.Clone(quote), RunTimeData: r.Claims}, nil
}
