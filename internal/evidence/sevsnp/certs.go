package sevsnp

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

// Bounds on the certificate chain, checked before parsing.
const (
	MaxChainSize  = 64 << 10
	maxChainCerts = 8
)

// Chain is a VcekCertChain split by role (any of them may be nil). Roles
// are assigned by subject CN: SEV-VCEK / SEV-VLEK is the leaf, ARK-<P> the
// root, SEV-<P> / SEV-VLEK-<P> the intermediate.
type Chain struct {
	Leaf, Intermediate, ARK *x509.Certificate
}

// ParseChain parses a PEM bundle (certificates in any order; DER also
// accepted for a single certificate, as THIM and some clients send the VCEK
// alone). It checks structure only. It returns an error wrapping
// ErrMalformedChain for oversized input, non-certificate blocks, unknown
// subjects or two certificates in one role.
func ParseChain(b []byte) (*Chain, error) {
	if len(b) > MaxChainSize {
		return nil, fmt.Errorf("%w: VcekCertChain is %d bytes, at most %d allowed", ErrMalformedChain, len(b), MaxChainSize)
	}
	var ders [][]byte
	// Only leading white space is dropped: a DER certificate may end in a
	// byte that looks like white space.
	rest := bytes.TrimLeft(b, " \t\r\n")
	if len(rest) > 0 && rest[0] == 0x30 {
		ders = append(ders, rest)
	} else {
		for len(bytes.TrimSpace(rest)) > 0 {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return nil, fmt.Errorf("%w: VcekCertChain is not a PEM bundle of certificates", ErrMalformedChain)
			}
			if blk.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("%w: VcekCertChain holds a %q PEM block, want only CERTIFICATE blocks", ErrMalformedChain, blk.Type)
			}
			if len(ders) == maxChainCerts {
				return nil, fmt.Errorf("%w: VcekCertChain holds more than %d certificates", ErrMalformedChain, maxChainCerts)
			}
			ders = append(ders, blk.Bytes)
		}
	}
	ch := &Chain{}
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrMalformedChain, i+1, err)
		}
		cn := c.Subject.CommonName
		var slot **x509.Certificate
		switch {
		case cn == "SEV-VCEK" || cn == "SEV-VLEK":
			slot = &ch.Leaf
		case strings.HasPrefix(cn, "ARK-"):
			slot = &ch.ARK
		case strings.HasPrefix(cn, "SEV-"):
			slot = &ch.Intermediate
		default:
			return nil, fmt.Errorf("%w: certificate %d has subject CN %q, want SEV-VCEK, SEV-VLEK, SEV-<product>, SEV-VLEK-<product> or ARK-<product>", ErrMalformedChain, i+1, cn)
		}
		if *slot != nil {
			return nil, fmt.Errorf("%w: certificates %q appear twice", ErrMalformedChain, cn)
		}
		*slot = c
	}
	return ch, nil
}

// productOfChain names the product the chain's issuers name, or
// ProductUnknown: the intermediate's CN (SEV-Milan, SEV-VLEK-Genoa), else
// the leaf's issuer CN, else the ARK's CN.
func productOfChain(ch *Chain) Product {
	var names []string
	if ch.Intermediate != nil {
		names = append(names, ch.Intermediate.Subject.CommonName)
	}
	if ch.Leaf != nil {
		names = append(names, ch.Leaf.Issuer.CommonName)
	}
	if ch.ARK != nil {
		names = append(names, ch.ARK.Subject.CommonName)
	}
	for _, n := range names {
		n = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(n, "ARK-"), "SEV-"), "VLEK-")
		for _, p := range Products() {
			if n == string(p) {
				return p
			}
		}
	}
	return ProductUnknown
}

// AMD's VCEK/VLEK extension OIDs (AMD spec 57230, 1.3.6.1.4.1.3704.1.*).
var (
	oidProductName = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 2}
	oidBLSPL       = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 1}
	oidTEESPL      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 2}
	oidSNPSPL      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 3}
	oidUcodeSPL    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 8}
	oidFMCSPL      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 3, 9}
	oidHWID        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 4}
	oidCSPID       = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1, 5}
)

// LeafExtensions are the AMD extensions of a VCEK or VLEK.
type LeafExtensions struct {
	// ProductName as AMD writes it ("Milan-B0", "Genoa", "Turin").
	ProductName string
	TCB         TCB
	HasFMC      bool
	// HWID is the chip ID (64 bytes; Turin: 8); empty for VLEKs.
	HWID []byte
	// CSPID names the cloud provider a VLEK was issued to.
	CSPID string
}

// ParseLeafExtensions reads the AMD extensions. SPL values are DER
// INTEGERs (02 01 xx, or 02 02 00 xx for xx >= 0x80), decoded as such, not
// read at a fixed offset. It returns an error wrapping ErrMalformedChain when
// a TCB extension is missing or not an INTEGER in 0..255.
func ParseLeafExtensions(c *x509.Certificate) (*LeafExtensions, error) {
	e := &LeafExtensions{}
	seen := map[string]bool{}
	for _, x := range c.Extensions {
		var dst *uint8
		switch {
		case x.Id.Equal(oidProductName):
			var s string
			if _, err := asn1.UnmarshalWithParams(x.Value, &s, "ia5"); err != nil {
				return nil, fmt.Errorf("%w: VCEK product name extension: %v", ErrMalformedChain, err)
			}
			e.ProductName = s
		case x.Id.Equal(oidHWID):
			// The HWID is the raw chip ID, not a DER value.
			e.HWID = bytes.Clone(x.Value)
		case x.Id.Equal(oidCSPID):
			var s string
			if _, err := asn1.UnmarshalWithParams(x.Value, &s, "utf8"); err == nil {
				e.CSPID = s
			} else if _, err := asn1.UnmarshalWithParams(x.Value, &s, "ia5"); err == nil {
				e.CSPID = s
			}
		case x.Id.Equal(oidBLSPL):
			dst = &e.TCB.Bootloader
		case x.Id.Equal(oidTEESPL):
			dst = &e.TCB.TEE
		case x.Id.Equal(oidSNPSPL):
			dst = &e.TCB.SNP
		case x.Id.Equal(oidUcodeSPL):
			dst = &e.TCB.Microcode
		case x.Id.Equal(oidFMCSPL):
			dst = &e.TCB.FMC
			e.HasFMC = true
		}
		if dst == nil {
			continue
		}
		var n int64
		rest, err := asn1.Unmarshal(x.Value, &n)
		if err != nil || len(rest) != 0 || n < 0 || n > 255 {
			return nil, fmt.Errorf("%w: VCEK extension %v is not a DER INTEGER in 0..255", ErrMalformedChain, x.Id)
		}
		*dst = uint8(n)
		seen[x.Id.String()] = true
	}
	for _, o := range []asn1.ObjectIdentifier{oidBLSPL, oidTEESPL, oidSNPSPL, oidUcodeSPL} {
		if !seen[o.String()] {
			return nil, fmt.Errorf("%w: %s has no TCB extension %v", ErrMalformedChain, c.Subject.CommonName, o)
		}
	}
	return e, nil
}

// Product is the AMD product the certificate's product name extension
// names ("Milan-B0" is Milan), or ProductUnknown.
func (e *LeafExtensions) Product() Product { return productOfName(e.ProductName) }

// productOfName maps AMD's product name extension ("Milan-B0") to a Product.
func productOfName(name string) Product {
	base, _, _ := strings.Cut(name, "-")
	for _, p := range Products() {
		if strings.EqualFold(base, string(p)) {
			return p
		}
	}
	return ProductUnknown
}
