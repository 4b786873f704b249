package dcap

import (
	"crypto/x509"
	"encoding/asn1"

	"github.com/maat-attest/maat/internal/maaerr"
)

// OIDSGXExtension is the PCK certificate's SGX extension,
// 1.2.840.113741.1.13.1.
var OIDSGXExtension = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}

// SGXType is the PCK certificate's SGX Type.
type SGXType int

// SGX types.
const (
	SGXTypeStandard              SGXType = 0
	SGXTypeScalable              SGXType = 1
	SGXTypeScalableWithIntegrity SGXType = 2
)

// PCKExtensions is the decoded SGX extension of a PCK certificate.
type PCKExtensions struct {
	PPID          [16]byte
	TCBComponents [16]uint8 // SGX TCB COMP01..16 SVN
	PCESVN        uint16
	CPUSVN        [16]byte
	PCEID         [2]byte
	FMSPC         [6]byte
	SGXType       SGXType
	// Platform-CA certificates only.
	PlatformInstanceID []byte // 16 bytes when present
	Configuration      *PlatformConfiguration
}

// PlatformConfiguration is the Configuration entry of a Platform-CA PCK
// certificate; a nil pointer field means the entry was absent.
type PlatformConfiguration struct {
	DynamicPlatform *bool
	CachedKeys      *bool
	SMTEnabled      *bool
}

type oidValue struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

// maxSGXExtensionSize bounds the extension value accepted.
const maxSGXExtensionSize = 4096

// PCKExtensionsFromCertificate finds and decodes the SGX extension of cert.
// It returns an error wrapping ErrMalformedPCKExt when the extension is
// missing or malformed.
func PCKExtensionsFromCertificate(cert *x509.Certificate) (*PCKExtensions, error) {
	for _, e := range cert.Extensions {
		if e.Id.Equal(OIDSGXExtension) {
			return ParsePCKExtensions(e.Value)
		}
	}
	return nil, pckExtErr("certificate has no SGX extension")
}

// ParsePCKExtensions decodes the DER value of the SGX extension
// (SEQUENCE OF SEQUENCE {OID, value}). It requires PPID, TCB (16 component
// SVNs 0..255, PCESVN 0..65535, 16-byte CPUSVN), PCE-ID, FMSPC and SGX Type,
// exactly 5 entries for Processor-CA certificates or 7 with Platform Instance
// ID and Configuration; unknown or duplicate entries are rejected. The result
// does not alias der. On failure it returns nil and an InvalidQuote error
// wrapping ErrMalformedPCKExt.
func ParsePCKExtensions(der []byte) (*PCKExtensions, error) {
	if len(der) > maxSGXExtensionSize {
		return nil, pckExtErr("extension is %d bytes, over the %d-byte limit", len(der), maxSGXExtensionSize)
	}
	var entries []oidValue
	rest, err := asn1.Unmarshal(der, &entries)
	if err != nil {
		return nil, pckExtErr("not a SEQUENCE OF {OID, value}: %v", err)
	}
	if len(rest) != 0 {
		return nil, pckExtErr("%d trailing bytes", len(rest))
	}
	if len(entries) != 5 && len(entries) != 7 {
		return nil, pckExtErr("%d entries, want 5 or 7", len(entries))
	}
	x := &PCKExtensions{}
	seen := map[int]bool{}
	for _, e := range entries {
		n, ok := subOID(e.ID, OIDSGXExtension)
		if !ok {
			return nil, pckExtErr("unexpected entry %v", e.ID)
		}
		if seen[n] {
			return nil, pckExtErr("duplicate entry %v", e.ID)
		}
		seen[n] = true
		switch n {
		case 1:
			if err := octets(e.Value, x.PPID[:], "PPID"); err != nil {
				return nil, err
			}
		case 2:
			if err := x.parseTCB(e.Value); err != nil {
				return nil, err
			}
		case 3:
			if err := octets(e.Value, x.PCEID[:], "PCE-ID"); err != nil {
				return nil, err
			}
		case 4:
			if err := octets(e.Value, x.FMSPC[:], "FMSPC"); err != nil {
				return nil, err
			}
		case 5:
			var t asn1.Enumerated
			if r, err := asn1.Unmarshal(e.Value.FullBytes, &t); err != nil || len(r) != 0 {
				return nil, pckExtErr("SGX Type is not an ENUMERATED")
			}
			if t < 0 || t > 2 {
				return nil, pckExtErr("SGX Type %d is unknown", t)
			}
			x.SGXType = SGXType(t)
		case 6:
			var id [16]byte
			if err := octets(e.Value, id[:], "Platform Instance ID"); err != nil {
				return nil, err
			}
			x.PlatformInstanceID = id[:]
		case 7:
			c, err := parseConfiguration(e.Value)
			if err != nil {
				return nil, err
			}
			x.Configuration = c
		default:
			return nil, pckExtErr("unexpected entry %v", e.ID)
		}
	}
	for n := 1; n <= len(entries); n++ {
		if !seen[n] {
			return nil, pckExtErr("entry %v.%d missing", OIDSGXExtension, n)
		}
	}
	return x, nil
}

