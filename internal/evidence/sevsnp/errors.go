package sevsnp

import (
	"errors"

	"github.com/maat-attest/maat/internal/maaerr"
)

// Sentinel errors, one per failure kind. Every error the exported Verify
// methods return is a *maaerr.Error whose chain contains one of these; test
// with errors.Is.
var (
	// Structure and request problems (maaerr.InvalidParameter).
	ErrMalformedRequest  = errors.New("malformed SevSnpVm report")
	ErrMalformedReport   = errors.New("malformed SEV-SNP report")
	ErrUnsupportedReport = errors.New("unsupported SEV-SNP report")
	ErrMalformedChain    = errors.New("malformed VCEK certificate chain")
	ErrNoVCEK            = errors.New("no VCEK or VLEK certificate")
	ErrTCBBelowMinimum   = errors.New("SEV-SNP TCB below the configured minimum")
	ErrMalformedEndorse  = errors.New("malformed UVM endorsement")

	// Verification failures (maaerr.InvalidQuote).
	ErrProductMismatch   = errors.New("certificate chain is for another AMD product")
	ErrUntrustedRoot     = errors.New("certificate chain does not end at AMD's root key")
	ErrChain             = errors.New("invalid VCEK certificate chain")
	ErrCertificateExpiry = errors.New("certificate not valid at the verification time")
	ErrTCBMismatch       = errors.New("VCEK TCB does not match the report's REPORTED_TCB")
	ErrChipIDMismatch    = errors.New("VCEK hardware ID does not match the report's CHIP_ID")
	ErrSignature         = errors.New("invalid SEV-SNP report signature")
	ErrRevoked           = errors.New("AMD signing key revoked")
	ErrCRL               = errors.New("AMD CRL unavailable or invalid")
	ErrEndorsement       = errors.New("invalid UVM endorsement")
	// ErrHCLBinding: a raw HCL report whose runtime claims are not bound to
	// its SNP report, or whose SNP report is not the paravisor's (VMPL 0).
	ErrHCLBinding = errors.New("HCL runtime claims not bound to the SNP report")
)

var paramErrors = []error{ErrMalformedRequest, ErrMalformedReport, ErrUnsupportedReport, ErrMalformedChain, ErrNoVCEK, ErrTCBBelowMinimum, ErrMalformedEndorse}

var allErrors = append(append([]error(nil), paramErrors...), ErrProductMismatch, ErrUntrustedRoot, ErrChain, ErrCertificateExpiry,
	ErrTCBMismatch, ErrChipIDMismatch, ErrSignature, ErrRevoked, ErrCRL, ErrEndorsement, ErrHCLBinding)

// toMaa turns an internal error (wrapping a sentinel) into the *maaerr.Error
// the exported API returns: request and structure problems are
// InvalidParameter, verification failures InvalidQuote (as SGX).
func toMaa(err error) error {
	if err == nil {
		return nil
	}
	var me *maaerr.Error
	if errors.As(err, &me) {
		return err
	}
	code, cause := maaerr.InvalidQuote, err
	for _, s := range allErrors {
		if errors.Is(err, s) {
			cause = s
			break
		}
	}
	for _, s := range paramErrors {
		if errors.Is(err, s) {
			code = maaerr.InvalidParameter
			break
		}
	}
	// The message already carries the sentinel's text; keep only the
	// sentinel as the cause so errors.Is works and logs do not repeat it.
	return &maaerr.Error{Code: code, Message: err.Error(), Err: cause}
}
