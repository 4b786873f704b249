package sevsnp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/maaerr"
)

// testPKI is an AMD-shaped PKI with test keys: ARK-Milan → SEV-Milan (ASK)
// and SEV-VLEK-Milan (ASVK) → SEV-VCEK / SEV-VLEK, RSASSA-PSS SHA-384 and an
// ECDSA P-384 leaf with AMD's extensions. It exercises what no real vector
// can: CRLs signed by the ARK, VLEK-signed reports, MASK_CHIP_ID.
type testPKI struct {
	arkKey, askKey, asvkKey *rsa.PrivateKey
	ark, ask, asvk          *x509.Certificate
	roots                   *Roots
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

func getTestPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		p := &testPKI{}
		var err error
		for _, k := range []**rsa.PrivateKey{&p.arkKey, &p.askKey, &p.asvkKey} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		mk := func(cn string, serial int64, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) *x509.Certificate {
			tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"Advanced Micro Devices"}},
				NotBefore: pinTAV.Add(-24 * time.Hour), NotAfter: pinTAV.Add(10 * 365 * 24 * time.Hour), BasicConstraintsValid: true, IsCA: true,
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SignatureAlgorithm: x509.SHA384WithRSAPSS}
			if parent == nil {
				parent = tpl
			}
			der, err := x509.CreateCertificate(rand.Reader, tpl, parent, pub, key)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			return c
		}
		p.ark = mk("ARK-Milan", 1, &p.arkKey.PublicKey, nil, p.arkKey)
		p.ask = mk("SEV-Milan", 2, &p.askKey.PublicKey, p.ark, p.arkKey)
		p.asvk = mk("SEV-VLEK-Milan", 3, &p.asvkKey.PublicKey, p.ark, p.arkKey)
		if p.roots, err = NewRoots(ProductMilan, p.ark, p.ask, p.asvk); err != nil {
			panic(err)
		}
		pki = p
	})
	return pki
}

func derInt(n int) []byte { b, _ := asn1.Marshal(n); return b }

// leaf issues a VCEK (or VLEK) for r's REPORTED_TCB and CHIP_ID and signs r
// with it, returning the signed report and the leaf PEM.
func (p *testPKI) leaf(t testing.TB, report []byte, key SigningKey) ([]byte, []byte) {
	rep, leaf, _ := p.leafKey(t, report, key)
	return rep, leaf
}

func (p *testPKI) leafKey(t testing.TB, report []byte, key SigningKey) ([]byte, []byte, *ecdsa.PrivateKey) {
	t.Helper()
	r, err := ParseReport(report)
	if err != nil {
		t.Fatal(err)
	}
	tcb := DecomposeTCB(ProductMilan, r.ReportedTCB)
	ext := func(oid asn1.ObjectIdentifier, v []byte) pkix.Extension { return pkix.Extension{Id: oid, Value: v} }
	name, _ := asn1.MarshalWithParams("Milan-B0", "ia5")
	exts := []pkix.Extension{ext(oidProductName, name), ext(oidBLSPL, derInt(int(tcb.Bootloader))), ext(oidTEESPL, derInt(int(tcb.TEE))),
		ext(oidSNPSPL, derInt(int(tcb.SNP))), ext(oidUcodeSPL, derInt(int(tcb.Microcode)))}
	cn, parent, pkey := "SEV-VCEK", p.ask, p.askKey
	if key == SigningKeyVLEK {
		cn, parent, pkey = "SEV-VLEK", p.asvk, p.asvkKey
		csp, _ := asn1.MarshalWithParams("TestCSP", "utf8")
		exts = append(exts, ext(oidCSPID, csp))
	} else {
		exts = append(exts, ext(oidHWID, r.ChipID[:]))
	}
	lk, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(0), Subject: pkix.Name{CommonName: cn}, NotBefore: pinTAV.Add(-time.Hour),
		NotAfter: pinTAV.Add(365 * 24 * time.Hour), ExtraExtensions: exts, SignatureAlgorithm: x509.SHA384WithRSAPSS}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, &lk.PublicKey, pkey)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), report...)
	flags := binary.LittleEndian.Uint32(out[0x48:])&^(7<<2) | uint32(key)<<2
	binary.LittleEndian.PutUint32(out[0x48:], flags)
	signReport(t, out, lk)
	return out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), lk
}

