// Package dcap is the Intel DCAP ECDSA quote verification core shared by
// SGX (internal/evidence/sgx) and TDX (internal/evidence/tdx): the quote
// header (v3, v4, v5) and signature data, certification data (type 5, and
// type 6 wrapping 5; PEM or concatenated DER chains), the PCK chain to a
// root pinned by public key, the Root CA and PCK CRLs, signed TCB Info and
// enclave identity collateral, the QE report and QE identity, the
// attestation-key binding, the quote signature, QVL's status merge and the
// collateral hashes. The TEE packages keep only their report bodies, their
// TCB level selection and their claims.
//
// The steps are kept apart as in the TEE packages: ParseQuote checks
// structure only (every length before use, sizes bounded, input copied);
// Verifier.Core does the cryptography and collateral checks and returns a
// *Core only when every check passed.
//
// Errors: every failure is a *maaerr.Error wrapping one of the exported
// Err* sentinels (see errors.go). Structural problems carry
// maaerr.InvalidParameter; a well-formed quote that fails verification
// carries maaerr.InvalidQuote; a collateral source that cannot deliver
// carries maaerr.ServiceUnavailable.
package dcap

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"

	"github.com/maat-attest/maat/internal/maaerr"
)

// Sizes and limits of the quote format.
const (
	HeaderSize     = 48
	ReportBodySize = 384
	// TDReportBodySize and TD15ReportBodySize are the TD report bodies of
	// TDX 1.0 (v4, v5 body type 2) and TDX 1.5 (v5 body type 3).
	TDReportBodySize   = 584
	TD15ReportBodySize = 648
	SignatureSize      = 64
	// MinQuoteSize is QVL's minimum quote length (v3 with empty auth and cert data).
	MinQuoteSize = 1020
	// MaxQuoteSize bounds the input accepted by ParseQuote. Real quotes are
	// about 4.6 KB; a PEM PCK chain is about 3.5 KB.
	MaxQuoteSize = 64 << 10
	// MaxPCKChainCerts bounds the number of certificates in certification data.
	MaxPCKChainCerts = 5
)

// Attestation key types and TEE types.
const (
	AttestationKeyECDSAP256 = 2
	TEETypeSGX              = 0x00000000
	TEETypeTDX              = 0x00000081
)

// Certification data types (sgx_ql_cert_key_type_t).
const (
	CertTypePPIDCleartext           = 1
	CertTypePPIDRSA2048             = 2
	CertTypePPIDRSA3072             = 3
	CertTypePCKCleartext            = 4
	CertTypePCKCertChain            = 5
	CertTypeQEReportCertData        = 6
	maxInnerCertType                = 5
	v5BodyTypeSGX                   = 1
	v5BodyTypeTD10                  = 2
	v5BodyTypeTD15                  = 3
	qeAuthDataMax                   = 4096
	maxCertDataSize                 = 48 << 10
	sigDataFixedV3                  = 64 + 64 + ReportBodySize + 64 + 2 + 2 + 4
	intelQEVendorIDHex              = "939a7233f79c4ca9940a0db3957f0607"
	attributeFlagDebug       uint64 = 1 << 1
	attributeFlagKSS         uint64 = 1 << 7
)

// IntelQEVendorID is the QE vendor ID of Intel's quoting enclave.
var IntelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

// Header is the 48-byte quote header. Integers are little-endian on the wire.
type Header struct {
	Version            uint16
	AttestationKeyType uint16
	// TEEType is bytes 4..8: the TEE type in v4/v5, reserved (must be 0) in v3.
	TEEType uint32
	// QESVN and PCESVN are bytes 8..12 (v3); reserved in v4/v5.
	QESVN      uint16
	PCESVN     uint16
	QEVendorID [16]byte
	UserData   [20]byte
}

