package cli

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/azureguest/guestclient"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/simulate"
)

// simulatedIsolation is the isolation evidence of the TPM simulator as an
// Azure guest: none (Trusted Launch) for "auto" and TrustedLaunch, or for
// SevSnp and Tdx a synthetic HCL report from the development PKI of dataDir
// whose runtime claims name ak as HCLAkPub (for Tdx with the TD quote of
// its TDREPORT), parsed and sent exactly as a real CVM's.
func simulatedIsolation(kind, dataDir string, ak crypto.PublicKey) (azureguest.Isolation, error) {
	tdxGuest := false
	switch {
	case strings.EqualFold(kind, "auto"), strings.EqualFold(kind, string(azureguest.TrustedLaunch)):
		return azureguest.Isolation{Type: azureguest.TrustedLaunch}, nil
	case strings.EqualFold(kind, string(azureguest.SevSnp)):
	case strings.EqualFold(kind, string(azureguest.Tdx)):
		tdxGuest = true
	default:
		return azureguest.Isolation{}, fmt.Errorf("--isolation %q: the simulator is a TrustedLaunch, or a simulated SevSnp or Tdx guest", kind)
	}
	rk, ok := ak.(*rsa.PublicKey)
	if !ok {
		return azureguest.Isolation{}, fmt.Errorf("the simulator's AK is %T, want RSA", ak)
	}
	p, err := simulate.Load(dataDir, time.Now())
	if err != nil {
		return azureguest.Isolation{}, err
	}
	var raw, chainOrQuote []byte
	if tdxGuest {
		raw, chainOrQuote, err = p.AzureTDXHCLReport(rk, simulate.DefaultTD())
	} else {
		raw, chainOrQuote, err = p.AzureHCLReport(rk, simulate.SNPGuest{})
	}
	if err != nil {
		return azureguest.Isolation{}, err
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		return azureguest.Isolation{}, err
	}
	if tdxGuest {
		return guestclient.TDXIsolation(r, chainOrQuote)
	}
	return guestclient.SNPIsolation(r, chainOrQuote)
}