func signReport(t testing.TB, report []byte, k *ecdsa.PrivateKey) {
	d := sha512.Sum384(report[:SignedSize])
	rr, ss, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	clear(report[0x2A0:0x330])
	for i, b := range rr.FillBytes(make([]byte, 48)) {
		report[0x2A0+47-i] = b
	}
	for i, b := range ss.FillBytes(make([]byte, 48)) {
		report[0x2E8+47-i] = b
	}
}

// crlSource serves a fixed CRL (or error) to the verifier.
type crlSource struct {
	der []byte
	err error
	n   int
}

func (c *crlSource) VCEK(context.Context, CertQuery) ([]byte, error) {
	return nil, errors.New("not here")
}
func (c *crlSource) CRL(context.Context, Product, SigningKey) ([]byte, error) {
	c.n++
	return c.der, c.err
}

func (p *testPKI) crl(t testing.TB, signer *rsa.PrivateKey, issuer *x509.Certificate, revoked ...*big.Int) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: pinTAV.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: pinTAV.Add(-time.Hour),
		NextUpdate: pinTAV.Add(24 * time.Hour), RevokedCertificateEntries: entries, SignatureAlgorithm: x509.SHA384WithRSAPSS}, issuer, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTestPKIVLEKAndMask(t *testing.T) {
	p := getTestPKI(t)
	base := readTD(t, "tav/milan_attestation_report.bin")
	opts := func(o *Options) { o.Roots = map[Product]*Roots{ProductMilan: p.roots} }

	rep, leaf := p.leaf(t, base, SigningKeyVLEK)
	vd, err := newTestVerifier(t, pinTAV, opts).Verify(context.Background(), evidenceJSON(rep, leaf), nil)
	if err != nil {
		t.Fatalf("VLEK: %v", err)
	}
	if vd.Claims[ClaimSigningKey] != "vlek" {
		t.Errorf("signing key claim %v", vd.Claims[ClaimSigningKey])
	}
	// A VLEK report without its VLEK cannot be completed from KDS.
	if _, err := newTestVerifier(t, pinTAV, opts).Verify(context.Background(), evidenceJSON(rep, nil), nil); !errors.Is(err, ErrNoVCEK) {
		t.Errorf("VLEK without chain: %v", err)
	}
	// A VCEK-signed report presented with a VLEK: refused.
	vcekRep, _ := p.leaf(t, base, SigningKeyVCEK)
	if _, err := newTestVerifier(t, pinTAV, opts).Verify(context.Background(), evidenceJSON(vcekRep, leaf), nil); !errors.Is(err, ErrChain) {
		t.Errorf("VCEK report, VLEK leaf: %v", err)
	}
	// The real AMD roots do not accept the test PKI.
	if _, err := newTestVerifier(t, pinTAV, nil).Verify(context.Background(), evidenceJSON(rep, leaf), nil); !errors.Is(err, ErrChain) && !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("test PKI under AMD's roots: %v", err)
	}

	// MASK_CHIP_ID: CHIP_ID is zero and the VCEK's hwID (the real chip's)
	// is not compared.
	_, leafPEM, lk := p.leafKey(t, base, SigningKeyVCEK)
	masked := append([]byte(nil), base...)
	binary.LittleEndian.PutUint32(masked[0x48:], binary.LittleEndian.Uint32(masked[0x48:])|2)
	clear(masked[0x1A0:0x1E0])
	signReport(t, masked, lk)
	if _, err := newTestVerifier(t, pinTAV, opts).Verify(context.Background(), evidenceJSON(masked, leafPEM), nil); err != nil {
		t.Fatalf("masked chip ID: %v", err)
	}
	// The same zero CHIP_ID without MASK_CHIP_ID: the hwID mismatch is caught.
	unmasked := append([]byte(nil), base...)
	clear(unmasked[0x1A0:0x1E0])
	signReport(t, unmasked, lk)
	if _, err := newTestVerifier(t, pinTAV, opts).Verify(context.Background(), evidenceJSON(unmasked, leafPEM), nil); !errors.Is(err, ErrChipIDMismatch) {
		t.Fatalf("zero CHIP_ID without MASK_CHIP_ID: %v", err)
	}
	// A masked report cannot be completed from a VCEK source.
	v := newTestVerifier(t, pinTAV, func(o *Options) { opts(o); o.Collateral = &crlSource{} })
	if _, err := v.Verify(context.Background(), evidenceJSON(masked, nil), nil); !errors.Is(err, ErrNoVCEK) {
		t.Fatalf("masked, no VCEK: %v", err)
	}
}

