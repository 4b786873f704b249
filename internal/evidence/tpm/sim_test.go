//go:build simulator

package tpm_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
)

// The simulator is process-global state (one C instance), so every test
// shares one fixture built once: AIKs, a TPM-resident key, and a realistic
// event log extended into PCRs. Quotes are taken under a mutex.

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

type tpmKey struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public tpm2.TPMTPublic
	pub    crypto.PublicKey
}

type fixture struct {
	mu      sync.Mutex
	sim     *simulator.Simulator
	tpm     transport.TPM
	rsaAIK  tpmKey
	eccAIK  tpmKey
	pssAIK  tpmKey // RSA AIK with the RSAPSS scheme, loaded only by TestRSAPSSAIK (the simulator has 3 object slots)
	certKey tpmKey // a non-restricted TPM-resident signing key for tpm_certify
	log     []byte
	nEvents int

	caKey   *ecdsa.PrivateKey
	caCert  *x509.Certificate
	aikCert []byte // rsaAIK certified by caCert
	eccCert []byte // eccAIK certified by caCert

	reqKey *rsa.PrivateKey
}

var fixtureNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func getFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixOnce.Do(func() { fix, fixErr = newFixture() })
	if fixErr != nil {
		tb.Fatalf("simulator fixture: %v", fixErr)
	}
	return fix
}

// certKeyTemplate is an ordinary (not restricted) signing key, as a client
// would create for a TPM-resident request or other key.
func certKeyTemplate() tpm2.TPMTPublic {
	t := tpmclient.RSAAIKTemplate()
	t.ObjectAttributes.Restricted = false
	t.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
		Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
		Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
		KeyBits:   2048,
	})
	return t
}

func createPrimary(t transport.TPM, tmpl tpm2.TPMTPublic) (tpmKey, error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tmpl)}.Execute(t)
	if err != nil {
		return tpmKey{}, err
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return tpmKey{}, err
	}
	cpub, err := tpm2.Pub(*pub)
	if err != nil {
		return tpmKey{}, err
	}
	return tpmKey{handle: rsp.ObjectHandle, name: rsp.Name, public: *pub, pub: cpub}, nil
}

func newFixture() (*fixture, error) {
	sim, err := simulator.GetWithFixedSeedInsecure(8)
	if err != nil {
		return nil, err
	}
	f := &fixture{sim: sim, tpm: transport.FromReadWriter(sim)}
	if f.rsaAIK, err = createPrimary(f.tpm, tpmclient.RSAAIKTemplate()); err != nil {
		return nil, err
	}
	if f.eccAIK, err = createPrimary(f.tpm, tpmclient.ECCAIKTemplate()); err != nil {
		return nil, err
	}
	if f.certKey, err = createPrimary(f.tpm, certKeyTemplate()); err != nil {
		return nil, err
	}
	lb := tpmclient.SimulatedBootLog(100)
	if err := lb.ExtendPCRs(f.tpm); err != nil {
		return nil, err
	}
	f.log = lb.Bytes()
	f.nEvents = len(lb.Events)

	f.caKey, f.caCert = newCA("Maat test AIK CA")
	f.aikCert = issueCert(f.caKey, f.caCert, f.rsaAIK.pub)
	f.eccCert = issueCert(f.caKey, f.caCert, f.eccAIK.pub)
	if f.reqKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	return f, nil
}

func allPCRs() []int {
	p := make([]int, 24)
	for i := range p {
		p[i] = i
	}
	return p
}

// quote quotes pcrs in the SHA-1 and SHA-256 banks with aik and returns the
// attestation object a client sends.
func (f *fixture) quote(tb testing.TB, aik tpmKey, extra []byte, pcrs []int) *tpm.Attestation {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	att, err := tpmclient.QuoteAttestation(f.tpm, tpm2.AuthHandle{Handle: aik.handle, Name: aik.name, Auth: tpm2.PasswordAuth(nil)}, aik.pub, extra, pcrs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	att.Logs = []tpm.Log{{Type: "TCG", Log: b64(f.log)}}
	return att
}

// certify certifies the TPM-resident key with aik over the challenge.
func (f *fixture) certify(tb testing.TB, aik tpmKey, key tpmKey, extra []byte) *tpm.TPMCertifyBinding {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := tpm2.Certify{
		ObjectHandle:   tpm2.AuthHandle{Handle: key.handle, Name: key.name, Auth: tpm2.PasswordAuth(nil)},
		SignHandle:     tpm2.AuthHandle{Handle: aik.handle, Name: aik.name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: extra},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
	}.Execute(f.tpm)
	if err != nil {
		tb.Fatalf("certify: %v", err)
	}
	return &tpm.TPMCertifyBinding{
		Public:        b64(tpm2.Marshal(key.public)),
		Certification: b64(r.CertifyInfo.Bytes()),
		Signature:     b64(tpm2.Marshal(r.Signature)),
	}
}

// --- PKI ---------------------------------------------------------------------

func newCA(cn string) (*ecdsa.PrivateKey, *x509.Certificate) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             fixtureNow.Add(-24 * time.Hour),
		NotAfter:              fixtureNow.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		panic(err)
	}
	c, _ := x509.ParseCertificate(der)
	return k, c
}

func issueCert(caKey *ecdsa.PrivateKey, ca *x509.Certificate, pub crypto.PublicKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "AIK"},
		NotBefore:    fixtureNow.Add(-time.Hour),
		NotAfter:     fixtureNow.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		panic(err)
	}
	return der
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signJWSInTPM signs a PS256 JWS over payload with the TPM-resident key.
func (f *fixture) signJWSInTPM(tb testing.TB, payload []byte) string {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	in := b64([]byte(`{"alg":"PS256","typ":"attReqV2"}`)) + "." + b64(payload)
	d := sha256.Sum256([]byte(in))
	r, err := tpm2.Sign{
		KeyHandle: tpm2.AuthHandle{Handle: f.certKey.handle, Name: f.certKey.name, Auth: tpm2.PasswordAuth(nil)},
		Digest:    tpm2.TPM2BDigest{Buffer: d[:]},
		InScheme: tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgRSAPSS,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgRSAPSS, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256})},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(f.tpm)
	if err != nil {
		tb.Fatalf("TPM2_Sign: %v", err)
	}
	pss, err := r.Signature.Signature.RSAPSS()
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + b64(pss.Sig.Buffer)
}

// mustUEFIVar encodes a UEFI variable with a GUID constant of the test.
func mustUEFIVar(guid, name string, data []byte) []byte {
	b, err := tpmclient.EncodeUEFIVariable(guid, name, data)
	if err != nil {
		panic(err)
	}
	return b
}

func readTestdata(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }
