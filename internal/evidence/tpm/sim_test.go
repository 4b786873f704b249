package tpm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
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
	t := RSAAIKTemplate()
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
	if f.rsaAIK, err = createPrimary(f.tpm, RSAAIKTemplate()); err != nil {
		return nil, err
	}
	if f.eccAIK, err = createPrimary(f.tpm, ECCAIKTemplate()); err != nil {
		return nil, err
	}
	if f.certKey, err = createPrimary(f.tpm, certKeyTemplate()); err != nil {
		return nil, err
	}
	lb := realisticLog(100)
	for _, e := range lb.events {
		if err := f.extend(e); err != nil {
			return nil, err
		}
	}
	f.log = lb.bytes()
	f.nEvents = len(lb.events)

	f.caKey, f.caCert = newCA("Maat test AIK CA")
	f.aikCert = issueCert(f.caKey, f.caCert, f.rsaAIK.pub)
	f.eccCert = issueCert(f.caKey, f.caCert, f.eccAIK.pub)
	if f.reqKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fixture) extend(e logEvent) error {
	s1 := sha1.Sum(e.measured)
	s256 := sha256.Sum256(e.measured)
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(e.pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{
			{HashAlg: tpm2.TPMAlgSHA1, Digest: s1[:]},
			{HashAlg: tpm2.TPMAlgSHA256, Digest: s256[:]},
		}},
	}.Execute(f.tpm)
	return err
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
func (f *fixture) quote(tb testing.TB, aik tpmKey, extra []byte, pcrs []int) *Attestation {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	att, err := QuoteAttestation(f.tpm, tpm2.AuthHandle{Handle: aik.handle, Name: aik.name, Auth: tpm2.PasswordAuth(nil)}, aik.pub, extra, pcrs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	att.Logs = []Log{{Type: "TCG", Log: b64(f.log)}}
	return att
}

// certify certifies the TPM-resident key with aik over the challenge.
func (f *fixture) certify(tb testing.TB, aik tpmKey, key tpmKey, extra []byte) *TPMCertifyBinding {
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
	return &TPMCertifyBinding{
		Public:        b64(tpm2.Marshal(key.public)),
		Certification: b64(r.CertifyInfo.Bytes()),
		Signature:     b64(tpm2.Marshal(r.Signature)),
	}
}

// --- event log construction -------------------------------------------------

type logEvent struct {
	pcr      int
	typ      uint32
	data     []byte
	measured []byte // what is hashed into the PCR (data, or an image for code events)
}

type logBuilder struct{ events []logEvent }

func (l *logBuilder) add(pcr int, typ uint32, data, measured []byte) {
	if measured == nil {
		measured = data
	}
	l.events = append(l.events, logEvent{pcr: pcr, typ: typ, data: data, measured: measured})
}

// bytes encodes a crypto-agile TCG PC Client log (SHA-1 and SHA-256).
func (l *logBuilder) bytes() []byte { return encodeLog(l.events) }

func encodeLog(events []logEvent) []byte {
	var spec []byte
	spec = append(spec, []byte("Spec ID Event03\x00")...)
	spec = binary.LittleEndian.AppendUint32(spec, 0) // platform class
	spec = append(spec, 0, 2, 0, 2)                  // minor, major, errata, uintnSize (64-bit)
	spec = binary.LittleEndian.AppendUint32(spec, 2)
	spec = binary.LittleEndian.AppendUint16(spec, 0x0004)
	spec = binary.LittleEndian.AppendUint16(spec, 20)
	spec = binary.LittleEndian.AppendUint16(spec, 0x000B)
	spec = binary.LittleEndian.AppendUint16(spec, 32)
	spec = append(spec, 0) // vendor info size

	var out []byte
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 3) // EV_NO_ACTION
	out = append(out, make([]byte, 20)...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(spec)))
	out = append(out, spec...)
	for _, e := range events {
		s1 := sha1.Sum(e.measured)
		s256 := sha256.Sum256(e.measured)
		out = binary.LittleEndian.AppendUint32(out, uint32(e.pcr))
		out = binary.LittleEndian.AppendUint32(out, e.typ)
		out = binary.LittleEndian.AppendUint32(out, 2)
		out = binary.LittleEndian.AppendUint16(out, 0x0004)
		out = append(out, s1[:]...)
		out = binary.LittleEndian.AppendUint16(out, 0x000B)
		out = append(out, s256[:]...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e.data)))
		out = append(out, e.data...)
	}
	return out
}

func sipaEvent(t uint32, data []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, t)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	return append(out, data...)
}

func utf16z(s string) []byte {
	var out []byte
	for _, r := range s {
		out = binary.LittleEndian.AppendUint16(out, uint16(r))
	}
	return append(out, 0, 0)
}

func mustUEFIVar(guid, name string, data []byte) []byte {
	b, err := EncodeUEFIVariable(guid, name, data)
	if err != nil {
		panic(err)
	}
	return b
}

