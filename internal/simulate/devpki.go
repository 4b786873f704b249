// Package simulate produces TEE evidence without TEE hardware, for
// developing secure-key-release flows locally and in CI: SGX DCAP quotes (v3,
// ECDSA-P256, with a PCK certificate chain and a QE report) and OpenEnclave
// reports carrying the report data, MRENCLAVE, MRSIGNER, product id, SVN,
// debug flag and KSS fields the developer chooses, and SEV-SNP
// attestation reports (version 3, Milan or Genoa, snp.go) carrying the
// REPORT_DATA, HOST_DATA, MEASUREMENT, debug policy and VMPL the developer
// chooses, signed by a development VCEK under a development ARK and ASK,
// and TDX TD quotes (version 4, tdx.go) carrying the REPORTDATA, MRTD,
// RTMRs, MRCONFIGID, MROWNER, MROWNERCONFIG, MRSEAM, TEE_TCB_SVN, TD
// attributes and XFAM the developer chooses.
//
// The evidence is signed by a development PKI generated once per data
// directory (a development "SGX Root CA", PCK Processor CA, PCK certificate
// and TCB Signing certificate, all named "Maat Development …"), and the
// collateral that verifies it (TCB Info, QE Identity, CRLs; TDX TCB Info and
// TD_QE identity for TD quotes) is signed at the current time, so
// verification runs the real DCAP algorithm (internal/evidence/sgx and
// internal/evidence/tdx) on fresh dates. Only a server in development mode
// with dev-trust-simulated-evidence trusts the development root; every token
// from such evidence says so (x-maat-simulated-evidence).
//
// It builds its own PKI rather than on the shared test PKI
// (internal/testsupport/dcappki) because that one centres every validity
// window, CRL and collateral date on a fixed package-level instant
// (dcappki.Now, 2025-03-01) and names its certificates as Intel's: using it
// at the current time would mean mutating a package-level variable, and its
// evidence would not say what it is. When dcappki takes a clock and names in
// its Spec, this package's builder (evidence.go) can move onto it. It does
// not touch internal/evidence/sgx and knows the wire formats on its own.
package simulate

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/sgx"
)

// DirName is the subdirectory of the data directory holding the PKI.
const DirName = "dev-pki"

// RootName is the trust-root name results carry for the development root.
const RootName = "Maat development SGX root (simulated evidence)"

// ClaimSimulated is the claim every token from simulated evidence carries
// (true), visible to attestation and release policies.
const ClaimSimulated = "x-maat-simulated-evidence"

// Fixed platform identity of the development PCK certificate.
var (
	// FMSPC is the development platform's FMSPC ("00de7e000000").
	FMSPC = [6]byte{0x00, 0xde, 0x7e, 0x00, 0x00, 0x00}
	// PCEID of the development platform.
	PCEID = [2]byte{0x00, 0x00}
)

const (
	devCPUSVN   = 2 // every SGX TCB component
	devPCESVN   = 13
	devQEISVSVN = 8
	devQEProdID = 1 // the SGX QE's ISVPRODID
)

// devQEMRSigner is the development quoting enclave's MRSIGNER.
var devQEMRSigner = [32]byte{0x4d, 0x61, 0x61, 0x74, 0x2d, 0x64, 0x65, 0x76, 0x2d, 0x51, 0x45}

type ca struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// PKI is a development PKI: keys and certificates persisted in a data
// directory. It is safe for concurrent use (it is never modified after
// Load).
type PKI struct {
	root, inter, tcb, pck *ca
	amd                   *amdPKI

	// PCK certificates of the lower TCB levels (pckFor), made on first use:
	// the same PCK key, certified at another TCB.
	mu     sync.Mutex
	pckLow map[collateral.TCBStatus]*x509.Certificate
}

var files = []string{"root", "pck-processor-ca", "tcb-signing", "pck"}

// Load reads the development PKI of dataDir (SGX and AMD), creating either
// part (valid from now for ten years) if there is none. It returns an error
// if the files exist but do not parse, or cannot be written.
func Load(dataDir string, now time.Time) (*PKI, error) {
	p, err := loadSGX(dataDir, now)
	if err != nil {
		return nil, err
	}
	if p.amd, err = loadAMD(filepath.Join(dataDir, DirName), now); err != nil {
		return nil, err
	}
	return p, nil
}

func loadSGX(dataDir string, now time.Time) (*PKI, error) {
	dir := filepath.Join(dataDir, DirName)
	if _, err := os.Stat(filepath.Join(dir, "root.pem")); errors.Is(err, os.ErrNotExist) {
		p, err := generate(now)
		if err != nil {
			return nil, err
		}
		if err := p.save(dir); err != nil {
			return nil, err
		}
		return p, nil
	}
	var cas [4]*ca
	for i, name := range files {
		c, err := readCA(dir, name)
		if err != nil {
			return nil, fmt.Errorf("simulate: development PKI %s: %w", dir, err)
		}
		cas[i] = c
	}
	return &PKI{root: cas[0], inter: cas[1], tcb: cas[2], pck: cas[3]}, nil
}

// Root returns the development root certificate.
func (p *PKI) Root() *x509.Certificate { return p.root.cert }

// TrustRoot returns the development root as an SGX trust anchor.
func (p *PKI) TrustRoot() sgx.TrustRoot { return sgx.TrustRoot{Name: RootName, Cert: p.root.cert} }

// RootPEM returns the development root certificate, PEM.
func (p *PKI) RootPEM() []byte { return pemCert(p.root.cert) }

