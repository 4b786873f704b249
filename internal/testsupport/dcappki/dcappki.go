// Package dcappki builds a complete, self-consistent Intel DCAP PKI from a
// spec whose every field can be overridden: a root CA, the PCK Processor or
// Platform CA, a PCK certificate with the SGX extension, the TCB Signing
// certificate, an ECDSA quote (v3, v4 or v5), TCB Info, QE Identity and both
// CRLs, all signed with real P-256 keys. Tests use it to reach verifier
// branches no real vector reaches; a development PKI can reuse it.
//
// The builder knows the wire formats on its own (it does not import the
// verifier packages), so a shared misunderstanding cannot hide in both.
// Build returns an error rather than failing a test; it never panics on a
// bad spec.
package dcappki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
)

// Now is the instant the default validity windows are centred on; verify
// at Now.
var Now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Wire constants the builder needs (independent of the verifier's copies).
const (
	headerSize     = 48
	reportBodySize = 384
)

var (
	oidSGX          = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	intelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}
)

// CA is a certificate with its private key.
type CA struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
}

// PCKSpec describes the PCK certificate; zero fields take defaults.
type PCKSpec struct {
	FMSPC    [6]byte
	PCEID    [2]byte
	Comps    [16]uint8
	PCESVN   uint16
	NotAfter time.Time
	// Ext replaces the SGX extension (raw DER) when non-nil.
	Ext []byte
	// Platform issues the PCK from a Platform CA with the 7-entry extension.
	Platform bool
}

// Spec describes one PKI and quote. Start from DefaultSpec.
type Spec struct {
	PCK PCKSpec
	// TCBLevels are the TCB Info's levels (see Level, TDXLevel).
	TCBLevels   []map[string]any
	TCBFMSPC    string // TCB Info FMSPC; "" = the PCK's
	TCBNext     time.Time
	ForgeTCBSig bool
	// TCBInfoExtra are merged into the TCB Info body (e.g. tdxModule).
	TCBInfoExtra map[string]any
	// QE report and identity.
	QEISVSVN   uint16
	QEMRSigner [32]byte
	IDMRSigner [32]byte
	QELevels   []map[string]any
	// QEIdentityID is the identity's id ("QE" when empty; "TD_QE" for TDX).
	QEIdentityID string
	RevokePCK    bool
	RevokeInter  bool
	// MutateQuote changes the final quote bytes.
	MutateQuote func([]byte)
	// Version 4 or 5 builds that quote format (cert data type 6); 0 means 3.
	Version uint16
	// TEEType is the header's TEE type (0 SGX, 0x81 TDX; v4/v5 only).
	TEEType uint32
	// Body replaces the SGX enclave report body (for TDX, a 584- or
	// 648-byte TD report body). With Version 5, BodyType gives its type
	// (0 means 1 for an SGX body, 2 for 584 bytes, 3 for 648).
	Body     []byte
	BodyType uint16
	// CollateralID is the TCB Info id ("SGX" when empty) and TCBInfoVersion
	// its version (3 when 0).
	CollateralID   string
	TCBInfoVersion int
}

// PKI is a built PKI: the CAs, the PCK key and certificate, the quote and
// the collateral bundle that verifies it.
type PKI struct {
	Root, Inter, TCB *CA
	PCKKey           *ecdsa.PrivateKey
	PCK              *x509.Certificate
	Quote            []byte
	Bundle           *collateral.Bundle
}

// DefaultSpec is an SGX v3 quote whose platform TCB is SWHardeningNeeded
// (advisory INTEL-SA-00001) and whose QE is UpToDate.
func DefaultSpec() Spec {
	var s Spec
	s.PCK.FMSPC = [6]byte{0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00}
	for i := range s.PCK.Comps {
		s.PCK.Comps[i] = 5
	}
	s.PCK.PCESVN = 10
	s.TCBLevels = []map[string]any{
		Level(7, 11, "UpToDate"),
		Level(5, 10, "SWHardeningNeeded", "INTEL-SA-00001"),
		Level(3, 5, "OutOfDate", "INTEL-SA-00002", "INTEL-SA-00001"),
	}
	s.QEISVSVN = 8
	copy(s.QEMRSigner[:], bytes.Repeat([]byte{0x8c}, 32))
	s.IDMRSigner = s.QEMRSigner
	s.QELevels = []map[string]any{QELevel(8, "UpToDate"), QELevel(6, "OutOfDate", "INTEL-SA-00615"), QELevel(2, "Revoked")}
	return s
}