// ReportBody is the 384-byte sgx_report_body_t, every field.
type ReportBody struct {
	CPUSVN       [16]byte
	MiscSelect   uint32
	Reserved1    [12]byte
	ISVExtProdID [16]byte
	Attributes   [16]byte // flags (u64 LE) || xfrm (u64 LE)
	MREnclave    [32]byte
	Reserved2    [32]byte
	MRSigner     [32]byte
	Reserved3    [32]byte
	ConfigID     [64]byte
	ISVProdID    uint16
	ISVSVN       uint16
	ConfigSVN    uint16
	Reserved4    [42]byte
	ISVFamilyID  [16]byte
	ReportData   [64]byte
	raw          [ReportBodySize]byte
}

// Flags returns the attributes flags (the first little-endian u64).
func (r *ReportBody) Flags() uint64 { return binary.LittleEndian.Uint64(r.Attributes[0:8]) }

// XFRM returns the attributes XFRM (the second little-endian u64).
func (r *ReportBody) XFRM() uint64 { return binary.LittleEndian.Uint64(r.Attributes[8:16]) }

// Debug reports whether the DEBUG attribute is set.
func (r *ReportBody) Debug() bool { return r.Flags()&attributeFlagDebug != 0 }

// KSS reports whether the Key Separation and Sharing attribute is set.
func (r *ReportBody) KSS() bool { return r.Flags()&attributeFlagKSS != 0 }

// Bytes returns a copy of the 384 bytes the body was parsed from.
func (r *ReportBody) Bytes() []byte { b := r.raw; return b[:] }

// ParseReportBody parses a 384-byte SGX report body. It returns an error
// wrapping ErrMalformedQuote when b is not exactly 384 bytes.
func ParseReportBody(b []byte) (ReportBody, error) {
	var r ReportBody
	if len(b) != ReportBodySize {
		return r, malformed("report body is %d bytes, want %d", len(b), ReportBodySize)
	}
	copy(r.raw[:], b)
	copy(r.CPUSVN[:], b[0:16])
	r.MiscSelect = binary.LittleEndian.Uint32(b[16:20])
	copy(r.Reserved1[:], b[20:32])
	copy(r.ISVExtProdID[:], b[32:48])
	copy(r.Attributes[:], b[48:64])
	copy(r.MREnclave[:], b[64:96])
	copy(r.Reserved2[:], b[96:128])
	copy(r.MRSigner[:], b[128:160])
	copy(r.Reserved3[:], b[160:192])
	copy(r.ConfigID[:], b[192:256])
	r.ISVProdID = binary.LittleEndian.Uint16(b[256:258])
	r.ISVSVN = binary.LittleEndian.Uint16(b[258:260])
	r.ConfigSVN = binary.LittleEndian.Uint16(b[260:262])
	copy(r.Reserved4[:], b[262:304])
	copy(r.ISVFamilyID[:], b[304:320])
	copy(r.ReportData[:], b[320:384])
	return r, nil
}

// Quote is a parsed DCAP ECDSA quote (SGX or TDX). It owns a private copy
// of the bytes it was parsed from; nothing in it has been verified.
type Quote struct {
	Header Header
	// BodyType is the v5 body type (1 = SGX report, 2 = TD report 1.0, 3 =
	// TD report 1.5); 1 for v3/v4 SGX quotes, 2 for v4 TD quotes.
	BodyType uint16
	// BodyBytes is the report body (384, 584 or 648 bytes), aliasing the
	// quote; the TEE package parses it.
	BodyBytes []byte

	Signature         [64]byte // r||s over SignedData, big-endian
	AttestationKey    [64]byte // x||y, big-endian
	QEReport          ReportBody
	QEReportSignature [64]byte // r||s over QEReport bytes, by the PCK key
	QEAuthData        []byte
	OuterCertDataType uint16 // 6 for v4/v5, equal to CertDataType for v3
	CertDataType      uint16
	CertData          []byte   // the (inner) certification data as carried
	PCKChainDER       [][]byte // type 5 only: the PEM blocks decoded, in quote order
	TrailingBytes     int      // bytes after the signature data (tolerated, as QVL does)

	raw       []byte
	signedLen int
	quoteLen  int
}

// Raw returns the bytes the quote was parsed from (shared; do not modify).
func (q *Quote) Raw() []byte { return q.raw }

