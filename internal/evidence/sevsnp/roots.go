package sevsnp

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
)

// The AMD certificate chains (ASK or ASVK, then ARK) as AMD KDS serves them
// at /vcek/v1/{product}/cert_chain and /vlek/v1/{product}/cert_chain; see
// trust/README.md for provenance.
//
//go:embed trust/*.pem
var trustFS embed.FS

// arkPins are the SHA-256 fingerprints of AMD's root certificates. The
// embedded files are checked against them when first used, so a corrupted
// or replaced file cannot become a trust anchor.
var arkPins = map[Product]string{
	ProductMilan: "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
	ProductGenoa: "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
	ProductTurin: "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
}

// Roots are the trust anchors of one product: its ARK and the two
// intermediates it signs, the ASK (for VCEKs) and the ASVK (for VLEKs).
type Roots struct {
	Product Product
	ARK     *x509.Certificate
	ASK     *x509.Certificate
	ASVK    *x509.Certificate
}

// intermediate returns the ASK or ASVK for a signing key.
func (r *Roots) intermediate(k SigningKey) *x509.Certificate {
	if k == SigningKeyVLEK {
		return r.ASVK
	}
	return r.ASK
}

var embeddedRoots = sync.OnceValue(func() map[Product]*Roots {
	m := map[Product]*Roots{}
	for _, p := range Products() {
		lp := strings.ToLower(string(p))
		vcek, err := readChain("trust/" + lp + "_vcek_cert_chain.pem")
		if err != nil {
			panic("sevsnp: embedded roots: " + err.Error())
		}
		vlek, err := readChain("trust/" + lp + "_vlek_cert_chain.pem")
		if err != nil {
			panic("sevsnp: embedded roots: " + err.Error())
		}
		r, err := NewRoots(p, vcek[1], vcek[0], vlek[0])
		if err != nil {
			panic("sevsnp: embedded roots: " + err.Error())
		}
		if !bytes.Equal(vlek[1].Raw, vcek[1].Raw) {
			panic("sevsnp: embedded roots: the VLEK chain of " + string(p) + " has another ARK")
		}
		sum := sha256.Sum256(r.ARK.Raw)
		if hex.EncodeToString(sum[:]) != arkPins[p] {
			panic("sevsnp: embedded ARK-" + string(p) + " does not match its pinned fingerprint")
		}
		m[p] = r
	}
	return m
})

func readChain(name string) ([]*x509.Certificate, error) {
	b, err := trustFS.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, c)
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("%s: %d certificates, want 2", name, len(out))
	}
	return out, nil
}

// AMDRoots returns AMD's production roots for p (Milan, Genoa or Turin), or
// nil for any other product.
func AMDRoots(p Product) *Roots { return embeddedRoots()[p] }

// NewRoots checks and returns a product's trust anchors: the ARK must be
// self-signed (RSASSA-PSS) with CN ARK-<product>, and the ASK and ASVK (nil
// allowed for either) must be signed by it. It returns an error otherwise;
// tests use it to build roots for a test PKI.
func NewRoots(p Product, ark, ask, asvk *x509.Certificate) (*Roots, error) {
	if ark == nil {
		return nil, fmt.Errorf("sevsnp: roots for %s: no ARK", p)
	}
	if ark.Subject.CommonName != "ARK-"+string(p) {
		return nil, fmt.Errorf("sevsnp: roots for %s: ARK CN is %q, want %q", p, ark.Subject.CommonName, "ARK-"+string(p))
	}
	if err := ark.CheckSignatureFrom(ark); err != nil {
		return nil, fmt.Errorf("sevsnp: roots for %s: ARK is not self-signed: %v", p, err)
	}
	for _, c := range []*x509.Certificate{ask, asvk} {
		if c == nil {
			continue
		}
		if err := c.CheckSignatureFrom(ark); err != nil {
			return nil, fmt.Errorf("sevsnp: roots for %s: %s is not signed by the ARK: %v", p, c.Subject.CommonName, err)
		}
	}
	return &Roots{Product: p, ARK: ark, ASK: ask, ASVK: asvk}, nil
}