// Level is an SGX TCB level with every SGX component at comp.
func Level(comp int, pcesvn int, status string, adv ...string) map[string]any {
	comps := make([]map[string]any, 16)
	for i := range comps {
		comps[i] = map[string]any{"svn": comp}
	}
	l := map[string]any{"tcb": map[string]any{"sgxtcbcomponents": comps, "pcesvn": pcesvn}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": status}
	if len(adv) > 0 {
		l["advisoryIDs"] = adv
	}
	return l
}

// TDXLevel is a TDX TCB level: every SGX component at comp, PCESVN pcesvn
// and the given 16 TDX components.
func TDXLevel(comp int, pcesvn int, tdx [16]uint8, status string, adv ...string) map[string]any {
	l := Level(comp, pcesvn, status, adv...)
	tc := make([]map[string]any, 16)
	for i := range tc {
		tc[i] = map[string]any{"svn": int(tdx[i])}
	}
	l["tcb"].(map[string]any)["tdxtcbcomponents"] = tc
	return l
}

// QELevel is a QE Identity TCB level.
func QELevel(isvsvn int, status string, adv ...string) map[string]any {
	l := map[string]any{"tcb": map[string]any{"isvsvn": isvsvn}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": status}
	if len(adv) > 0 {
		l["advisoryIDs"] = adv
	}
	return l
}

// buildError carries a failure out of the builder's helpers to Build.
type buildError struct{ err error }

func check(err error) {
	if err != nil {
		panic(buildError{err})
	}
}

func catch(err *error) {
	if r := recover(); r != nil {
		be, ok := r.(buildError)
		if !ok {
			panic(r)
		}
		*err = be.err
	}
}

func intelName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"Intel Corporation"}, Locality: []string{"Santa Clara"}, Province: []string{"CA"}, Country: []string{"US"}}
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	return k
}

var serialCounter atomic.Int64

func issue(tmpl *x509.Certificate, parent *CA, key *ecdsa.PrivateKey) *x509.Certificate {
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(1000 + serialCounter.Add(1))
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = Now.AddDate(-1, 0, 0)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = Now.AddDate(5, 0, 0)
	}
	pt, pk := tmpl, key
	if parent != nil {
		pt, pk = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pt, &key.PublicKey, pk)
	check(err)
	c, err := x509.ParseCertificate(der)
	check(err)
	return c
}

func newRoot() *CA {
	k := newKey()
	c := issue(&x509.Certificate{
		Subject: intelName("Intel SGX Root CA"), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, k)
	return &CA{k, c}
}

func newCA(root *CA, cn string) *CA {
	k := newKey()
	c := issue(&x509.Certificate{
		Subject: intelName(cn), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, root, k)
	return &CA{k, c}
}

type asnEntry struct {
	ID asn1.ObjectIdentifier
	V  asn1.RawValue
}

func mustDER(v any) asn1.RawValue {
	b, err := asn1.Marshal(v)
	check(err)
	return asn1.RawValue{FullBytes: b}
}

func sgxOID(n ...int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, oidSGX...), n...)
}

// SGXExtension returns the DER SGX extension a PCK certificate per p
// carries. It returns an error only if ASN.1 encoding fails.
func SGXExtension(p PCKSpec) (der []byte, err error) {
	defer catch(&err)
	var tcb []asnEntry
	for i := 0; i < 16; i++ {
		tcb = append(tcb, asnEntry{sgxOID(2, i+1), mustDER(int(p.Comps[i]))})
	}
	tcb = append(tcb, asnEntry{sgxOID(2, 17), mustDER(int(p.PCESVN))})
	cpusvn := p.Comps
	tcb = append(tcb, asnEntry{sgxOID(2, 18), mustDER(cpusvn[:])})
	ents := []asnEntry{
		{sgxOID(1), mustDER(bytes.Repeat([]byte{1}, 16))},
		{sgxOID(2), mustDER(tcb)},
		{sgxOID(3), mustDER(p.PCEID[:])},
		{sgxOID(4), mustDER(p.FMSPC[:])},
		{sgxOID(5), mustDER(asn1.Enumerated(0))},
	}
	if p.Platform {
		ents[4] = asnEntry{sgxOID(5), mustDER(asn1.Enumerated(1))}
		ents = append(ents,
			asnEntry{sgxOID(6), mustDER(bytes.Repeat([]byte{6}, 16))},
			asnEntry{sgxOID(7), mustDER([]asnEntry{
				{sgxOID(7, 1), mustDER(true)},
				{sgxOID(7, 2), mustDER(false)},
				{sgxOID(7, 3), mustDER(true)},
			})})
	}
	b, err := asn1.Marshal(ents)
	check(err)
	return b, nil
}

