package dcap

import "errors"

// Sentinel errors, one per failure kind. Every error returned by this package
// is a *maaerr.Error whose chain contains exactly one of these; test with
// errors.Is.
var (
	// Structure (maaerr.InvalidParameter).
	ErrMalformedQuote      = errors.New("malformed quote")
	ErrUnsupportedQuote    = errors.New("unsupported quote")
	ErrUnsupportedCertType = errors.New("unsupported certification data type")
	ErrMalformedPCKExt     = errors.New("malformed PCK certificate SGX extension")

	// Verification (maaerr.InvalidQuote).
	ErrPCKChain              = errors.New("invalid PCK certificate chain")
	ErrUntrustedRoot         = errors.New("certificate chain does not end at a trusted root")
	ErrCertificateExpired    = errors.New("certificate not valid at the verification time")
	ErrPCKRevoked            = errors.New("PCK certificate revoked")
	ErrCARevoked             = errors.New("intermediate or signing certificate revoked")
	ErrCRL                   = errors.New("invalid CRL")
	ErrTCBSigningChain       = errors.New("invalid TCB signing certificate chain")
	ErrTCBInfo               = errors.New("invalid TCB Info")
	ErrTCBInfoSignature      = errors.New("invalid TCB Info signature")
	ErrQEIdentity            = errors.New("invalid QE Identity")
	ErrQEIdentitySignature   = errors.New("invalid QE Identity signature")
	ErrCollateralExpired     = errors.New("collateral expired")
	ErrCollateralNotYetValid = errors.New("collateral not yet valid")
	ErrFMSPCMismatch         = errors.New("FMSPC of PCK certificate does not match TCB Info")
	ErrPCEIDMismatch         = errors.New("PCE-ID of PCK certificate does not match TCB Info")
	ErrQEReportSignature     = errors.New("invalid QE report signature")
	ErrQEReportData          = errors.New("QE report data does not bind the attestation key")
	ErrQEIdentityMismatch    = errors.New("QE report does not match the QE Identity")
	ErrAttestationKey        = errors.New("invalid attestation key")
	ErrQuoteSignature        = errors.New("invalid quote signature")
	ErrTCBNotSupported       = errors.New("no TCB level matches the platform")
	ErrQETCBNotSupported     = errors.New("no QE Identity TCB level matches the QE")
	ErrTCBRevoked            = errors.New("TCB status Revoked")
	ErrPCKChainMissing       = errors.New("no PCK certificate chain")
	ErrCollateral            = errors.New("collateral unavailable")
	ErrRuntimeDataMismatch   = errors.New("report data does not match runtime data")
)