// SignedData returns header||body, the bytes the quote signature covers
// (shared; do not modify).
func (q *Quote) SignedData() []byte { return q.raw[:q.signedLen] }

// Len returns the length of the quote proper, without trailing bytes.
func (q *Quote) Len() int { return q.quoteLen }

// QuoteLength returns the length of the quote of TEE type tee at the start
// of b (header, body, signature data length and signature data) after
// checking only the fields needed to compute it. It returns an error
// wrapping ErrMalformedQuote when b is too short or the lengths are
// inconsistent, ErrUnsupportedQuote for a version or body type tee does not
// have.
func QuoteLength(b []byte, tee uint32) (int, error) {
	_, bodyEnd, err := bodyBounds(b, tee)
	if err != nil {
		return 0, err
	}
	if len(b) < bodyEnd+4 {
		return 0, malformed("quote truncated before signature data length")
	}
	sigLen := int(binary.LittleEndian.Uint32(b[bodyEnd : bodyEnd+4]))
	if sigLen > len(b)-bodyEnd-4 {
		return 0, malformed("signature data length %d exceeds the %d bytes available", sigLen, len(b)-bodyEnd-4)
	}
	return bodyEnd + 4 + sigLen, nil
}

// bodyBounds returns the report body's start and end offsets.
func bodyBounds(b []byte, tee uint32) (int, int, error) {
	if len(b) < HeaderSize+2 {
		return 0, 0, malformed("quote is %d bytes, shorter than a header", len(b))
	}
	version := binary.LittleEndian.Uint16(b[0:2])
	if tee == TEETypeTDX {
		return tdBodyBounds(b, version)
	}
	switch version {
	case 3, 4:
		return HeaderSize, HeaderSize + ReportBodySize, nil
	case 5:
		if len(b) < HeaderSize+6 {
			return 0, 0, malformed("v5 quote truncated in body descriptor")
		}
		bt := binary.LittleEndian.Uint16(b[48:50])
		bs := binary.LittleEndian.Uint32(b[50:54])
		if bt != v5BodyTypeSGX || bs != ReportBodySize {
			return 0, 0, unsupported(ErrUnsupportedQuote, "v5 body type %d size %d: only the SGX enclave report (type 1, 384 bytes) is supported", bt, bs)
		}
		return HeaderSize + 6, HeaderSize + 6 + ReportBodySize, nil
	default:
		return 0, 0, unsupported(ErrUnsupportedQuote, "quote version %d is not supported", version)
	}
}

func tdBodyBounds(b []byte, version uint16) (int, int, error) {
	switch version {
	case 4:
		return HeaderSize, HeaderSize + TDReportBodySize, nil
	case 5:
		if len(b) < HeaderSize+6 {
			return 0, 0, malformed("v5 quote truncated in body descriptor")
		}
		bt := binary.LittleEndian.Uint16(b[48:50])
		bs := binary.LittleEndian.Uint32(b[50:54])
		switch {
		case bt == v5BodyTypeTD10 && bs == TDReportBodySize, bt == v5BodyTypeTD15 && bs == TD15ReportBodySize:
			return HeaderSize + 6, HeaderSize + 6 + int(bs), nil
		}
		return 0, 0, unsupported(ErrUnsupportedQuote, "v5 body type %d size %d: a TD quote carries a TD report 1.0 (type 2, 584 bytes) or 1.5 (type 3, 648 bytes)", bt, bs)
	default:
		return 0, 0, unsupported(ErrUnsupportedQuote, "quote version %d is not a TD quote (TDX quotes are version 4 or 5)", version)
	}
}

