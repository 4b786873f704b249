// Package sgx parses and verifies Intel SGX DCAP ECDSA quotes (version 3, and
// versions 4 and 5 carrying an SGX enclave report) the way Intel's Quote
// Verification Library (QVL/QvE) does, in pure Go.
//
// The checks SGX shares with TDX (quote envelope, certification data, PCK
// chain, CRLs, TCB Info and QE Identity, QE report, attestation-key binding,
// quote signature, status merge, collateral hashes) live in
// internal/evidence/dcap; this package keeps the SGX enclave report, SGX TCB
// level selection and the SGX claims, and re-exports the shared names its
// callers use.
//
// The package keeps three steps apart:
//
//   - ParseQuote checks structure only: every length before use, sizes bounded,
//     input copied. It does no cryptography.
//   - ParsePCKExtensions decodes the SGX extension of a PCK certificate.
//   - Verifier.Verify does the cryptography and the collateral checks: the PCK
//     chain to a pinned root, CRLs, TCB Info and QE Identity signatures and
//     validity, the QE report, the quote signature, TCB level selection and
//     the QE status merge. It returns a *Result only when every check passed.
//
// Appraisal (policy) is not done here; Result.Claims gives the MAA-named
// claims a policy engine consumes.
//
// Errors: every failure is a *maaerr.Error. Structural problems with the
// evidence (it is not a well-formed quote) carry maaerr.InvalidParameter,
// matching MAA's documented "invalid quote" InvalidParameter answers; a
// well-formed quote that fails verification (signatures, chains, collateral,
// TCB) carries maaerr.InvalidQuote, the code MAA was observed to return for
// such evidence; a collateral source that cannot deliver carries
// maaerr.ServiceUnavailable. Each error also wraps one of the exported Err*
// sentinels below, which callers test with errors.Is.
package sgx

import (
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Sizes and limits of the quote format.
const (
	HeaderSize       = dcap.HeaderSize
	ReportBodySize   = dcap.ReportBodySize
	SignatureSize    = dcap.SignatureSize
	MinQuoteSize     = dcap.MinQuoteSize
	MaxQuoteSize     = dcap.MaxQuoteSize
	MaxPCKChainCerts = dcap.MaxPCKChainCerts
)

// Attestation key types and TEE types.
const (
	AttestationKeyECDSAP256 = dcap.AttestationKeyECDSAP256
	TEETypeSGX              = dcap.TEETypeSGX
	TEETypeTDX              = dcap.TEETypeTDX
)

// Certification data types (sgx_ql_cert_key_type_t).
const (
	CertTypePPIDCleartext    = dcap.CertTypePPIDCleartext
	CertTypePPIDRSA2048      = dcap.CertTypePPIDRSA2048
	CertTypePPIDRSA3072      = dcap.CertTypePPIDRSA3072
	CertTypePCKCleartext     = dcap.CertTypePCKCleartext
	CertTypePCKCertChain     = dcap.CertTypePCKCertChain
	CertTypeQEReportCertData = dcap.CertTypeQEReportCertData
)

// IntelQEVendorID is the QE vendor ID of Intel's quoting enclave.
var IntelQEVendorID = dcap.IntelQEVendorID

// Header is the 48-byte quote header.
type Header = dcap.Header

// ReportBody is the 384-byte sgx_report_body_t, every field.
type ReportBody = dcap.ReportBody

// ParseReportBody parses a 384-byte SGX report body. It returns an error
// wrapping ErrMalformedQuote when b is not exactly 384 bytes.
func ParseReportBody(b []byte) (ReportBody, error) { return dcap.ParseReportBody(b) }

// Quote is a parsed SGX ECDSA quote: the shared DCAP quote plus its SGX
// enclave report body. It owns a private copy of the bytes it was parsed
// from; nothing in it has been verified.
type Quote struct {
	dcap.Quote
	Body ReportBody
}

// QuoteLength returns the length of the SGX quote at the start of b (header,
// body, signature data length and signature data) after checking only the
// fields needed to compute it. OpenEnclave evidence uses it to find the custom
// claims that follow the quote. It returns an error wrapping ErrMalformedQuote
// when b is too short or the lengths are inconsistent.
func QuoteLength(b []byte) (int, error) { return dcap.QuoteLength(b, dcap.TEETypeSGX) }

// ParseQuote parses an SGX ECDSA-P256 quote (v3; v4 and v5 with an SGX
// report body). It checks structure only: version, key type, TEE type, QE
// vendor, every length, the certification data type (1–5, or 6 wrapping 1–5
// in v4/v5) and, for type 5, that the data is a PEM (or concatenated DER)
// certificate chain (Quote.PCKChain decodes it). Bytes after the signature
// data are tolerated and counted in TrailingBytes. The input is copied.
//
// On failure it returns nil and a *maaerr.Error (InvalidParameter) wrapping
// ErrMalformedQuote, ErrUnsupportedQuote or ErrUnsupportedCertType.
func ParseQuote(b []byte) (*Quote, error) { return parseQuote(b, true) }

// ParseQuoteShared is ParseQuote without the copy: the quote aliases b,
// which the caller must not modify while the quote is in use.
func ParseQuoteShared(b []byte) (*Quote, error) { return parseQuote(b, false) }

func parseQuote(b []byte, copyInput bool) (*Quote, error) {
	q := new(Quote)
	parse := dcap.ParseQuoteInto
	if !copyInput {
		parse = dcap.ParseQuoteIntoShared
	}
	if err := parse(&q.Quote, b, dcap.TEETypeSGX); err != nil {
		return nil, err
	}
	var err error
	if q.Body, err = dcap.ParseReportBody(q.BodyBytes); err != nil {
		return nil, err
	}
	return q, nil
}

// DecodePEMChain decodes a PEM certificate chain as carried in certification
// data type 5 or in a collateral issuer chain: CERTIFICATE blocks only,
// surrounding whitespace and trailing NUL bytes tolerated, at most
// MaxPCKChainCerts blocks. The returned DER slices alias b. It returns an
// error wrapping ErrMalformedQuote when anything else is found.
func DecodePEMChain(b []byte) ([][]byte, error) { return dcap.DecodePEMChain(b) }

// invalid returns an InvalidQuote domain error wrapping sentinel. The
// message carries the detail; Error() appends the sentinel's text.
func invalid(sentinel error, format string, args ...any) error {
	return maaerr.Wrap(sentinel, maaerr.InvalidQuote, format, args...)
}
