package simulate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

// The development AMD PKI mirrors AMD's: an ARK (self-signed) signs an ASK,
// which signs the VCEK, all RSASSA-PSS SHA-384, with an ECDSA P-384 VCEK
// carrying AMD's TCB and hwID extensions. The subject common names are
// AMD's (ARK-Milan, SEV-Milan, SEV-VCEK) because verifiers, Maat's and
// AMD's tools alike, assign roles by them; the organisation and unit say
// "Maat Development". One ARK key and one ASK key serve every simulated
// product; each product has its own ARK and ASK certificate.
//
// The keys are RSA-3072, not AMD's 4096 bits: generating a 4096-bit key
// takes seconds on a small machine, and every fresh data directory (every
// test server) makes two. The verifier does not depend on the size.
const amdKeyBits = 3072

// SNPProducts are the products simulated SEV-SNP reports can claim.
var SNPProducts = []sevsnp.Product{sevsnp.ProductMilan, sevsnp.ProductGenoa}

// SNPRootName is the name results and logs give the development ARK.
const SNPRootName = "Maat development AMD root (simulated evidence)"

// devSNPChipID is the development chip's CHIP_ID (the VCEK's hwID).
var devSNPChipID = func() [64]byte {
	var c [64]byte
	copy(c[:], "Maat development SEV-SNP chip - simulated evidence only")
	return c
}()

// snpProduct is what differs per product: the report's CPUID, the VCEK's
// product name and the platform's TCB (Milan/Genoa layout: BL, TEE at bytes
// 0-1, SNP at 6, microcode at 7).
type snpProduct struct {
	family, model, stepping uint8
	name                    string
	tcb                     [8]byte
}

var snpProducts = map[sevsnp.Product]snpProduct{
	sevsnp.ProductMilan: {0x19, 0x01, 0x01, "Milan-B0", [8]byte{4, 0, 0, 0, 0, 0, 22, 213}},
	sevsnp.ProductGenoa: {0x19, 0x11, 0x01, "Genoa-B1", [8]byte{9, 0, 0, 0, 0, 0, 23, 84}},
}

type amdPKI struct {
	arkKey, askKey *rsa.PrivateKey
	vcekKey        *ecdsa.PrivateKey
	ark, ask, vcek map[sevsnp.Product]*x509.Certificate
	roots          map[sevsnp.Product]*sevsnp.Roots
}

func amdName(cn, role string) pkix.Name {
	return pkix.Name{CommonName: cn, OrganizationalUnit: []string{"Maat Development " + role},
		Organization: []string{"Maat development PKI - not AMD - simulated evidence only"}}
}

