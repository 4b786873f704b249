// Package openenclave parses OpenEnclave SGX evidence and verifies it by
// delegating the quote to internal/evidence/sgx.
//
// Two forms are accepted:
//
//   - the legacy remote report that MAA's OpenEnclave attestation type
//     carries: a 16-byte oe_report_header_t {version 1, report_type 2
//     (SGX remote), report_size} followed by an SGX quote of report_size bytes;
//   - OE evidence: a 32-byte oe_attestation_header_t {version 3, format_id,
//     (4 bytes padding), data_size} followed by data_size bytes; only format
//     SGX_ECDSA is supported, whose data is an SGX quote followed by the
//     custom claims buffer, bound by report_data[0:32] = SHA-256(buffer).
//
// Parsers check structure only and copy their input. Errors are
// *maaerr.Error: InvalidParameter for malformed or unsupported evidence,
// InvalidQuote for evidence that fails verification; each wraps an Err*
// sentinel of this package or of package sgx.
package openenclave

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"

	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Format constants.
const (
	ReportHeaderSize      = 16
	ReportHeaderVersion   = 1
	ReportTypeSGXLocal    = 1
	ReportTypeSGXRemote   = 2
	AttestationHeaderSize = 32
	AttestationHeaderV3   = 3
	CustomClaimsVersion   = 1
	// MaxEvidenceSize bounds what the parsers accept.
	MaxEvidenceSize = 1 << 20
	// MaxCustomClaims bounds the number of custom claims.
	MaxCustomClaims = 1024
)

// Format UUIDs (OE include/openenclave/attestation/sgx/evidence.h), as the
// 16 bytes oe_uuid_t holds.
var (
	FormatSGXECDSA           = mustUUID("a3a21e87-1b4d-4014-b70a-a125d2fbcd8c")
	FormatLegacyReportRemote = mustUUID("c8303454-d923-4c2c-a691-df7def460a76")
	FormatRawSGXQuoteECDSA   = mustUUID("1923d91e-12d2-4c72-b220-25cd8dace871")
	FormatSGXLocal           = mustUUID("09268c33-6e0b-45e5-8a27-15644d0ef89a")
)

// Sentinel errors.
var (
	ErrMalformed           = errors.New("malformed OpenEnclave evidence")
	ErrUnsupportedFormat   = errors.New("unsupported OpenEnclave evidence format")
	ErrCustomClaimsBinding = errors.New("custom claims are not bound by the report data")
)

// ReportHeader is oe_report_header_t.
type ReportHeader struct {
	Version    uint32
	ReportType uint32
	ReportSize uint64
}

// Report is a parsed legacy OE remote report.
type Report struct {
	Header ReportHeader
	// Quote is the SGX quote (a copy of bytes 16..).
	Quote []byte
	raw   []byte
}

// Raw returns the whole report as parsed, header included (shared).
func (r *Report) Raw() []byte { return r.raw }

// ParseReport parses a legacy OE report: version 1, type 2 (SGX remote),
// report_size equal to the bytes that follow. On failure it returns nil and
// an InvalidParameter error wrapping ErrMalformed or ErrUnsupportedFormat.
func ParseReport(b []byte) (*Report, error) {
	if len(b) > MaxEvidenceSize {
		return nil, malformed("report is %d bytes, over the %d-byte limit", len(b), MaxEvidenceSize)
	}
	if len(b) < ReportHeaderSize {
		return nil, malformed("report is %d bytes, shorter than its 16-byte header", len(b))
	}
	raw := bytes.Clone(b)
	h := ReportHeader{
		Version:    binary.LittleEndian.Uint32(raw[0:4]),
		ReportType: binary.LittleEndian.Uint32(raw[4:8]),
		ReportSize: binary.LittleEndian.Uint64(raw[8:16]),
	}
	if h.Version != ReportHeaderVersion {
		return nil, malformed("report header version %d, want 1", h.Version)
	}
	if h.ReportType != ReportTypeSGXRemote {
		return nil, unsupported("report type %d is not SGX remote (2)", h.ReportType)
	}
	if h.ReportSize != uint64(len(raw)-ReportHeaderSize) {
		return nil, malformed("report size %d, but %d bytes follow the header", h.ReportSize, len(raw)-ReportHeaderSize)
	}
	return &Report{Header: h, Quote: raw[ReportHeaderSize:], raw: raw}, nil
}

// Claim is one OE custom claim.
type Claim struct {
	Name  string
	Value []byte
}

