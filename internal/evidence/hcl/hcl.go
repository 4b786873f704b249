// Package hcl parses the attestation report of Azure's paravisor (the HCL,
// "host compatibility layer") that an Azure confidential VM exposes in vTPM
// NV index 0x01400001: an "HCLA" header, the hardware report (an AMD SEV-SNP
// ATTESTATION_REPORT or an Intel TDREPORT), and the runtime claims (a JSON
// document holding the vTPM keys HCLAkPub/HCLEkPub and the VM
// configuration) whose hash the hardware report carries in its report data.
//
// Parsing checks structure only; it verifies nothing. The hardware report
// is verified by internal/evidence/sevsnp or, through a TD quote,
// internal/evidence/tdx; the binding of the runtime claims to it is
// Report.ClaimsBound. Layout: reference/maa-cvm-contract.md §5.2.
package hcl

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout of the HCL report (little-endian words).
const (
	// Signature is the report's magic.
	Signature = "HCLA"
	// HWReportOffset and HWReportSize locate the hardware report: an SNP
	// ATTESTATION_REPORT fills it, a TDREPORT takes its first 1024 bytes.
	HWReportOffset = 32
	HWReportSize   = 1184
	// TDReportSize is the size of a TDREPORT.
	TDReportSize = 1024
	// runtimeHeaderOffset is where the 20-byte runtime-data header starts.
	runtimeHeaderOffset = HWReportOffset + HWReportSize
	// ClaimsOffset is where the runtime claims start.
	ClaimsOffset = runtimeHeaderOffset + 20
	// MaxReportBytes bounds the input: the NV index is 2600 bytes (2048 in
	// older VMs); anything far larger is not an HCL report.
	MaxReportBytes = 16 << 10
	// MaxClaimsBytes bounds the runtime claims.
	MaxClaimsBytes = MaxReportBytes - ClaimsOffset
)

// ReportType is the hardware report's kind in the runtime-data header.
type ReportType uint32

// Report types (Microsoft's IGVM_REPORT_TYPE; only SNP and TDX carry
// hardware evidence an Azure CVM attests with).
const (
	ReportTypeVBS ReportType = 1
	ReportTypeSNP ReportType = 2
	ReportTypeTVM ReportType = 3
	ReportTypeTDX ReportType = 4
)

func (t ReportType) String() string {
	switch t {
	case ReportTypeVBS:
		return "VBS"
	case ReportTypeSNP:
		return "SNP"
	case ReportTypeTVM:
		return "TVM"
	case ReportTypeTDX:
		return "TDX"
	}
	return fmt.Sprintf("unknown(%d)", uint32(t))
}

// HashType is the hash of the runtime claims the hardware report carries.
type HashType uint32

// Hash types of the runtime-data header.
const (
	HashSHA256 HashType = 1
	HashSHA384 HashType = 2
	HashSHA512 HashType = 3
)

// HashTypes returns the hash types in the order a verifier that is not told
// the type tries them (SHA-256 first: every observed report uses it).
func HashTypes() []HashType { return []HashType{HashSHA256, HashSHA384, HashSHA512} }

func (h HashType) String() string {
	switch h {
	case HashSHA256:
		return "SHA-256"
	case HashSHA384:
		return "SHA-384"
	case HashSHA512:
		return "SHA-512"
	}
	return fmt.Sprintf("unknown(%d)", uint32(h))
}

// Sum returns the digest of b, or nil for an unknown hash type.
func (h HashType) Sum(b []byte) []byte {
	switch h {
	case HashSHA256:
		s := sha256.Sum256(b)
		return s[:]
	case HashSHA384:
		s := sha512.Sum384(b)
		return s[:]
	case HashSHA512:
		s := sha512.Sum512(b)
		return s[:]
	}
	return nil
}

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("malformed HCL report")