func TestCRLModes(t *testing.T) {
	p := getTestPKI(t)
	rep, leaf := p.leaf(t, readTD(t, "tav/milan_attestation_report.bin"), SigningKeyVCEK)
	raw := evidenceJSON(rep, leaf)
	run := func(mode CRLMode, src Collateral) (map[string]any, error) {
		v := newTestVerifier(t, pinTAV, func(o *Options) {
			o.Roots = map[Product]*Roots{ProductMilan: p.roots}
			o.CRL = mode
			o.Collateral = src
		})
		vd, err := v.Verify(context.Background(), raw, nil)
		if err != nil {
			return nil, err
		}
		return vd.Claims, nil
	}
	good := &crlSource{der: p.crl(t, p.arkKey, p.ark, big.NewInt(99))}
	revoked := &crlSource{der: p.crl(t, p.arkKey, p.ark, p.ask.SerialNumber)}
	forged := &crlSource{der: p.crl(t, p.askKey, p.ask)} // not signed by the ARK
	down := &crlSource{err: errors.New("KDS down")}

	for _, c := range []struct {
		name  string
		mode  CRLMode
		src   Collateral
		claim string
		err   error
	}{
		{"off", CRLOff, good, CRLNotChecked, nil},
		{"soft checked", CRLSoft, good, CRLChecked, nil},
		{"hard checked", CRLHard, good, CRLChecked, nil},
		{"soft revoked", CRLSoft, revoked, "", ErrRevoked},
		{"hard revoked", CRLHard, revoked, "", ErrRevoked},
		{"soft down", CRLSoft, down, CRLUnavailable, nil},
		{"hard down", CRLHard, down, "", ErrCRL},
		{"soft forged", CRLSoft, forged, CRLUnavailable, nil},
		{"hard forged", CRLHard, forged, "", ErrCRL},
		{"soft no source", CRLSoft, nil, CRLUnavailable, nil},
		{"hard no source", CRLHard, nil, "", ErrCRL},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := run(c.mode, c.src)
			if c.err != nil {
				if !errors.Is(err, c.err) || maaerr.As(err).Code != maaerr.InvalidQuote {
					t.Fatalf("%v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cl[ClaimCRL] != c.claim {
				t.Errorf("crl claim %v, want %s", cl[ClaimCRL], c.claim)
			}
		})
	}
	// Past the CRL's nextUpdate it no longer counts.
	v := newTestVerifier(t, pinTAV.Add(48*time.Hour), func(o *Options) {
		o.Roots = map[Product]*Roots{ProductMilan: p.roots}
		o.CRL = CRLHard
		o.Collateral = good
	})
	if _, err := v.Verify(context.Background(), raw, nil); !errors.Is(err, ErrCRL) {
		t.Errorf("expired CRL in hard mode: %v", err)
	}
}

// OnlyRoots: the configured roots are the only anchors. Genuine AMD
// evidence of the replaced product and of a product with no entry is
// refused; the test PKI's evidence is accepted.
func TestOnlyRoots(t *testing.T) {
	p := getTestPKI(t)
	only := func(o *Options) { o.Roots = map[Product]*Roots{ProductMilan: p.roots}; o.OnlyRoots = true }
	rep, leaf := p.leaf(t, readTD(t, "tav/milan_attestation_report.bin"), SigningKeyVCEK)
	if _, err := newTestVerifier(t, pinTAV, only).Verify(context.Background(), evidenceJSON(rep, leaf), nil); err != nil {
		t.Fatalf("test PKI under OnlyRoots: %v", err)
	}
	for _, name := range []string{"milan", "genoa", "turin"} {
		vec := tavVector(t, name)
		if _, err := newTestVerifier(t, pinTAV, nil).Verify(context.Background(), evidenceJSON(vec.report, vec.chain), nil); err != nil {
			t.Fatalf("%s under AMD's roots: %v", name, err)
		}
		_, err := newTestVerifier(t, pinTAV, only).Verify(context.Background(), evidenceJSON(vec.report, vec.chain), nil)
		if !errors.Is(err, ErrUntrustedRoot) && !errors.Is(err, ErrChain) {
			t.Fatalf("genuine %s under OnlyRoots (test Milan root): %v", name, err)
		}
	}
}