// ParseQuote parses an ECDSA-P256 quote of TEE type tee: TEETypeSGX (v3;
// v4 and v5 with an SGX report body) or TEETypeTDX (v4; v5 with a TD report
// 1.0 or 1.5). It checks structure only: version, key type, TEE type, QE
// vendor, every length, the certification data type (1–5, or 6 wrapping 1–5
// in v4/v5) and, for type 5, that the data is a PEM chain or concatenated
// DER certificates (Quote.PCKChain decodes it). Bytes after the signature
// data are tolerated and counted in TrailingBytes. The input is copied.
//
// On failure it returns nil and a *maaerr.Error (InvalidParameter) wrapping
// ErrMalformedQuote, ErrUnsupportedQuote or ErrUnsupportedCertType.
func ParseQuote(b []byte, tee uint32) (*Quote, error) {
	q := new(Quote)
	if err := ParseQuoteInto(q, b, tee); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseQuoteInto is ParseQuote into *q (which it overwrites), for callers
// that embed a Quote in their own type. On failure *q is left zero.
func ParseQuoteInto(q *Quote, b []byte, tee uint32) (err error) {
	return parseQuoteInto(q, b, tee, true)
}

// ParseQuoteIntoShared is ParseQuoteInto without the copy: q aliases b,
// which the caller must not modify while q is in use (for callers that
// already hold their own copy, such as an OpenEnclave report's quote).
func ParseQuoteIntoShared(q *Quote, b []byte, tee uint32) error {
	return parseQuoteInto(q, b, tee, false)
}

func parseQuoteInto(q *Quote, b []byte, tee uint32, copyInput bool) (err error) {
	defer func() {
		if err != nil {
			*q = Quote{}
		}
	}()
	if len(b) > MaxQuoteSize {
		return malformed("quote is %d bytes, larger than the %d-byte limit", len(b), MaxQuoteSize)
	}
	if len(b) < MinQuoteSize {
		return malformed("quote is %d bytes, shorter than the %d-byte minimum", len(b), MinQuoteSize)
	}
	raw := b
	if copyInput {
		raw = bytes.Clone(b)
	}
	*q = Quote{raw: raw, BodyType: v5BodyTypeSGX}
	if tee == TEETypeTDX {
		q.BodyType = v5BodyTypeTD10
	}
	h := &q.Header
	h.Version = binary.LittleEndian.Uint16(raw[0:2])
	h.AttestationKeyType = binary.LittleEndian.Uint16(raw[2:4])
	h.TEEType = binary.LittleEndian.Uint32(raw[4:8])
	h.QESVN = binary.LittleEndian.Uint16(raw[8:10])
	h.PCESVN = binary.LittleEndian.Uint16(raw[10:12])
	copy(h.QEVendorID[:], raw[12:28])
	copy(h.UserData[:], raw[28:48])

	if h.Version < 3 || h.Version > 5 {
		return unsupported(ErrUnsupportedQuote, "quote version %d is not supported", h.Version)
	}
	if h.AttestationKeyType != AttestationKeyECDSAP256 {
		return unsupported(ErrUnsupportedQuote, "attestation key type %d is not supported (want 2, ECDSA-P256)", h.AttestationKeyType)
	}
	switch {
	case tee == TEETypeSGX && h.TEEType != TEETypeSGX:
		return unsupported(ErrUnsupportedQuote, "TEE type %#x is not SGX", h.TEEType)
	case tee == TEETypeTDX && h.TEEType != TEETypeTDX:
		return unsupported(ErrUnsupportedQuote, "TEE type %#x is not TDX (0x81): this is not a TD quote (SGX quotes are attested as SgxEnclave)", h.TEEType)
	case tee != TEETypeSGX && tee != TEETypeTDX:
		return unsupported(ErrUnsupportedQuote, "TEE type %#x is not supported", tee)
	}
	if h.QEVendorID != IntelQEVendorID {
		return malformed("QE vendor ID %x is not Intel's", h.QEVendorID)
	}
	bodyStart, bodyEnd, err := bodyBounds(raw, tee)
	if err != nil {
		return err
	}
	q.signedLen = bodyEnd
	if h.Version == 5 {
		q.BodyType = binary.LittleEndian.Uint16(raw[48:50])
	}
	q.BodyBytes = raw[bodyStart:bodyEnd:bodyEnd]
	qlen, err := QuoteLength(raw, tee)
	if err != nil {
		return err
	}
	q.quoteLen = qlen
	q.TrailingBytes = len(raw) - qlen
	sig := raw[bodyEnd+4 : qlen]
	if h.Version == 3 {
		err = q.parseSigDataV3(sig)
	} else {
		err = q.parseSigDataV4(sig)
	}
	if err != nil {
		return err
	}
	return nil
}

// reader is a bounds-checked little-endian cursor.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = malformed("signature data truncated in %s (need %d bytes at offset %d, have %d)", what, n, r.off, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u16(what string) uint16 {
	s := r.take(2, what)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(s)
}