func devName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"Maat development PKI - not Intel - simulated evidence only"}}
}

func generate(now time.Time) (p *PKI, err error) {
	nb, na := now.Add(-time.Hour), now.AddDate(10, 0, 0)
	p = &PKI{}
	if p.root, err = newCA(&x509.Certificate{
		Subject: devName("Maat Development SGX Root CA"), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: nb, NotAfter: na,
	}, nil); err != nil {
		return nil, err
	}
	if p.inter, err = newCA(&x509.Certificate{
		Subject: devName("Maat Development SGX PCK Processor CA"), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: nb, NotAfter: na,
	}, p.root); err != nil {
		return nil, err
	}
	if p.tcb, err = newCA(&x509.Certificate{
		Subject: devName("Maat Development SGX TCB Signing"), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, NotBefore: nb, NotAfter: na,
	}, p.root); err != nil {
		return nil, err
	}
	ext, err := sgxExtension(devCPUSVN, devPCESVN)
	if err != nil {
		return nil, err
	}
	if p.pck, err = newCA(&x509.Certificate{
		Subject: devName("Maat Development SGX PCK Certificate"), BasicConstraintsValid: true,
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtraExtensions: []pkix.Extension{{Id: sgx.OIDSGXExtension, Value: ext}}, NotBefore: nb, NotAfter: na,
	}, p.inter); err != nil {
		return nil, err
	}
	return p, nil
}

func newCA(tmpl *x509.Certificate, parent *ca) (*ca, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	pt, pk := tmpl, k
	if parent != nil {
		pt, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pt, &k.PublicKey, pk)
	if err != nil {
		return nil, fmt.Errorf("simulate: certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{key: k, cert: c}, nil
}

type extEntry struct {
	ID asn1.ObjectIdentifier
	V  asn1.RawValue
}

func derValue(v any) (asn1.RawValue, error) {
	b, err := asn1.Marshal(v)
	return asn1.RawValue{FullBytes: b}, err
}

func oid(n ...int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, sgx.OIDSGXExtension...), n...)
}

// sgxExtension is the PCK certificate's SGX extension (Intel's PCK
// Certificate and CRL Profile): PPID, TCB (16 components at compSVN,
// PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type Standard.
func sgxExtension(compSVN byte, pceSVN int) ([]byte, error) {
	var errs []error
	val := func(v any) asn1.RawValue {
		r, err := derValue(v)
		errs = append(errs, err)
		return r
	}
	cpusvn := bytes.Repeat([]byte{compSVN}, 16)
	var tcb []extEntry
	for i := 0; i < 16; i++ {
		tcb = append(tcb, extEntry{oid(2, i+1), val(int(compSVN))})
	}
	tcb = append(tcb, extEntry{oid(2, 17), val(pceSVN)}, extEntry{oid(2, 18), val(cpusvn)})
	ents := []extEntry{
		{oid(1), val(bytes.Repeat([]byte{0xd1}, 16))},
		{oid(2), val(tcb)},
		{oid(3), val(PCEID[:])},
		{oid(4), val(FMSPC[:])},
		{oid(5), val(asn1.Enumerated(0))},
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return asn1.Marshal(ents)
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func (p *PKI) save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	for i, c := range []*ca{p.root, p.inter, p.tcb, p.pck} {
		der, err := x509.MarshalPKCS8PrivateKey(c.key)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, files[i]+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, files[i]+".pem"), pemCert(c.cert), 0o644); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	readme := "Maat development PKI: signs simulated SGX/OpenEnclave, TDX and SEV-SNP evidence (`maat simulate`).\n" +
		"It is NOT Intel's or AMD's. Only `maat serve --dev --dev-trust-simulated-evidence` with this data directory trusts it,\n" +
		"and every token from such evidence carries x-maat-simulated-evidence: true.\n"
	return os.WriteFile(filepath.Join(dir, "README.txt"), []byte(readme), 0o644)
}

func readCA(dir, name string) (*ca, error) {
	cb, err := os.ReadFile(filepath.Join(dir, name+".pem"))
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		return nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, fmt.Errorf("%s: not PEM", name)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", name, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || !ek.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s: key does not match its certificate", name)
	}
	return &ca{key: ek, cert: cert}, nil
}

// pckFor returns the PCK certificate of the development platform at the
// TCB level of status l (see sgxLevels): the stored one for UpToDate,
// otherwise one made once per PKI with the same key and validity.
func (p *PKI) pckFor(l sgxLevel) (*x509.Certificate, error) {
	if l.status == collateral.UpToDate {
		return p.pck.cert, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.pckLow[l.status]; ok {
		return c, nil
	}
	ext, err := sgxExtension(l.compSVN, l.pceSVN)
	if err != nil {
		return nil, err
	}
	base := p.pck.cert
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Add(base.SerialNumber, big.NewInt(int64(l.pceSVN)+1)),
		Subject:      base.Subject, BasicConstraintsValid: true, KeyUsage: base.KeyUsage,
		ExtraExtensions: []pkix.Extension{{Id: sgx.OIDSGXExtension, Value: ext}}, NotBefore: base.NotBefore, NotAfter: base.NotAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter.cert, &p.pck.key.PublicKey, p.inter.key)
	if err != nil {
		return nil, fmt.Errorf("simulate: PCK certificate at %s: %w", l.status, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if p.pckLow == nil {
		p.pckLow = map[collateral.TCBStatus]*x509.Certificate{}
	}
	p.pckLow[l.status] = c
	return c, nil
}
