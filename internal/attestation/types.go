// Package attestation is Maat's attestation pipeline and policy management,
// free of HTTP types: evidence → verify → bind runtime/init-time data →
// evaluate the instance's policy (or a draft) → issue the token; and the MAA
// policy and policy-management-certificate operations in AAD and Isolated
// modes. Every failure is a *maaerr.Error with MAA's code.
package attestation

import (
	"strings"

	"github.com/maat-attest/maat/internal/maaerr"
)

// Attestation types, spelled as MAA spells them in paths and enums.
const (
	TypeSGX         = "SgxEnclave"
	TypeOpenEnclave = "OpenEnclave"
	TypeTPM         = "Tpm"
	TypeSEVSNP      = "SevSnpVm"
	TypeTDX         = "TdxVm"
	TypeAzureGuest  = "AzureGuest"
)

var knownTypes = []string{TypeSGX, TypeOpenEnclave, TypeTPM, TypeSEVSNP, TypeTDX, TypeAzureGuest}

// CanonicalType returns MAA's spelling of an attestation type given in any
// case, or InvalidParameter for an unknown type.
func CanonicalType(s string) (string, error) {
	for _, t := range knownTypes {
		if strings.EqualFold(s, t) {
			return t, nil
		}
	}
	return "", maaerr.New(maaerr.InvalidParameter, "The attestation type '%s' is not supported. Supported types: %s.", s, strings.Join(knownTypes, ", "))
}