func (r *reader) u32(what string) uint32 {
	s := r.take(4, what)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(s)
}

func (q *Quote) parseSigDataV3(sig []byte) error {
	r := &reader{b: sig}
	copy(q.Signature[:], r.take(64, "quote signature"))
	copy(q.AttestationKey[:], r.take(64, "attestation key"))
	if err := q.parseQEPart(r); err != nil {
		return err
	}
	ct, cd, err := parseCertData(r)
	if err != nil {
		return err
	}
	if r.off != len(sig) {
		return malformed("%d unused bytes inside the signature data", len(sig)-r.off)
	}
	if ct < 1 || ct > maxInnerCertType {
		return unsupported(ErrUnsupportedCertType, "certification data type %d is not supported in a v3 quote", ct)
	}
	q.OuterCertDataType = ct
	return q.setCertData(ct, cd)
}

func (q *Quote) parseSigDataV4(sig []byte) error {
	r := &reader{b: sig}
	copy(q.Signature[:], r.take(64, "quote signature"))
	copy(q.AttestationKey[:], r.take(64, "attestation key"))
	ct, cd, err := parseCertData(r)
	if err != nil {
		return err
	}
	if r.off != len(sig) {
		return malformed("%d unused bytes inside the signature data", len(sig)-r.off)
	}
	if ct != CertTypeQEReportCertData {
		return unsupported(ErrUnsupportedCertType, "outer certification data type %d is not supported (want 6)", ct)
	}
	q.OuterCertDataType = ct
	in := &reader{b: cd}
	if err := q.parseQEPart(in); err != nil {
		return err
	}
	ict, icd, err := parseCertData(in)
	if err != nil {
		return err
	}
	if in.off != len(cd) {
		return malformed("%d unused bytes inside the QE report certification data", len(cd)-in.off)
	}
	if ict < 1 || ict > maxInnerCertType {
		return unsupported(ErrUnsupportedCertType, "inner certification data type %d is not supported", ict)
	}
	return q.setCertData(ict, icd)
}

func (q *Quote) parseQEPart(r *reader) error {
	qe := r.take(ReportBodySize, "QE report")
	copy(q.QEReportSignature[:], r.take(64, "QE report signature"))
	n := int(r.u16("QE authentication data size"))
	auth := r.take(n, "QE authentication data")
	if r.err != nil {
		return r.err
	}
	if n > qeAuthDataMax {
		return malformed("QE authentication data is %d bytes, over the %d-byte limit", n, qeAuthDataMax)
	}
	var err error
	if q.QEReport, err = ParseReportBody(qe); err != nil {
		return err
	}
	q.QEAuthData = auth
	return nil
}

func parseCertData(r *reader) (uint16, []byte, error) {
	ct := r.u16("certification data type")
	n := r.u32("certification data size")
	if r.err != nil {
		return 0, nil, r.err
	}
	if n > maxCertDataSize {
		return 0, nil, malformed("certification data is %d bytes, over the %d-byte limit", n, maxCertDataSize)
	}
	cd := r.take(int(n), "certification data")
	if r.err != nil {
		return 0, nil, r.err
	}
	return ct, cd, nil
}

func (q *Quote) setCertData(ct uint16, cd []byte) error {
	q.CertDataType = ct
	q.CertData = cd
	// Type 5 must be PEM (or, as in Intel's QVL TDX sample, concatenated
	// DER); the chain is decoded by PCKChain, which the verifier only calls
	// when its chain cache misses.
	if ct == CertTypePCKCertChain && !bytes.HasPrefix(bytes.TrimLeft(cd, " \t\r\n"), []byte("-----BEGIN CERTIFICATE-----")) &&
		!(len(cd) > 0 && cd[0] == 0x30) {
		return malformed("certification data type 5 is neither a PEM nor a DER certificate chain")
	}
	return nil
}

