package sgx

import (
	"crypto/x509"

	"github.com/maat-attest/maat/internal/evidence/dcap"
)

// Names shared with TDX, defined in internal/evidence/dcap and re-exported
// so that callers of this package need no second import.

// Sentinel errors, one per failure kind. Every error returned by this package
// is a *maaerr.Error whose chain contains exactly one of these; test with
// errors.Is.
var (
	// Structure (maaerr.InvalidParameter).
	ErrMalformedQuote      = dcap.ErrMalformedQuote
	ErrUnsupportedQuote    = dcap.ErrUnsupportedQuote
	ErrUnsupportedCertType = dcap.ErrUnsupportedCertType
	ErrMalformedPCKExt     = dcap.ErrMalformedPCKExt

	// Verification (maaerr.InvalidQuote).
	ErrPCKChain              = dcap.ErrPCKChain
	ErrUntrustedRoot         = dcap.ErrUntrustedRoot
	ErrCertificateExpired    = dcap.ErrCertificateExpired
	ErrPCKRevoked            = dcap.ErrPCKRevoked
	ErrCARevoked             = dcap.ErrCARevoked
	ErrCRL                   = dcap.ErrCRL
	ErrTCBSigningChain       = dcap.ErrTCBSigningChain
	ErrTCBInfo               = dcap.ErrTCBInfo
	ErrTCBInfoSignature      = dcap.ErrTCBInfoSignature
	ErrQEIdentity            = dcap.ErrQEIdentity
	ErrQEIdentitySignature   = dcap.ErrQEIdentitySignature
	ErrCollateralExpired     = dcap.ErrCollateralExpired
	ErrCollateralNotYetValid = dcap.ErrCollateralNotYetValid
	ErrFMSPCMismatch         = dcap.ErrFMSPCMismatch
	ErrPCEIDMismatch         = dcap.ErrPCEIDMismatch
	ErrQEReportSignature     = dcap.ErrQEReportSignature
	ErrQEReportData          = dcap.ErrQEReportData
	ErrQEIdentityMismatch    = dcap.ErrQEIdentityMismatch
	ErrAttestationKey        = dcap.ErrAttestationKey
	ErrQuoteSignature        = dcap.ErrQuoteSignature
	ErrTCBNotSupported       = dcap.ErrTCBNotSupported
	ErrQETCBNotSupported     = dcap.ErrQETCBNotSupported
	ErrTCBRevoked            = dcap.ErrTCBRevoked
	ErrPCKChainMissing       = dcap.ErrPCKChainMissing
	ErrCollateral            = dcap.ErrCollateral
	ErrRuntimeDataMismatch   = dcap.ErrRuntimeDataMismatch
)

// OIDSGXExtension is the PCK certificate's SGX extension.
var OIDSGXExtension = dcap.OIDSGXExtension

// PCK certificate extension types.
type (
	SGXType               = dcap.SGXType
	PCKExtensions         = dcap.PCKExtensions
	PlatformConfiguration = dcap.PlatformConfiguration
)

// SGX types.
const (
	SGXTypeStandard              = dcap.SGXTypeStandard
	SGXTypeScalable              = dcap.SGXTypeScalable
	SGXTypeScalableWithIntegrity = dcap.SGXTypeScalableWithIntegrity
)

// PCKExtensionsFromCertificate decodes cert's SGX extension (see
// dcap.PCKExtensionsFromCertificate for the errors).
func PCKExtensionsFromCertificate(cert *x509.Certificate) (*PCKExtensions, error) {
	return dcap.PCKExtensionsFromCertificate(cert)
}

// ParsePCKExtensions decodes a DER SGX extension (see
// dcap.ParsePCKExtensions for the errors).
func ParsePCKExtensions(der []byte) (*PCKExtensions, error) { return dcap.ParsePCKExtensions(der) }

// Trust roots.
type TrustRoot = dcap.TrustRoot

// IntelRootName is the Name of the production trust root.
const IntelRootName = dcap.IntelRootName

// IntelRoot returns the production Intel SGX Root CA.
func IntelRoot() TrustRoot { return dcap.IntelRoot() }

// NewTrustRoot parses a PEM or DER root certificate with an ECDSA P-256 key.
// It returns an error when b holds no such certificate.
func NewTrustRoot(name string, b []byte) (TrustRoot, error) { return dcap.NewTrustRoot(name, b) }
