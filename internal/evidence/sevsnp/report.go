package sevsnp

import (
	"encoding/binary"
	"fmt"
)

// ReportSize is the size of an SEV-SNP ATTESTATION_REPORT (every version).
const ReportSize = 1184

// SignedSize is the length of the signed prefix of a report: the signature
// at 0x2A0 covers bytes [0, 0x2A0).
const SignedSize = 0x2A0

// Report versions this package accepts.
const (
	MinReportVersion = 1
	MaxReportVersion = 5
)

// SigningKey is the key that signed a report (flags bits 4:2).
type SigningKey uint8

// Signing keys. SigningKeyNone means the report is unsigned.
const (
	SigningKeyVCEK SigningKey = 0
	SigningKeyVLEK SigningKey = 1
	SigningKeyNone SigningKey = 7
)

// String returns "vcek", "vlek", "none" or "key(n)".
func (k SigningKey) String() string {
	switch k {
	case SigningKeyVCEK:
		return "vcek"
	case SigningKeyVLEK:
		return "vlek"
	case SigningKeyNone:
		return "none"
	}
	return fmt.Sprintf("key(%d)", uint8(k))
}

// Product is an AMD EPYC generation with its own ARK.
type Product string

// Products with pinned roots. ProductUnknown is a v1/v2 report, which has no
// CPUID fields; the product then comes from the certificate chain.
const (
	ProductUnknown Product = ""
	ProductMilan   Product = "Milan"
	ProductGenoa   Product = "Genoa"
	ProductTurin   Product = "Turin"
)

// Products returns the products with embedded roots, oldest first.
func Products() []Product { return []Product{ProductMilan, ProductGenoa, ProductTurin} }

// TCB is a TCB_VERSION decomposed. Milan and Genoa have no FMC component
// (FMC is 0 for them).
type TCB struct {
	FMC, Bootloader, TEE, SNP, Microcode uint8
}

// String returns "fmc=1 bl=3 tee=0 snp=8 ucode=115".
func (t TCB) String() string {
	return fmt.Sprintf("fmc=%d bl=%d tee=%d snp=%d ucode=%d", t.FMC, t.Bootloader, t.TEE, t.SNP, t.Microcode)
}

// DecomposeTCB splits a TCB_VERSION (its 8 bytes in report order) by the
// product's layout: Turin has FMC in byte 0 and shifts BL/TEE/SNP by one;
// Milan, Genoa and unknown products (v1/v2 reports, which predate Turin) use
// BL, TEE at bytes 0-1 and SNP at 6. UCODE is byte 7 for all.
func DecomposeTCB(p Product, raw [8]byte) TCB {
	if p == ProductTurin {
		return TCB{FMC: raw[0], Bootloader: raw[1], TEE: raw[2], SNP: raw[3], Microcode: raw[7]}
	}
	return TCB{Bootloader: raw[0], TEE: raw[1], SNP: raw[6], Microcode: raw[7]}
}

// Report is a parsed ATTESTATION_REPORT. Byte arrays are copies of the
// report's fields; Raw is a copy of the whole report.
type Report struct {
	Version       uint32
	GuestSVN      uint32
	Policy        uint64
	FamilyID      [16]byte
	ImageID       [16]byte
	VMPL          uint32
	SignatureAlgo uint32
	CurrentTCB    [8]byte
	PlatformInfo  uint64
	Flags         uint32
	ReportData    [64]byte
	Measurement   [48]byte
	HostData      [32]byte
	IDKeyDigest   [48]byte
	AuthorKeyHash [48]byte
	ReportID      [32]byte
	ReportIDMA    [32]byte
	ReportedTCB   [8]byte
	// CPUID family, model and stepping (v3+; zero before).
	CPUIDFamily, CPUIDModel, CPUIDStepping         uint8
	ChipID                                         [64]byte
	CommittedTCB                                   [8]byte
	CurrentBuild, CurrentMinor, CurrentMajor       uint8
	CommittedBuild, CommittedMinor, CommittedMajor uint8
	LaunchTCB                                      [8]byte
	// Signature R and S, little-endian as in the report (72 bytes each).
	SigR, SigS [72]byte

	Raw [ReportSize]byte
}

// Policy bits MAA reports.
const (
	policySMT     = 1 << 16
	policyMigrate = 1 << 18
	policyDebug   = 1 << 19
)

// SMTAllowed, MigrationAllowed and Debuggable read the guest policy.
func (r *Report) SMTAllowed() bool       { return r.Policy&policySMT != 0 }
func (r *Report) MigrationAllowed() bool { return r.Policy&policyMigrate != 0 }
func (r *Report) Debuggable() bool       { return r.Policy&policyDebug != 0 }

// SigningKey returns flags bits 4:2.
func (r *Report) SigningKey() SigningKey { return SigningKey(r.Flags >> 2 & 7) }

// ChipIDMasked reports MASK_CHIP_ID (flags bit 1): CHIP_ID is then zero.
func (r *Report) ChipIDMasked() bool { return r.Flags&2 != 0 }