const imageSecurityDatabaseGUID = "D719B2CB-3D3A-4596-A3BC-DAD00E67656F"

// realisticLog builds a UEFI + Windows boot log of about n events: CRTM and
// firmware blobs, Secure Boot variables (SecureBoot=1, PK, KEK, db, dbx),
// boot variables, boot services applications, separators on PCRs 0-7, the
// ExitBootServices action and a Windows trust boundary (SIPA) on PCR 12.
func realisticLog(n int) *logBuilder {
	l := &logBuilder{}
	l.add(0, 0x00000008, utf16z("1.0"), nil) // EV_S_CRTM_VERSION
	for i := 0; i < 3; i++ {
		blob := make([]byte, 16)
		binary.LittleEndian.PutUint64(blob, uint64(0xFF000000+i*0x10000))
		l.add(0, 0x80000008, blob, []byte{byte(i), 'f', 'w'}) // EV_EFI_PLATFORM_FIRMWARE_BLOB
	}
	l.add(7, 0x80000001, mustUEFIVar(EFIGlobalVariableGUID, "SecureBoot", []byte{1}), nil)
	l.add(7, 0x80000001, mustUEFIVar(EFIGlobalVariableGUID, "PK", []byte("pk-cert")), nil)
	l.add(7, 0x80000001, mustUEFIVar(EFIGlobalVariableGUID, "KEK", []byte("kek-cert")), nil)
	l.add(7, 0x80000001, mustUEFIVar(imageSecurityDatabaseGUID, "db", []byte("db-certs")), nil)
	l.add(7, 0x80000001, mustUEFIVar(imageSecurityDatabaseGUID, "dbx", []byte("dbx-hashes")), nil)
	l.add(1, 0x80000002, mustUEFIVar(EFIGlobalVariableGUID, "BootOrder", []byte{1, 0, 0, 0}), nil)
	l.add(1, 0x80000002, mustUEFIVar(EFIGlobalVariableGUID, "Boot0001", []byte("Windows Boot Manager")), nil)
	l.add(4, 0x80000007, []byte("Calling EFI Application from Boot Option"), nil) // EV_EFI_ACTION
	for pcr := 0; pcr <= 7; pcr++ {
		l.add(pcr, 0x00000004, []byte{0, 0, 0, 0}, nil) // EV_SEPARATOR
	}
	l.add(4, 0x80000003, []byte("device path of bootmgfw.efi"), []byte("PE image bootmgfw.efi")) // EV_EFI_BOOT_SERVICES_APPLICATION
	l.add(7, 0x800000E0, mustUEFIVar(imageSecurityDatabaseGUID, "db", []byte("microsoft-ca")), nil)
	// A Windows trust boundary as bootmgr measures it.
	module := sipaEvent(0x00070001, utf16z(`\windows\system32\drivers\wd\wdboot.sys`))
	module = append(module, sipaEvent(0x0007000A, []byte{1})...)
	tb := sipaEvent(0x00040001, []byte{0})                                    // BOOTDEBUGGING false
	tb = append(tb, sipaEvent(0x00050002, []byte{1})...)                      // CODEINTEGRITY true
	tb = append(tb, sipaEvent(0x00050005, []byte{0})...)                      // SAFEMODE false
	tb = append(tb, sipaEvent(0x00050006, []byte{0})...)                      // WINPE false
	tb = append(tb, sipaEvent(0x000A0001, []byte{1})...)                      // VBS_VSM_REQUIRED
	tb = append(tb, sipaEvent(0x000A0003, []byte{1})...)                      // VBS_IOMMU_REQUIRED
	tb = append(tb, sipaEvent(0x000A0006, []byte{1})...)                      // VBS_MANDATORY_ENFORCEMENT
	tb = append(tb, sipaEvent(0x00050004, make([]byte, 8))...)                // DEP
	tb = append(tb, sipaEvent(0x00020009, []byte{2, 0, 0, 0, 0, 0, 0, 0})...) // APPLICATION_SVN
	tb = append(tb, sipaEvent(0x40010003, module)...)
	tagged := binary.LittleEndian.AppendUint32(nil, 0x40010001)
	tagged = binary.LittleEndian.AppendUint32(tagged, uint32(len(tb)))
	tagged = append(tagged, tb...)
	l.add(12, 0x00000006, tagged, nil) // EV_EVENT_TAG
	l.add(5, 0x80000007, []byte("Exit Boot Services Invocation"), nil)
	// Drivers and applications up to n events.
	for i := 0; len(l.events) < n; i++ {
		img := []byte{byte(i), byte(i >> 8), 'd', 'r', 'v'}
		l.add(2+2*(i%2), 0x80000004-uint32(i%2), []byte("device path"), img) // boot services driver (PCR 2) / application (PCR 4)
	}
	return l
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