// Report is a parsed HCL report. Its byte slices are copies of the input.
type Report struct {
	// Version is the HCL report version (1 or 2 observed).
	Version uint32
	// ReportSize is the header's size word (1236 + claim size on every
	// observed report). It is not measured and not validated.
	ReportSize  uint32
	RequestType uint32
	Status      uint32
	// HWReport is the 1184-byte hardware-report area.
	HWReport []byte
	// RuntimeDataSize (20 + claim size) and RuntimeDataVersion are the
	// runtime-data header's words, not measured.
	RuntimeDataSize    uint32
	RuntimeDataVersion uint32
	ReportType         ReportType
	HashType           HashType
	// Claims is the runtime-claims JSON exactly as stored (claim-size bytes).
	Claims []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse parses an HCL report (the NV index contents, zero padding after the
// claims allowed). It checks the signature, that the report type is SNP or
// TDX, the hash type, and that the claims lie inside b; it does not parse the
// hardware report or the claims (see SNPReport, TDReport, ParseRuntimeClaims).
// It returns an error wrapping ErrMalformed that names the field otherwise.
func Parse(b []byte) (*Report, error) {
	if len(b) > MaxReportBytes {
		return nil, malformed("%d bytes, more than the %d an HCL report can be", len(b), MaxReportBytes)
	}
	if len(b) < ClaimsOffset {
		return nil, malformed("%d bytes, fewer than the %d-byte fixed part", len(b), ClaimsOffset)
	}
	if string(b[:4]) != Signature {
		return nil, malformed("signature is %q, want %q", b[:4], Signature)
	}
	le := binary.LittleEndian
	r := &Report{
		Version:            le.Uint32(b[4:]),
		ReportSize:         le.Uint32(b[8:]),
		RequestType:        le.Uint32(b[12:]),
		Status:             le.Uint32(b[16:]),
		HWReport:           bytes.Clone(b[HWReportOffset : HWReportOffset+HWReportSize]),
		RuntimeDataSize:    le.Uint32(b[runtimeHeaderOffset:]),
		RuntimeDataVersion: le.Uint32(b[runtimeHeaderOffset+4:]),
		ReportType:         ReportType(le.Uint32(b[runtimeHeaderOffset+8:])),
		HashType:           HashType(le.Uint32(b[runtimeHeaderOffset+12:])),
	}
	if r.ReportType != ReportTypeSNP && r.ReportType != ReportTypeTDX {
		return nil, malformed("report type %v at offset %d: only SNP (2) and TDX (4) carry hardware evidence", r.ReportType, runtimeHeaderOffset+8)
	}
	if r.HashType.Sum(nil) == nil {
		return nil, malformed("hash type %d at offset %d: want 1 (SHA-256), 2 (SHA-384) or 3 (SHA-512)", uint32(r.HashType), runtimeHeaderOffset+12)
	}
	n := le.Uint32(b[runtimeHeaderOffset+16:])
	if uint64(n) > uint64(len(b)-ClaimsOffset) {
		return nil, malformed("claim size %d at offset %d exceeds the %d bytes after the header", n, runtimeHeaderOffset+16, len(b)-ClaimsOffset)
	}
	if n == 0 {
		return nil, malformed("claim size is 0: the report carries no runtime claims")
	}
	r.Claims = bytes.Clone(b[ClaimsOffset : ClaimsOffset+int(n)])
	return r, nil
}

// SNPReport returns a copy of the SEV-SNP ATTESTATION_REPORT, or an error
// wrapping ErrMalformed when the report type is not SNP.
func (r *Report) SNPReport() ([]byte, error) {
	if r.ReportType != ReportTypeSNP {
		return nil, malformed("the hardware report is %v, not SNP", r.ReportType)
	}
	return bytes.Clone(r.HWReport), nil
}

// TDReport returns a copy of the 1024-byte TDREPORT, or an error wrapping
// ErrMalformed when the report type is not TDX.
func (r *Report) TDReport() ([]byte, error) {
	if r.ReportType != ReportTypeTDX {
		return nil, malformed("the hardware report is %v, not TDX", r.ReportType)
	}
	return bytes.Clone(r.HWReport[:TDReportSize]), nil
}

// Offsets of the 64-byte report data inside the hardware reports (SNP ABI
// ATTESTATION_REPORT; TDX REPORTMACSTRUCT).
const (
	snpReportDataOffset = 0x50
	tdReportDataOffset  = 128
)

// ReportData returns a copy of the hardware report's 64-byte report data
// (unverified: the TDREPORT is only MAC'ed, so for TDX the value that counts
// is the TD quote's).
func (r *Report) ReportData() []byte {
	off := snpReportDataOffset
	if r.ReportType == ReportTypeTDX {
		off = tdReportDataOffset
	}
	return bytes.Clone(r.HWReport[off : off+64])
}

// ClaimsBound reports whether the runtime claims hashed with the header's
// hash type are the leading bytes of reportData (64 bytes; the rest is not
// checked, as MAA documents no rule for it).
func ClaimsBound(claims []byte, h HashType, reportData []byte) bool {
	d := h.Sum(claims)
	return d != nil && len(reportData) >= len(d) && subtle.ConstantTimeCompare(d, reportData[:len(d)]) == 1
}

// BoundHash returns the first hash type, in HashTypes order, under which
// claims bind to reportData, and false when none does. It is for AzureGuest,
// where the client sends the claims but not the hash type.
func BoundHash(claims, reportData []byte) (HashType, bool) {
	for _, h := range HashTypes() {
		if ClaimsBound(claims, h, reportData) {
			return h, true
		}
	}
	return 0, false
}
