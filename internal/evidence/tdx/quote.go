// Package tdx parses and verifies Intel TDX DCAP quotes (version 4 with TEE
// type 0x81, version 5 with a TD report 1.0 or 1.5) the way Intel's Quote
// Verification Library does, in pure Go, and names the verified TD report
// as MAA's TDX EAT profile does.
//
// The checks TDX shares with SGX (PCK chain, CRLs, TCB Info and QE identity
// signatures, QE report, attestation-key binding, quote signature, status
// merge) are internal/evidence/dcap's; this package keeps the TD report
// body, TDX TCB level selection (TDX components, TDX module identities,
// the TD 1.5 relaunch check) and the claims.
//
// The steps stay apart: ParseQuote checks structure only; Verifier.Verify
// does cryptography, collateral and TCB level selection and returns a
// *Result only when every check passed; the TCB status gate (which statuses
// an instance accepts) is the evidence adapter's (NewEvidenceVerifier).
//
// Errors: every failure is a *maaerr.Error wrapping one of dcap's Err*
// sentinels or this package's: InvalidParameter for evidence that is not a
// well-formed TD quote (an SGX quote included), InvalidQuote for a quote
// that fails verification, ServiceUnavailable when collateral could not be
// fetched.
package tdx

import (
	"encoding/binary"
	"errors"

	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
)

// TD report body sizes.
const (
	ReportBodySize   = dcap.TDReportBodySize   // TD report 1.0 (v4; v5 body type 2)
	Report15BodySize = dcap.TD15ReportBodySize // TD report 1.5 (v5 body type 3)
)

// Sentinels of this package (the shared ones are dcap's).
var (
	// ErrTDXModule: the quote's SEAM module does not match the TCB Info's
	// TDX module (identity missing, MRSIGNERSEAM or SEAM_ATTRIBUTES).
	ErrTDXModule = errors.New("TDX module does not match the TCB Info")
	// ErrTCBStatusNotAccepted: the TCB status is not one the instance accepts.
	ErrTCBStatusNotAccepted = errors.New("TCB status not accepted")
)

// Report is a TD report body (sgx_report2_body_t, and the 1.5 extension).
// Byte arrays are as on the wire.
type Report struct {
	TEETCBSVN      [16]byte
	MRSEAM         [48]byte
	MRSignerSEAM   [48]byte
	SEAMAttributes [8]byte
	TDAttributes   [8]byte
	XFAM           [8]byte
	MRTD           [48]byte
	MRConfigID     [48]byte
	MROwner        [48]byte
	MROwnerConfig  [48]byte
	RTMR           [4][48]byte
	ReportData     [64]byte
	// TD 1.5 only (V15 set).
	V15         bool
	TEETCBSVN2  [16]byte
	MRServiceTD [48]byte
}

// TD_ATTRIBUTES bits (Intel TDX module ABI; the bit numbers MAA's EAT
// profile uses).
const (
	TDAttrDebug          = 0
	TDAttrSEPTVEDisable  = 28
	TDAttrProtectionKeys = 30
	TDAttrKeyLocker      = 31
	TDAttrPerfmon        = 63
)

// TDAttributesBit reports whether bit n of TD_ATTRIBUTES (a little-endian
// u64) is set.
func (r *Report) TDAttributesBit(n uint) bool {
	return binary.LittleEndian.Uint64(r.TDAttributes[:])&(1<<n) != 0
}

// Debug reports whether the TD runs in debug mode (TD_ATTRIBUTES.DEBUG).
func (r *Report) Debug() bool { return r.TDAttributesBit(TDAttrDebug) }

// SEAMSVN is the TDX module's SVN as MAA's tdx_seamsvn: TEE_TCB_SVN[0:2] as
// a little-endian u16 (minor SVN, major version).
func (r *Report) SEAMSVN() uint16 { return binary.LittleEndian.Uint16(r.TEETCBSVN[0:2]) }

// ParseReport parses a 584-byte TD report 1.0 or a 648-byte TD report 1.5.
// It returns an InvalidParameter error wrapping dcap.ErrMalformedQuote for
// any other length.
func ParseReport(b []byte) (Report, error) {
	var r Report
	if len(b) != ReportBodySize && len(b) != Report15BodySize {
		return r, maaerr.Wrap(dcap.ErrMalformedQuote, maaerr.InvalidParameter, "TD report body is %d bytes, want %d or %d", len(b), ReportBodySize, Report15BodySize)
	}
	copy(r.TEETCBSVN[:], b[0:16])
	copy(r.MRSEAM[:], b[16:64])
	copy(r.MRSignerSEAM[:], b[64:112])
	copy(r.SEAMAttributes[:], b[112:120])
	copy(r.TDAttributes[:], b[120:128])
	copy(r.XFAM[:], b[128:136])
	copy(r.MRTD[:], b[136:184])
	copy(r.MRConfigID[:], b[184:232])
	copy(r.MROwner[:], b[232:280])
	copy(r.MROwnerConfig[:], b[280:328])
	for i := range r.RTMR {
		copy(r.RTMR[i][:], b[328+48*i:376+48*i])
	}
	copy(r.ReportData[:], b[520:584])
	if len(b) == Report15BodySize {
		r.V15 = true
		copy(r.TEETCBSVN2[:], b[584:600])
		copy(r.MRServiceTD[:], b[600:648])
	}
	return r, nil
}

// Quote is a parsed TD quote: the shared DCAP quote and its TD report.
type Quote struct {
	dcap.Quote
	Body Report
}

// MaxQuoteSize bounds the input ParseQuote accepts.
const MaxQuoteSize = dcap.MaxQuoteSize

// ParseQuote parses a TD quote: version 4 with TEE type 0x81 and a 584-byte
// TD report, or version 5 with body type 2 (TD report 1.0) or 3 (TD report
// 1.5); ECDSA-P256 attestation key, Intel QE, certification data type 6
// wrapping type 5 (PEM or concatenated DER PCK chain). Bytes after the
// signature data are tolerated and counted in TrailingBytes, as QVL does:
// real quotes carry 70 zero bytes, go-tdx-guest's sample 39 bytes of text;
// they are outside the signed data and the signature data's own length. It
// checks structure only and copies its input.
//
// SGX quotes are refused. On failure it returns nil and an InvalidParameter
// *maaerr.Error wrapping dcap.ErrMalformedQuote, dcap.ErrUnsupportedQuote,
// or dcap.ErrUnsupportedCertType.
func ParseQuote(b []byte) (*Quote, error) {
	q := new(Quote)
	if err := dcap.ParseQuoteInto(&q.Quote, b, dcap.TEETypeTDX); err != nil {
		return nil, err
	}
	dq := &q.Quote
	if dq.OuterCertDataType != dcap.CertTypeQEReportCertData {
		return nil, maaerr.Wrap(dcap.ErrUnsupportedCertType, maaerr.InvalidParameter, "TD quote certification data type %d is not 6 (QE report certification data)", dq.OuterCertDataType)
	}
	var err error
	if q.Body, err = ParseReport(dq.BodyBytes); err != nil {
		return nil, err
	}
	return q, nil
}