// AuthorKeyEnabled reports AUTHOR_KEY_EN (flags bit 0).
func (r *Report) AuthorKeyEnabled() bool { return r.Flags&1 != 0 }

// Signed returns the signed prefix [0, SignedSize) of the report.
func (r *Report) Signed() []byte { return r.Raw[:SignedSize] }

// CPUIDProduct returns the product named by the CPUID fields (v3+), or
// ProductUnknown for v1/v2 reports and unknown CPUs. Family 0x19 models
// 0x00-0x0F are Milan, 0x10-0x1F and 0xA0-0xAF (Genoa, Bergamo, Siena)
// Genoa; family 0x1A models 0x00-0x11 are Turin.
func (r *Report) CPUIDProduct() Product {
	if r.Version < 3 {
		return ProductUnknown
	}
	switch r.CPUIDFamily {
	case 0x19:
		switch {
		case r.CPUIDModel <= 0x0F:
			return ProductMilan
		case r.CPUIDModel >= 0x10 && r.CPUIDModel <= 0x1F, r.CPUIDModel >= 0xA0 && r.CPUIDModel <= 0xAF:
			return ProductGenoa
		}
	case 0x1A:
		if r.CPUIDModel <= 0x11 {
			return ProductTurin
		}
	}
	return ProductUnknown
}

// ParseReport parses and copies an ATTESTATION_REPORT. It checks structure
// only: the size (exactly ReportSize), VERSION in [MinReportVersion,
// MaxReportVersion], SIGNATURE_ALGO 1 (ECDSA P-384 with SHA-384) and a
// defined SIGNING_KEY. On failure it returns an error wrapping
// ErrMalformedReport or ErrUnsupportedReport that says which field and
// what was expected.
func ParseReport(b []byte) (*Report, error) {
	if len(b) != ReportSize {
		return nil, fmt.Errorf("%w: SnpReport is %d bytes, want exactly %d", ErrMalformedReport, len(b), ReportSize)
	}
	r := &Report{}
	copy(r.Raw[:], b)
	le := binary.LittleEndian
	raw := r.Raw[:]
	r.Version = le.Uint32(raw[0x00:])
	if r.Version < MinReportVersion || r.Version > MaxReportVersion {
		return nil, fmt.Errorf("%w: report VERSION is %d, want %d to %d", ErrUnsupportedReport, r.Version, MinReportVersion, MaxReportVersion)
	}
	r.GuestSVN = le.Uint32(raw[0x04:])
	r.Policy = le.Uint64(raw[0x08:])
	copy(r.FamilyID[:], raw[0x10:])
	copy(r.ImageID[:], raw[0x20:])
	r.VMPL = le.Uint32(raw[0x30:])
	r.SignatureAlgo = le.Uint32(raw[0x34:])
	if r.SignatureAlgo != 1 {
		return nil, fmt.Errorf("%w: report SIGNATURE_ALGO is %d, want 1 (ECDSA P-384 with SHA-384)", ErrUnsupportedReport, r.SignatureAlgo)
	}
	copy(r.CurrentTCB[:], raw[0x38:])
	r.PlatformInfo = le.Uint64(raw[0x40:])
	r.Flags = le.Uint32(raw[0x48:])
	switch k := r.SigningKey(); k {
	case SigningKeyVCEK, SigningKeyVLEK:
	case SigningKeyNone:
		return nil, fmt.Errorf("%w: report SIGNING_KEY is 7 (none): the report is unsigned; request a VCEK- or VLEK-signed report", ErrUnsupportedReport)
	default:
		return nil, fmt.Errorf("%w: report SIGNING_KEY is %d, want 0 (VCEK) or 1 (VLEK)", ErrUnsupportedReport, uint8(k))
	}
	copy(r.ReportData[:], raw[0x50:])
	copy(r.Measurement[:], raw[0x90:])
	copy(r.HostData[:], raw[0xC0:])
	copy(r.IDKeyDigest[:], raw[0xE0:])
	copy(r.AuthorKeyHash[:], raw[0x110:])
	copy(r.ReportID[:], raw[0x140:])
	copy(r.ReportIDMA[:], raw[0x160:])
	copy(r.ReportedTCB[:], raw[0x180:])
	if r.Version >= 3 {
		r.CPUIDFamily, r.CPUIDModel, r.CPUIDStepping = raw[0x188], raw[0x189], raw[0x18A]
	}
	copy(r.ChipID[:], raw[0x1A0:])
	copy(r.CommittedTCB[:], raw[0x1E0:])
	r.CurrentBuild, r.CurrentMinor, r.CurrentMajor = raw[0x1E8], raw[0x1E9], raw[0x1EA]
	r.CommittedBuild, r.CommittedMinor, r.CommittedMajor = raw[0x1EC], raw[0x1ED], raw[0x1EE]
	copy(r.LaunchTCB[:], raw[0x1F0:])
	copy(r.SigR[:], raw[0x2A0:])
	copy(r.SigS[:], raw[0x2E8:])
	return r, nil
}