// loadAMD reads the development AMD PKI of dir, creating it (valid from now
// for ten years) if there is none. The certificates persist with the keys:
// verifiers compare the ARK certificate byte for byte, so evidence made by
// `maat simulate` in one process must carry the ARK the server loaded.
func loadAMD(dir string, now time.Time) (*amdPKI, error) {
	arkPath := filepath.Join(dir, "amd-ark-key.pem")
	if _, err := os.Stat(arkPath); errors.Is(err, os.ErrNotExist) {
		return generateAMD(dir, now)
	}
	a := &amdPKI{}
	var ok1, ok2, ok3 bool
	ka, err1 := readKey(arkPath)
	kb, err2 := readKey(filepath.Join(dir, "amd-ask-key.pem"))
	kc, err3 := readKey(filepath.Join(dir, "amd-vcek-key.pem"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("simulate: development AMD PKI %s: %w", dir, err)
	}
	a.arkKey, ok1 = ka.(*rsa.PrivateKey)
	a.askKey, ok2 = kb.(*rsa.PrivateKey)
	a.vcekKey, ok3 = kc.(*ecdsa.PrivateKey)
	if !ok1 || !ok2 || !ok3 || a.vcekKey.Curve != elliptic.P384() {
		return nil, fmt.Errorf("simulate: development AMD PKI %s: want RSA ARK and ASK keys and an ECDSA P-384 VCEK key", dir)
	}
	a.init()
	for _, p := range SNPProducts {
		for _, c := range []struct {
			role string
			dst  map[sevsnp.Product]*x509.Certificate
			pub  any
		}{{"ark", a.ark, &a.arkKey.PublicKey}, {"ask", a.ask, &a.askKey.PublicKey}, {"vcek", a.vcek, &a.vcekKey.PublicKey}} {
			cert, err := readCert(filepath.Join(dir, certFile(c.role, p)))
			if err != nil {
				return nil, fmt.Errorf("simulate: development AMD PKI %s: %w", dir, err)
			}
			if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(c.pub) {
				return nil, fmt.Errorf("simulate: development AMD PKI %s: %s does not match its key", dir, certFile(c.role, p))
			}
			c.dst[p] = cert
		}
		r, err := sevsnp.NewRoots(p, a.ark[p], a.ask[p], nil)
		if err != nil {
			return nil, fmt.Errorf("simulate: development AMD PKI %s: %w", dir, err)
		}
		a.roots[p] = r
	}
	return a, nil
}

func certFile(role string, p sevsnp.Product) string {
	return "amd-" + role + "-" + strings.ToLower(string(p)) + ".pem"
}

func (a *amdPKI) init() {
	a.ark, a.ask, a.vcek = map[sevsnp.Product]*x509.Certificate{}, map[sevsnp.Product]*x509.Certificate{}, map[sevsnp.Product]*x509.Certificate{}
	a.roots = map[sevsnp.Product]*sevsnp.Roots{}
}

// generateAMD makes the keys and, per product, the ARK, ASK and VCEK
// certificates, and saves them in dir (the ARK key last: it marks the PKI
// as complete).
func generateAMD(dir string, now time.Time) (*amdPKI, error) {
	a := &amdPKI{}
	var err error
	if a.arkKey, err = rsa.GenerateKey(rand.Reader, amdKeyBits); err != nil {
		return nil, err
	}
	if a.askKey, err = rsa.GenerateKey(rand.Reader, amdKeyBits); err != nil {
		return nil, err
	}
	if a.vcekKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, err
	}
	a.init()
	nb, na := now.Add(-time.Hour), now.AddDate(10, 0, 0)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	for _, p := range SNPProducts {
		sp := snpProducts[p]
		ark, err := createCert(&x509.Certificate{Subject: amdName("ARK-"+string(p), "ARK"), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: nb, NotAfter: na}, nil, &a.arkKey.PublicKey, a.arkKey)
		if err != nil {
			return nil, err
		}
		ask, err := createCert(&x509.Certificate{Subject: amdName("SEV-"+string(p), "ASK"), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: nb, NotAfter: na}, ark, &a.askKey.PublicKey, a.arkKey)
		if err != nil {
			return nil, err
		}
		exts, err := vcekExtensions(sp)
		if err != nil {
			return nil, err
		}
		vcek, err := createCert(&x509.Certificate{Subject: amdName("SEV-VCEK", "VCEK"), NotBefore: nb, NotAfter: na,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtraExtensions: exts}, ask, &a.vcekKey.PublicKey, a.askKey)
		if err != nil {
			return nil, err
		}
		r, err := sevsnp.NewRoots(p, ark, ask, nil)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		a.ark[p], a.ask[p], a.vcek[p], a.roots[p] = ark, ask, vcek, r
		for role, c := range map[string]*x509.Certificate{"ark": ark, "ask": ask, "vcek": vcek} {
			if err := os.WriteFile(filepath.Join(dir, certFile(role, p)), pemCert(c), 0o644); err != nil {
				return nil, fmt.Errorf("simulate: %w", err)
			}
		}
	}
	for _, k := range []struct {
		name string
		key  any
	}{{"amd-ask-key.pem", a.askKey}, {"amd-vcek-key.pem", a.vcekKey}, {"amd-ark-key.pem", a.arkKey}} {
		if err := writeKey(filepath.Join(dir, k.name), k.key); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: not a PEM certificate", filepath.Base(path))
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return c, nil
}

// AMD's VCEK extension OIDs (1.3.6.1.4.1.3704.1.*, AMD spec 57230).
func amdOID(n ...int) asn1.ObjectIdentifier {
	return append(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3704, 1}, n...)
}

func vcekExtensions(sp snpProduct) ([]pkix.Extension, error) {
	name, err := asn1.MarshalWithParams(sp.name, "ia5")
	if err != nil {
		return nil, err
	}
	exts := []pkix.Extension{{Id: amdOID(2), Value: name}}
	for _, s := range []struct {
		oid int
		v   byte
	}{{1, sp.tcb[0]}, {2, sp.tcb[1]}, {3, sp.tcb[6]}, {8, sp.tcb[7]}} {
		v, err := asn1.Marshal(int(s.v))
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: amdOID(3, s.oid), Value: v})
	}
	// The hwID is the raw CHIP_ID, not a DER value (as AMD issues it).
	return append(exts, pkix.Extension{Id: amdOID(4), Value: devSNPChipID[:]}), nil
}

func createCert(tmpl, parent *x509.Certificate, pub any, signer *rsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.SignatureAlgorithm = x509.SHA384WithRSAPSS
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("simulate: certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func writeKey(path string, k any) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	return nil
}

func readKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return k, nil
}

// SNPRoots returns the development ARKs and ASKs, one per simulated
// product, for sevsnp.Options.Roots with OnlyRoots.
func (p *PKI) SNPRoots() map[sevsnp.Product]*sevsnp.Roots {
	out := make(map[sevsnp.Product]*sevsnp.Roots, len(p.amd.roots))
	for k, v := range p.amd.roots {
		out[k] = v
	}
	return out
}