// SignRS signs SHA-256(msg) with k and returns r||s (32 bytes each), the
// signature encoding of quotes and signed collateral.
func SignRS(k *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

func signRS(k *ecdsa.PrivateKey, msg []byte) []byte {
	b, err := SignRS(k, msg)
	check(err)
	return b
}

// PEM returns the PEM encoding of c.
func PEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func signedDoc(member string, body map[string]any, key *ecdsa.PrivateKey) []byte {
	bb, err := json.Marshal(body)
	check(err)
	sig := signRS(key, bb)
	return []byte(fmt.Sprintf(`{"%s":%s,"signature":"%s"}`, member, bb, hex.EncodeToString(sig)))
}

func makeCRL(ca *CA, revoked ...*big.Int) []byte {
	var ents []x509.RevocationListEntry
	for _, s := range revoked {
		ents = append(ents, x509.RevocationListEntry{SerialNumber: s, RevocationTime: Now.AddDate(0, -1, 0)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: Now.AddDate(0, 0, -1), NextUpdate: Now.AddDate(0, 1, 0),
		RevokedCertificateEntries: ents,
	}, ca.Cert, ca.Key)
	check(err)
	return der
}

// ReportBody builds a 384-byte SGX report body.
func ReportBody(mrenclave, mrsigner [32]byte, attrs [16]byte, prodID, svn uint16, reportData []byte) []byte {
	b := make([]byte, reportBodySize)
	copy(b[48:64], attrs[:])
	copy(b[64:96], mrenclave[:])
	copy(b[128:160], mrsigner[:])
	binary.LittleEndian.PutUint16(b[256:], prodID)
	binary.LittleEndian.PutUint16(b[258:], svn)
	copy(b[320:384], reportData)
	return b
}

// Build makes a fresh PKI per s, reusing the root, PCK CA and TCB Signing
// certificate of base when base is non-nil (key generation dominates the
// cost). It returns an error when a certificate, CRL or document cannot be
// produced.
func Build(s Spec, base *PKI) (p *PKI, err error) {
	defer catch(&err)
	p = &PKI{}
	if base != nil {
		p.Root, p.Inter, p.TCB = base.Root, base.Inter, base.TCB
	} else {
		p.Root = newRoot()
		p.Inter = newCA(p.Root, "Intel SGX PCK Processor CA")
		k := newKey()
		p.TCB = &CA{k, issue(&x509.Certificate{
			Subject: intelName("Intel SGX TCB Signing"), BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		}, p.Root, k)}
	}
	ext := s.PCK.Ext
	if ext == nil {
		ext, err = SGXExtension(s.PCK)
		check(err)
	}
	issuerCA, ca := p.Inter, collateral.CAProcessor
	if s.PCK.Platform {
		issuerCA, ca = newCA(p.Root, "Intel SGX PCK Platform CA"), collateral.CAPlatform
	}
	p.PCKKey = newKey()
	p.PCK = issue(&x509.Certificate{
		Subject: intelName("Intel SGX PCK Certificate"), BasicConstraintsValid: true, NotAfter: s.PCK.NotAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtraExtensions: []pkix.Extension{{Id: oidSGX, Value: ext}},
	}, issuerCA, p.PCKKey)

	// Quote.
	att := newKey()
	attPub := make([]byte, 64)
	att.PublicKey.X.FillBytes(attPub[:32])
	att.PublicKey.Y.FillBytes(attPub[32:])
	auth := bytes.Repeat([]byte{0xa5}, 32)
	bind := sha256.Sum256(append(append([]byte{}, attPub...), auth...))
	version := s.Version
	if version == 0 {
		version = 3
	}
	hdr := make([]byte, headerSize)
	binary.LittleEndian.PutUint16(hdr[0:], version)
	binary.LittleEndian.PutUint16(hdr[2:], 2)
	binary.LittleEndian.PutUint32(hdr[4:], s.TEEType)
	copy(hdr[12:28], intelQEVendorID[:])
	var mre, mrs [32]byte
	mre[0], mrs[0] = 0xee, 0x55
	var appAttrs, qeAttrs [16]byte
	appAttrs[0] = 0x05
	qeAttrs[0] = 0x15
	body := s.Body
	if body == nil {
		body = ReportBody(mre, mrs, appAttrs, 1, 2, bytes.Repeat([]byte{0x42}, 64))
	}
	qeRep := ReportBody([32]byte{0x99}, s.QEMRSigner, qeAttrs, 1, s.QEISVSVN, append(bind[:], make([]byte, 32)...))
	chain := append(append(PEM(p.PCK), PEM(issuerCA.Cert)...), PEM(p.Root.Cert)...)
	signed := bytes.Clone(hdr)
	if version == 5 {
		bt := s.BodyType
		if bt == 0 {
			switch len(body) {
			case 584:
				bt = 2
			case 648:
				bt = 3
			default:
				bt = 1
			}
		}
		signed = binary.LittleEndian.AppendUint16(signed, bt)
		signed = binary.LittleEndian.AppendUint32(signed, uint32(len(body)))
	}
	signed = append(signed, body...)
	sig := signRS(att, signed)
	var qp []byte
	qp = append(qp, qeRep...)
	qp = append(qp, signRS(p.PCKKey, qeRep)...)
	qp = binary.LittleEndian.AppendUint16(qp, uint16(len(auth)))
	qp = append(qp, auth...)
	qp = binary.LittleEndian.AppendUint16(qp, 5)
	qp = binary.LittleEndian.AppendUint32(qp, uint32(len(chain)))
	qp = append(qp, chain...)
	var sd []byte
	sd = append(sd, sig...)
	sd = append(sd, attPub...)
	if version == 3 {
		sd = append(sd, qp...)
	} else {
		sd = binary.LittleEndian.AppendUint16(sd, 6)
		sd = binary.LittleEndian.AppendUint32(sd, uint32(len(qp)))
		sd = append(sd, qp...)
	}
	q := binary.LittleEndian.AppendUint32(signed, uint32(len(sd)))
	q = append(q, sd...)
	if s.MutateQuote != nil {
		s.MutateQuote(q)
	}
	p.Quote = q

	// Collateral.
	fmspc := s.TCBFMSPC
	if fmspc == "" {
		fmspc = hex.EncodeToString(s.PCK.FMSPC[:])
	}
	next := s.TCBNext
	if next.IsZero() {
		next = Now.AddDate(0, 1, 0)
	}
	tcbKey := p.TCB.Key
	if s.ForgeTCBSig {
		tcbKey = newKey()
	}
	id, tver := s.CollateralID, s.TCBInfoVersion
	if id == "" {
		id = "SGX"
	}
	if tver == 0 {
		tver = 3
	}
	tiBody := map[string]any{
		"id": id, "version": tver, "issueDate": Now.AddDate(0, 0, -1).Format(time.RFC3339), "nextUpdate": next.Format(time.RFC3339),
		"fmspc": fmspc, "pceId": hex.EncodeToString(s.PCK.PCEID[:]), "tcbType": 0, "tcbEvaluationDataNumber": 17,
		"tcbLevels": s.TCBLevels,
	}
	for k, v := range s.TCBInfoExtra {
		tiBody[k] = v
	}
	ti := signedDoc("tcbInfo", tiBody, tcbKey)
	qeID := s.QEIdentityID
	if qeID == "" {
		qeID = "QE"
	}
	qi := signedDoc("enclaveIdentity", map[string]any{
		"id": qeID, "version": 2, "issueDate": Now.AddDate(0, 0, -1).Format(time.RFC3339), "nextUpdate": Now.AddDate(0, 1, 0).Format(time.RFC3339),
		"tcbEvaluationDataNumber": 16, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
		"attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
		"mrsigner": hex.EncodeToString(s.IDMRSigner[:]), "isvprodid": 1, "tcbLevels": s.QELevels,
	}, p.TCB.Key)
	tcbChain := append(PEM(p.TCB.Cert), PEM(p.Root.Cert)...)
	var revPCK, revRoot []*big.Int
	if s.RevokePCK {
		revPCK = append(revPCK, p.PCK.SerialNumber)
	}
	if s.RevokeInter {
		revRoot = append(revRoot, issuerCA.Cert.SerialNumber)
	}
	mk := func(k collateral.Key, body, chain []byte) *collateral.Item {
		it, err := collateral.NewItem(k, body, chain, Now)
		check(err)
		return it
	}
	tk, err := collateral.TCBInfoKey(hex.EncodeToString(s.PCK.FMSPC[:]))
	check(err)
	qk := collateral.Key{Kind: collateral.KindQEIdentity}
	if id == "TDX" {
		tk.Kind, qk.Kind = collateral.KindTDXTCBInfo, collateral.KindTDQEIdentity
	}
	p.Bundle = &collateral.Bundle{
		TCBInfo:    mk(tk, ti, tcbChain),
		QEIdentity: mk(qk, qi, tcbChain),
		PCKCRL:     mk(collateral.PCKCRLKey(ca), makeCRL(issuerCA, revPCK...), append(PEM(issuerCA.Cert), PEM(p.Root.Cert)...)),
		RootCACRL:  mk(collateral.Key{Kind: collateral.KindRootCACRL}, makeCRL(p.Root, revRoot...), nil),
	}
	return p, nil
}

// TDBody describes a TD report body; see TDReportBody.
type TDBody struct {
	TEETCBSVN      [16]byte
	MRSignerSEAM   [48]byte
	SEAMAttributes [8]byte
	TDAttributes   [8]byte
	MRConfigID     [48]byte
	ReportData     [64]byte
	// V15 builds a 648-byte TD report 1.5 with TEETCBSVN2 and MRServiceTD.
	V15         bool
	TEETCBSVN2  [16]byte
	MRServiceTD [48]byte
}

// TDReportBody builds a 584-byte TD report 1.0 (648-byte 1.5 with V15); the
// measurement registers carry recognisable fill bytes (MRSEAM 0x5e, MRTD
// 0x7d, RTMRi 0xa0+i, MROWNER 0x0a, MROWNERCONFIG 0x0c, XFAM 0xe7).
func TDReportBody(d TDBody) []byte {
	n := 584
	if d.V15 {
		n = 648
	}
	b := make([]byte, n)
	copy(b[0:16], d.TEETCBSVN[:])
	copy(b[16:64], bytes.Repeat([]byte{0x5e}, 48))
	copy(b[64:112], d.MRSignerSEAM[:])
	copy(b[112:120], d.SEAMAttributes[:])
	copy(b[120:128], d.TDAttributes[:])
	copy(b[128:136], bytes.Repeat([]byte{0xe7}, 8))
	copy(b[136:184], bytes.Repeat([]byte{0x7d}, 48))
	copy(b[184:232], d.MRConfigID[:])
	copy(b[232:280], bytes.Repeat([]byte{0x0a}, 48))
	copy(b[280:328], bytes.Repeat([]byte{0x0c}, 48))
	for i := 0; i < 4; i++ {
		copy(b[328+48*i:376+48*i], bytes.Repeat([]byte{byte(0xa0 + i)}, 48))
	}
	copy(b[520:584], d.ReportData[:])
	if d.V15 {
		copy(b[584:600], d.TEETCBSVN2[:])
		copy(b[600:648], d.MRServiceTD[:])
	}
	return b
}

// TDXModuleIdentity is a tdxModuleIdentities entry "TDX_%02X" for major
// with zero mrsigner and attributes and the given levels (see QELevel).
func TDXModuleIdentity(major uint8, levels ...map[string]any) map[string]any {
	return map[string]any{"id": fmt.Sprintf("TDX_%02X", major), "mrsigner": hex.EncodeToString(make([]byte, 48)),
		"attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF", "tcbLevels": levels}
}

// TDXSpec is DefaultSpec turned into a TDX one: a v4 TD quote (TEE type
// 0x81) from a Platform-CA PCK, TEE_TCB_SVN 03 01 02 00… (module TDX_01,
// SEAM SVN 3), TDX TCB Info levels UpToDate (SGX comps 7 / PCESVN 11 /
// TDX comps 3,0,2) and OutOfDate (3/5/…), module TDX_01 levels UpToDate
// (isvsvn 3) and OutOfDate (1, INTEL-SA-00900), a TD_QE identity.
func TDXSpec() Spec {
	s := DefaultSpec()
	s.Version, s.TEEType = 4, 0x81
	s.PCK.Platform = true
	s.PCK.FMSPC = [6]byte{0x90, 0xc0, 0x6f, 0x00, 0x00, 0x00}
	for i := range s.PCK.Comps {
		s.PCK.Comps[i] = 7
	}
	s.PCK.PCESVN = 11
	s.CollateralID, s.QEIdentityID = "TDX", "TD_QE"
	var hi, lo [16]uint8
	hi[0], hi[2] = 3, 2
	s.TCBLevels = []map[string]any{
		TDXLevel(7, 11, hi, "UpToDate"),
		TDXLevel(3, 5, lo, "OutOfDate", "INTEL-SA-00002"),
	}
	s.TCBInfoExtra = map[string]any{
		"tdxModule": map[string]any{"mrsigner": hex.EncodeToString(make([]byte, 48)), "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF"},
		"tdxModuleIdentities": []any{
			TDXModuleIdentity(1, QELevel(3, "UpToDate"), QELevel(1, "OutOfDate", "INTEL-SA-00900")),
		},
	}
	var d TDBody
	d.TEETCBSVN = [16]byte{3, 1, 2}
	d.ReportData[0] = 0x42
	s.Body = TDReportBody(d)
	return s
}