// PCKChain decodes the PCK chain of certification data type 5 (PEM, see
// DecodePEMChain, or concatenated DER, see DecodeChain) and returns the DER
// certificates in quote order, aliasing the quote. It returns an
// InvalidParameter error wrapping ErrMalformedQuote when the chain is
// malformed, or ErrPCKChainMissing for other certification data types.
func (q *Quote) PCKChain() ([][]byte, error) {
	if q.CertDataType != CertTypePCKCertChain {
		return nil, maaerr.Wrap(ErrPCKChainMissing, maaerr.InvalidParameter, "certification data type %d carries no PCK chain", q.CertDataType)
	}
	return DecodeChain(q.CertData)
}

// DecodeChain decodes a certificate chain given as PEM (DecodePEMChain) or
// as concatenated DER certificates (trailing NUL bytes tolerated, at most
// MaxPCKChainCerts). The returned slices alias b. It returns an error
// wrapping ErrMalformedQuote when b is neither.
func DecodeChain(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[0] != 0x30 {
		return DecodePEMChain(b)
	}
	rest := bytes.TrimRight(b, "\x00")
	var out [][]byte
	for len(rest) > 0 {
		if len(out) == MaxPCKChainCerts {
			return nil, malformed("certificate chain has more than %d certificates", MaxPCKChainCerts)
		}
		var raw asn1.RawValue
		r, err := asn1.Unmarshal(rest, &raw)
		if err != nil || raw.Tag != asn1.TagSequence || !raw.IsCompound {
			return nil, malformed("certificate chain is neither PEM nor concatenated DER")
		}
		out = append(out, rest[:len(rest)-len(r)])
		rest = r
	}
	return out, nil
}

// DecodePEMChain decodes a PEM certificate chain as carried in certification
// data type 5 or in a collateral issuer chain: CERTIFICATE blocks only,
// surrounding whitespace and trailing NUL bytes tolerated, at most
// MaxPCKChainCerts blocks. The returned DER slices alias b. It returns an
// error wrapping ErrMalformedQuote when anything else is found.
func DecodePEMChain(b []byte) ([][]byte, error) {
	rest := bytes.TrimRight(b, "\x00")
	var out [][]byte
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if len(out) == MaxPCKChainCerts {
			return nil, malformed("certificate chain has more than %d certificates", MaxPCKChainCerts)
		}
		// pem.Decode skips text before a block; a chain must not carry any.
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, malformed("certificate chain is not PEM")
		}
		blk, r := pem.Decode(rest)
		if blk == nil {
			return nil, malformed("certificate chain is not PEM")
		}
		// A malformed block is skipped by pem.Decode too: the block returned
		// must be the first one.
		if next := bytes.Index(rest[1:], []byte("-----BEGIN")); next >= 0 && len(rest)-len(r) > next+1 {
			return nil, malformed("certificate chain holds a malformed PEM block")
		}
		if blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 {
			return nil, malformed("certificate chain holds a %q PEM block", blk.Type)
		}
		out = append(out, blk.Bytes)
		rest = r
	}
	if len(out) == 0 {
		return nil, malformed("certificate chain is empty")
	}
	return out, nil
}

func malformed(format string, args ...any) error {
	return maaerr.Wrap(ErrMalformedQuote, maaerr.InvalidParameter, format, args...)
}

func unsupported(sentinel error, format string, args ...any) error {
	return maaerr.Wrap(sentinel, maaerr.InvalidParameter, format, args...)
}

// invalid returns an InvalidQuote domain error wrapping sentinel. The
// message carries the detail; Error() appends the sentinel's text.
func invalid(sentinel error, format string, args ...any) error {
	return maaerr.Wrap(sentinel, maaerr.InvalidQuote, format, args...)
}