// SNPGuest is what a simulated SEV-SNP guest's report says. Each field lands
// in the x-ms-sevsnpvm-* claim of the same meaning.
type SNPGuest struct {
	// Product is ProductMilan (also when empty) or ProductGenoa: the
	// report's CPUID and the VCEK chain.
	Product sevsnp.Product
	// ReportData is REPORT_DATA (x-ms-sevsnpvm-reportdata): SHA-256 of the
	// runtime data in the first 32 bytes (ReportDataFor).
	ReportData [64]byte
	// HostData is HOST_DATA (x-ms-sevsnpvm-hostdata), where init-time data
	// binds.
	HostData [32]byte
	// Measurement is MEASUREMENT (x-ms-sevsnpvm-launchmeasurement).
	Measurement [48]byte
	// Debug sets the guest policy's DEBUG bit (x-ms-sevsnpvm-is-debuggable).
	Debug bool
	// VMPL is the privilege level that requested the report (0-3).
	VMPL     uint32
	GuestSVN uint32
	FamilyID [16]byte
	ImageID  [16]byte
}

// Report layout constants (SEV-SNP ABI, ATTESTATION_REPORT version 3).
const (
	snpPolicyBase  = 1<<17 | 1<<16 // reserved-must-be-one, SMT allowed
	snpPolicyDebug = 1 << 19
)

// SNPReport returns a version 3 ATTESTATION_REPORT for g signed by the
// development VCEK (ECDSA P-384 over bytes [0, 0x2A0)), and the VCEK chain
// (VCEK, ASK, ARK; PEM) that verifies it. It returns an error for an unknown
// product or a VMPL above 3.
func (p *PKI) SNPReport(g SNPGuest) (report, chainPEM []byte, err error) {
	prod := g.Product
	if prod == "" {
		prod = sevsnp.ProductMilan
	}
	sp, ok := snpProducts[prod]
	if !ok {
		return nil, nil, fmt.Errorf("simulate: SEV-SNP product %q, want Milan or Genoa", g.Product)
	}
	if g.VMPL > 3 {
		return nil, nil, fmt.Errorf("simulate: VMPL %d, want 0 to 3", g.VMPL)
	}
	b := make([]byte, sevsnp.ReportSize)
	le := binary.LittleEndian
	le.PutUint32(b[0x00:], 3)
	le.PutUint32(b[0x04:], g.GuestSVN)
	policy := uint64(snpPolicyBase)
	if g.Debug {
		policy |= snpPolicyDebug
	}
	le.PutUint64(b[0x08:], policy)
	copy(b[0x10:], g.FamilyID[:])
	copy(b[0x20:], g.ImageID[:])
	le.PutUint32(b[0x30:], g.VMPL)
	le.PutUint32(b[0x34:], 1) // SIGNATURE_ALGO: ECDSA P-384 with SHA-384
	copy(b[0x38:], sp.tcb[:]) // CURRENT_TCB
	le.PutUint64(b[0x40:], 1) // PLATFORM_INFO: SMT enabled
	// FLAGS 0: VCEK-signed, CHIP_ID not masked, no author key.
	copy(b[0x50:], g.ReportData[:])
	copy(b[0x90:], g.Measurement[:])
	copy(b[0xC0:], g.HostData[:])
	if _, err := rand.Read(b[0x140:0x160]); err != nil { // REPORT_ID
		return nil, nil, err
	}
	for i := 0x160; i < 0x180; i++ { // REPORT_ID_MA: no migration agent
		b[i] = 0xff
	}
	copy(b[0x180:], sp.tcb[:]) // REPORTED_TCB
	b[0x188], b[0x189], b[0x18A] = sp.family, sp.model, sp.stepping
	copy(b[0x1A0:], devSNPChipID[:])
	copy(b[0x1E0:], sp.tcb[:])               // COMMITTED_TCB
	b[0x1E8], b[0x1E9], b[0x1EA] = 21, 55, 1 // CURRENT build, minor, major
	b[0x1EC], b[0x1ED], b[0x1EE] = 21, 55, 1 // COMMITTED build, minor, major
	copy(b[0x1F0:], sp.tcb[:])               // LAUNCH_TCB
	d := sha512.Sum384(b[:sevsnp.SignedSize])
	r, s, err := ecdsa.Sign(rand.Reader, p.amd.vcekKey, d[:])
	if err != nil {
		return nil, nil, err
	}
	putLE(b[0x2A0:0x2E8], r)
	putLE(b[0x2E8:0x330], s)
	var chain []byte
	for _, c := range []*x509.Certificate{p.amd.vcek[prod], p.amd.ask[prod], p.amd.ark[prod]} {
		chain = append(chain, pemCert(c)...)
	}
	return b, chain, nil
}

// putLE writes n little-endian into dst (the report's signature fields).
func putLE(dst []byte, n *big.Int) {
	be := n.FillBytes(make([]byte, 48))
	for i, v := range be {
		dst[47-i] = v
	}
}

// SNPEvidence returns the SevSnpVm "report" member for g before its
// base64url encoding: the JSON {"SnpReport", "VcekCertChain"} that Azure's
// clients send, both members base64url. See SNPReport for its errors.
func (p *PKI) SNPEvidence(g SNPGuest) ([]byte, error) {
	rep, chain, err := p.SNPReport(g)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		SnpReport     string `json:"SnpReport"`
		VcekCertChain string `json:"VcekCertChain"`
	}{base64.RawURLEncoding.EncodeToString(rep), base64.RawURLEncoding.EncodeToString(chain)})
}