func (x *PCKExtensions) parseTCB(v asn1.RawValue) error {
	var comps []oidValue
	if r, err := asn1.Unmarshal(v.FullBytes, &comps); err != nil || len(r) != 0 {
		return pckExtErr("TCB is not a SEQUENCE OF {OID, value}")
	}
	if len(comps) != 18 {
		return pckExtErr("TCB has %d entries, want 18", len(comps))
	}
	tcbOID := append(append(asn1.ObjectIdentifier{}, OIDSGXExtension...), 2)
	var seen [19]bool
	for _, c := range comps {
		n, ok := subOID(c.ID, tcbOID)
		if !ok || n < 1 || n > 18 || seen[n] {
			return pckExtErr("unexpected or duplicate TCB entry %v", c.ID)
		}
		seen[n] = true
		switch {
		case n <= 16:
			var svn int
			if r, err := asn1.Unmarshal(c.Value.FullBytes, &svn); err != nil || len(r) != 0 || svn < 0 || svn > 255 {
				return pckExtErr("TCB component %d is not an INTEGER in 0..255", n)
			}
			x.TCBComponents[n-1] = uint8(svn)
		case n == 17:
			var svn int
			if r, err := asn1.Unmarshal(c.Value.FullBytes, &svn); err != nil || len(r) != 0 || svn < 0 || svn > 65535 {
				return pckExtErr("PCESVN is not an INTEGER in 0..65535")
			}
			x.PCESVN = uint16(svn)
		default:
			if err := octets(c.Value, x.CPUSVN[:], "CPUSVN"); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseConfiguration(v asn1.RawValue) (*PlatformConfiguration, error) {
	var items []oidValue
	if r, err := asn1.Unmarshal(v.FullBytes, &items); err != nil || len(r) != 0 {
		return nil, pckExtErr("Configuration is not a SEQUENCE OF {OID, value}")
	}
	if len(items) > 3 {
		return nil, pckExtErr("Configuration has %d entries", len(items))
	}
	cfgOID := append(append(asn1.ObjectIdentifier{}, OIDSGXExtension...), 7)
	c := &PlatformConfiguration{}
	for _, it := range items {
		n, ok := subOID(it.ID, cfgOID)
		if !ok {
			return nil, pckExtErr("unexpected Configuration entry %v", it.ID)
		}
		var b bool
		if r, err := asn1.Unmarshal(it.Value.FullBytes, &b); err != nil || len(r) != 0 {
			return nil, pckExtErr("Configuration entry %d is not a BOOLEAN", n)
		}
		var dst **bool
		switch n {
		case 1:
			dst = &c.DynamicPlatform
		case 2:
			dst = &c.CachedKeys
		case 3:
			dst = &c.SMTEnabled
		default:
			return nil, pckExtErr("unexpected Configuration entry %v", it.ID)
		}
		if *dst != nil {
			return nil, pckExtErr("duplicate Configuration entry %d", n)
		}
		*dst = &b
	}
	return c, nil
}

// subOID returns n when id == base.n.
func subOID(id, base asn1.ObjectIdentifier) (int, bool) {
	if len(id) != len(base)+1 {
		return 0, false
	}
	for i := range base {
		if id[i] != base[i] {
			return 0, false
		}
	}
	return id[len(base)], true
}

func octets(v asn1.RawValue, dst []byte, what string) error {
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagOctetString || v.IsCompound {
		return pckExtErr("%s is not an OCTET STRING", what)
	}
	if len(v.Bytes) != len(dst) {
		return pckExtErr("%s is %d bytes, want %d", what, len(v.Bytes), len(dst))
	}
	copy(dst, v.Bytes)
	return nil
}

func pckExtErr(format string, args ...any) error {
	return maaerr.Wrap(ErrMalformedPCKExt, maaerr.InvalidQuote, format, args...)
}