// Evidence is parsed OE evidence in the SGX_ECDSA format.
type Evidence struct {
	Version  uint32
	FormatID [16]byte
	DataSize uint64
	// Quote is the SGX quote at the start of the data.
	Quote []byte
	// CustomClaimsBuffer is the rest of the data (possibly empty).
	CustomClaimsBuffer []byte
	// CustomClaims is CustomClaimsBuffer parsed (nil when the buffer is empty).
	CustomClaims []Claim
	raw          []byte
}

// Raw returns the whole evidence as parsed (shared).
func (e *Evidence) Raw() []byte { return e.raw }

// ParseEvidence parses OE evidence with an oe_attestation_header_t: version
// 3, format SGX_ECDSA, data_size equal to the bytes that follow; the data is
// split into the quote (by the quote's own lengths) and the custom claims
// buffer, which is parsed. Other formats give ErrUnsupportedFormat. On
// failure it returns nil and an InvalidParameter error.
func ParseEvidence(b []byte) (*Evidence, error) {
	if len(b) > MaxEvidenceSize {
		return nil, malformed("evidence is %d bytes, over the %d-byte limit", len(b), MaxEvidenceSize)
	}
	if len(b) < AttestationHeaderSize {
		return nil, malformed("evidence is %d bytes, shorter than its 32-byte header", len(b))
	}
	raw := bytes.Clone(b)
	e := &Evidence{
		Version:  binary.LittleEndian.Uint32(raw[0:4]),
		DataSize: binary.LittleEndian.Uint64(raw[24:32]),
		raw:      raw,
	}
	copy(e.FormatID[:], raw[4:20])
	if e.Version != AttestationHeaderV3 {
		return nil, malformed("attestation header version %d, want 3", e.Version)
	}
	if e.FormatID != FormatSGXECDSA {
		return nil, unsupported("evidence format %s is not SGX_ECDSA", FormatString(e.FormatID))
	}
	// Bytes 20..24 are the header's alignment padding. They are not signed,
	// so only zero is accepted: otherwise one evidence would have many
	// encodings (and many quote hashes).
	if binary.LittleEndian.Uint32(raw[20:24]) != 0 {
		return nil, malformed("attestation header padding (bytes 20..24) is %x, want zero", raw[20:24])
	}
	if e.DataSize != uint64(len(raw)-AttestationHeaderSize) {
		return nil, malformed("data size %d, but %d bytes follow the header", e.DataSize, len(raw)-AttestationHeaderSize)
	}
	data := raw[AttestationHeaderSize:]
	n, err := sgx.QuoteLength(data)
	if err != nil {
		return nil, err
	}
	e.Quote, e.CustomClaimsBuffer = data[:n], data[n:]
	if len(e.CustomClaimsBuffer) > 0 {
		if e.CustomClaims, err = ParseCustomClaims(e.CustomClaimsBuffer); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// ParseCustomClaims parses an OE custom claims buffer: {u64 version = 1,
// u64 count} then per claim {u64 name_size (with NUL), u64 value_size, name,
// value}, little-endian, nothing left over. The result does not alias b. On
// failure it returns nil and an InvalidParameter error wrapping ErrMalformed.
func ParseCustomClaims(b []byte) ([]Claim, error) {
	if len(b) > MaxEvidenceSize {
		return nil, malformed("custom claims buffer too large")
	}
	if len(b) < 16 {
		return nil, malformed("custom claims buffer is %d bytes, shorter than its header", len(b))
	}
	if v := binary.LittleEndian.Uint64(b[0:8]); v != CustomClaimsVersion {
		return nil, malformed("custom claims version %d, want 1", v)
	}
	n := binary.LittleEndian.Uint64(b[8:16])
	if n > MaxCustomClaims {
		return nil, malformed("%d custom claims, over the limit of %d", n, MaxCustomClaims)
	}
	rest := b[16:]
	out := make([]Claim, 0, n)
	for i := uint64(0); i < n; i++ {
		if len(rest) < 16 {
			return nil, malformed("custom claim %d truncated in its header", i)
		}
		ns := binary.LittleEndian.Uint64(rest[0:8])
		vs := binary.LittleEndian.Uint64(rest[8:16])
		rest = rest[16:]
		if ns == 0 || ns > uint64(len(rest)) || vs > uint64(len(rest))-ns {
			return nil, malformed("custom claim %d: sizes %d+%d exceed the %d bytes left", i, ns, vs, len(rest))
		}
		name := rest[:ns]
		if name[ns-1] != 0 || bytes.IndexByte(name[:ns-1], 0) >= 0 {
			return nil, malformed("custom claim %d: name is not one NUL-terminated string", i)
		}
		out = append(out, Claim{Name: string(name[:ns-1]), Value: bytes.Clone(rest[ns : ns+vs])})
		rest = rest[ns+vs:]
	}
	if len(rest) != 0 {
		return nil, malformed("%d bytes after the last custom claim", len(rest))
	}
	return out, nil
}

// Result is a verified OE report or evidence.
type Result struct {
	*sgx.Result
	// Format is the evidence format: FormatLegacyReportRemote for a report,
	// FormatSGXECDSA for evidence.
	Format [16]byte
	// CustomClaims are the verified custom claims (evidence only).
	CustomClaims []Claim
}

// Verifier verifies OE reports and evidence with an sgx.Verifier.
type Verifier struct {
	sgx *sgx.Verifier
}

// NewVerifier returns a verifier delegating quotes to v.
func NewVerifier(v *sgx.Verifier) *Verifier { return &Verifier{sgx: v} }

// Verify dispatches on the first u32 of b: 1 is a legacy report
// (VerifyReport), 3 is OE evidence (VerifyEvidence). On failure it returns
// nil and a *maaerr.Error.
func (v *Verifier) Verify(ctx context.Context, b []byte, opts ...sgx.CallOption) (*Result, error) {
	if len(b) < 4 {
		return nil, malformed("evidence is %d bytes", len(b))
	}
	switch binary.LittleEndian.Uint32(b[0:4]) {
	case ReportHeaderVersion:
		return v.VerifyReport(ctx, b, opts...)
	case AttestationHeaderV3:
		return v.VerifyEvidence(ctx, b, opts...)
	}
	return nil, unsupported("evidence starts with version %d, neither a report (1) nor evidence (3)", binary.LittleEndian.Uint32(b[0:4]))
}

// VerifyReport parses a legacy OE report and verifies its quote; quotehash is
// SHA-256 of the whole report b. On failure it returns nil and a
// *maaerr.Error.
func (v *Verifier) VerifyReport(ctx context.Context, b []byte, opts ...sgx.CallOption) (*Result, error) {
	r, err := ParseReport(b)
	if err != nil {
		return nil, err
	}
	// The quote aliases the parsed copy, not the caller's bytes.
	q, err := sgx.ParseQuoteShared(r.Quote)
	if err != nil {
		return nil, err
	}
	res, err := v.sgx.VerifyQuote(ctx, q, append(opts, sgx.WithEvidence(r.raw))...)
	if err != nil {
		return nil, err
	}
	return &Result{Result: res, Format: FormatLegacyReportRemote}, nil
}

// VerifyEvidence parses OE SGX_ECDSA evidence, verifies its quote, and checks
// that report_data[0:32] is SHA-256 of the custom claims buffer; quotehash is
// SHA-256 of the whole evidence b. On failure it returns nil and a
// *maaerr.Error (ErrCustomClaimsBinding for a binding mismatch).
func (v *Verifier) VerifyEvidence(ctx context.Context, b []byte, opts ...sgx.CallOption) (*Result, error) {
	e, err := ParseEvidence(b)
	if err != nil {
		return nil, err
	}
	// The quote aliases the parsed copy, not the caller's bytes.
	q, err := sgx.ParseQuoteShared(e.Quote)
	if err != nil {
		return nil, err
	}
	res, err := v.sgx.VerifyQuote(ctx, q, append(opts, sgx.WithEvidence(e.raw))...)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(e.CustomClaimsBuffer)
	if !bytes.Equal(sum[:], res.Report.ReportData[:32]) {
		return nil, maaerr.Wrap(ErrCustomClaimsBinding, maaerr.InvalidQuote, "report_data[0:32] is not SHA-256 of the custom claims buffer")
	}
	return &Result{Result: res, Format: FormatSGXECDSA, CustomClaims: e.CustomClaims}, nil
}

// FormatString renders a format UUID in the usual 8-4-4-4-12 form.
func FormatString(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func mustUUID(s string) [16]byte {
	var u [16]byte
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil || len(b) != 16 {
		panic("bad uuid " + s)
	}
	copy(u[:], b)
	return u
}

func malformed(format string, args ...any) error {
	return maaerr.Wrap(ErrMalformed, maaerr.InvalidParameter, format, args...)
}

func unsupported(format string, args ...any) error {
	return maaerr.Wrap(ErrUnsupportedFormat, maaerr.InvalidParameter, format, args...)
}
