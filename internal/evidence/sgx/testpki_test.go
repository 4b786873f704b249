package sgx

import (
	"bytes"
	"context"
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
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
)

// The test PKI builds everything a verification needs — a root, the PCK
// Processor CA, a PCK certificate with the SGX extension, the TCB Signing
// certificate, a v3 quote, TCB Info, QE Identity and both CRLs — from a
// spec whose every field can be overridden per test.

var pkiNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type pkiCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func intelName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"Intel Corporation"}, Locality: []string{"Santa Clara"}, Province: []string{"CA"}, Country: []string{"US"}}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serialCounter int64 = 1000

func issue(t testing.TB, tmpl *x509.Certificate, parent *pkiCA, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serialCounter++
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(serialCounter)
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = pkiNow.AddDate(-1, 0, 0)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = pkiNow.AddDate(5, 0, 0)
	}
	pt, pk := tmpl, key
	if parent != nil {
		pt, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pt, &key.PublicKey, pk)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newRoot(t testing.TB) *pkiCA {
	k := newKey(t)
	c := issue(t, &x509.Certificate{
		Subject: intelName("Intel SGX Root CA"), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, k)
	return &pkiCA{k, c}
}

func newCA(t testing.TB, root *pkiCA, cn string) *pkiCA {
	k := newKey(t)
	c := issue(t, &x509.Certificate{
		Subject: intelName(cn), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, root, k)
	return &pkiCA{k, c}
}

// pckSpec is the per-test description; zero fields take defaults.
type pckSpec struct {
	fmspc    [6]byte
	pceid    [2]byte
	comps    [16]uint8
	pcesvn   uint16
	notAfter time.Time
	// extra SGX extension override (raw DER) when non-nil.
	ext []byte
	// platform issues the PCK from a Platform CA with the 7-entry extension.
	platform bool
}

type pkiSpec struct {
	pck pckSpec
	// TCB Info levels and fields.
	tcbLevels   []map[string]any
	tcbFMSPC    string
	tcbNext     time.Time
	forgeTCBSig bool
	// QE report and identity.
	qeISVSVN    uint16
	qeMRSigner  [32]byte
	idMRSigner  [32]byte
	qeLevels    []map[string]any
	revokePCK   bool
	revokeInter bool
	// Mutate the final quote bytes.
	mutateQuote func([]byte)
	// version 4 or 5 builds that quote format (SGX body, cert data type 6).
	version uint16
}

type testPKI struct {
	root, inter, tcb *pkiCA
	pckKey           *ecdsa.PrivateKey
	pck              *x509.Certificate
	quote            []byte
	bundle           *collateral.Bundle
}

func defaultSpec() pkiSpec {
	var s pkiSpec
	s.pck.fmspc = [6]byte{0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00}
	for i := range s.pck.comps {
		s.pck.comps[i] = 5
	}
	s.pck.pcesvn = 10
	s.tcbLevels = []map[string]any{
		level(7, 11, "UpToDate"),
		level(5, 10, "SWHardeningNeeded", "INTEL-SA-00001"),
		level(3, 5, "OutOfDate", "INTEL-SA-00002", "INTEL-SA-00001"),
	}
	s.qeISVSVN = 8
	copy(s.qeMRSigner[:], bytes.Repeat([]byte{0x8c}, 32))
	s.idMRSigner = s.qeMRSigner
	s.qeLevels = []map[string]any{qeLevel(8, "UpToDate"), qeLevel(6, "OutOfDate", "INTEL-SA-00615"), qeLevel(2, "Revoked")}
	return s
}

func level(comp int, pcesvn int, status string, adv ...string) map[string]any {
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

func qeLevel(isvsvn int, status string, adv ...string) map[string]any {
	l := map[string]any{"tcb": map[string]any{"isvsvn": isvsvn}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": status}
	if len(adv) > 0 {
		l["advisoryIDs"] = adv
	}
	return l
}

type asnEntry struct {
	ID asn1.ObjectIdentifier
	V  asn1.RawValue
}

func mustDER(t testing.TB, v any) asn1.RawValue {
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{FullBytes: b}
}

func sgxOID(n ...int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, OIDSGXExtension...), n...)
}

func buildSGXExtension(t testing.TB, p pckSpec) []byte {
	var tcb []asnEntry
	for i := 0; i < 16; i++ {
		tcb = append(tcb, asnEntry{sgxOID(2, i+1), mustDER(t, int(p.comps[i]))})
	}
	tcb = append(tcb, asnEntry{sgxOID(2, 17), mustDER(t, int(p.pcesvn))})
	cpusvn := p.comps
	tcb = append(tcb, asnEntry{sgxOID(2, 18), mustDER(t, cpusvn[:])})
	ents := []asnEntry{
		{sgxOID(1), mustDER(t, bytes.Repeat([]byte{1}, 16))},
		{sgxOID(2), mustDER(t, tcb)},
		{sgxOID(3), mustDER(t, p.pceid[:])},
		{sgxOID(4), mustDER(t, p.fmspc[:])},
		{sgxOID(5), mustDER(t, asn1.Enumerated(0))},
	}
	if p.platform {
		ents[4] = asnEntry{sgxOID(5), mustDER(t, asn1.Enumerated(1))}
		ents = append(ents,
			asnEntry{sgxOID(6), mustDER(t, bytes.Repeat([]byte{6}, 16))},
			asnEntry{sgxOID(7), mustDER(t, []asnEntry{
				{sgxOID(7, 1), mustDER(t, true)},
				{sgxOID(7, 2), mustDER(t, false)},
				{sgxOID(7, 3), mustDER(t, true)},
			})})
	}
	b, err := asn1.Marshal(ents)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signRS(t testing.TB, k *ecdsa.PrivateKey, msg []byte) []byte {
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func signedDoc(t testing.TB, member string, body map[string]any, key *ecdsa.PrivateKey) []byte {
	bb, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	sig := signRS(t, key, bb)
	return []byte(fmt.Sprintf(`{"%s":%s,"signature":"%s"}`, member, bb, hex.EncodeToString(sig)))
}

func makeCRL(t testing.TB, ca *pkiCA, revoked ...*big.Int) []byte {
	var ents []x509.RevocationListEntry
	for _, s := range revoked {
		ents = append(ents, x509.RevocationListEntry{SerialNumber: s, RevocationTime: pkiNow.AddDate(0, -1, 0)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: pkiNow.AddDate(0, 0, -1), NextUpdate: pkiNow.AddDate(0, 1, 0),
		RevokedCertificateEntries: ents,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// reportBody builds a 384-byte report body.
func reportBody(mrenclave, mrsigner [32]byte, attrs [16]byte, prodID, svn uint16, reportData []byte) []byte {
	b := make([]byte, ReportBodySize)
	copy(b[48:64], attrs[:])
	copy(b[64:96], mrenclave[:])
	copy(b[128:160], mrsigner[:])
	binary.LittleEndian.PutUint16(b[256:], prodID)
	binary.LittleEndian.PutUint16(b[258:], svn)
	copy(b[320:384], reportData)
	return b
}

// buildPKI makes a fresh PKI (or reuses root/inter/tcb from base) per spec.
func buildPKI(t testing.TB, s pkiSpec, base *testPKI) *testPKI {
	t.Helper()
	p := &testPKI{}
	if base != nil {
		p.root, p.inter, p.tcb = base.root, base.inter, base.tcb
	} else {
		p.root = newRoot(t)
		p.inter = newCA(t, p.root, "Intel SGX PCK Processor CA")
		k := newKey(t)
		p.tcb = &pkiCA{k, issue(t, &x509.Certificate{
			Subject: intelName("Intel SGX TCB Signing"), BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		}, p.root, k)}
	}
	ext := s.pck.ext
	if ext == nil {
		ext = buildSGXExtension(t, s.pck)
	}
	issuerCA, ca := p.inter, collateral.CAProcessor
	if s.pck.platform {
		issuerCA, ca = newCA(t, p.root, "Intel SGX PCK Platform CA"), collateral.CAPlatform
	}
	p.pckKey = newKey(t)
	p.pck = issue(t, &x509.Certificate{
		Subject: intelName("Intel SGX PCK Certificate"), BasicConstraintsValid: true, NotAfter: s.pck.notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtraExtensions: []pkix.Extension{{Id: OIDSGXExtension, Value: ext}},
	}, issuerCA, p.pckKey)

	// Quote.
	att := newKey(t)
	attPub := make([]byte, 64)
	att.PublicKey.X.FillBytes(attPub[:32])
	att.PublicKey.Y.FillBytes(attPub[32:])
	auth := bytes.Repeat([]byte{0xa5}, 32)
	bind := sha256.Sum256(append(append([]byte{}, attPub...), auth...))
	version := s.version
	if version == 0 {
		version = 3
	}
	hdr := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint16(hdr[0:], version)
	binary.LittleEndian.PutUint16(hdr[2:], 2)
	copy(hdr[12:28], IntelQEVendorID[:])
	var mre, mrs [32]byte
	mre[0], mrs[0] = 0xee, 0x55
	var appAttrs, qeAttrs [16]byte
	appAttrs[0] = 0x05
	qeAttrs[0] = 0x15
	body := reportBody(mre, mrs, appAttrs, 1, 2, bytes.Repeat([]byte{0x42}, 64))
	qeRep := reportBody([32]byte{0x99}, s.qeMRSigner, qeAttrs, 1, s.qeISVSVN, append(bind[:], make([]byte, 32)...))
	chain := append(append(pemCert(p.pck), pemCert(issuerCA.cert)...), pemCert(p.root.cert)...)
	signed := bytes.Clone(hdr)
	if version == 5 {
		signed = binary.LittleEndian.AppendUint16(signed, 1)
		signed = binary.LittleEndian.AppendUint32(signed, ReportBodySize)
	}
	signed = append(signed, body...)
	sig := signRS(t, att, signed)
	var qp []byte
	qp = append(qp, qeRep...)
	qp = append(qp, signRS(t, p.pckKey, qeRep)...)
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
	if s.mutateQuote != nil {
		s.mutateQuote(q)
	}
	p.quote = q

	// Collateral.
	fmspc := s.tcbFMSPC
	if fmspc == "" {
		fmspc = hex.EncodeToString(s.pck.fmspc[:])
	}
	next := s.tcbNext
	if next.IsZero() {
		next = pkiNow.AddDate(0, 1, 0)
	}
	tcbKey := p.tcb.key
	if s.forgeTCBSig {
		tcbKey = newKey(t)
	}
	ti := signedDoc(t, "tcbInfo", map[string]any{
		"id": "SGX", "version": 3, "issueDate": pkiNow.AddDate(0, 0, -1).Format(time.RFC3339), "nextUpdate": next.Format(time.RFC3339),
		"fmspc": fmspc, "pceId": hex.EncodeToString(s.pck.pceid[:]), "tcbType": 0, "tcbEvaluationDataNumber": 17,
		"tcbLevels": s.tcbLevels,
	}, tcbKey)
	qi := signedDoc(t, "enclaveIdentity", map[string]any{
		"id": "QE", "version": 2, "issueDate": pkiNow.AddDate(0, 0, -1).Format(time.RFC3339), "nextUpdate": pkiNow.AddDate(0, 1, 0).Format(time.RFC3339),
		"tcbEvaluationDataNumber": 16, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
		"attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
		"mrsigner": hex.EncodeToString(s.idMRSigner[:]), "isvprodid": 1, "tcbLevels": s.qeLevels,
	}, p.tcb.key)
	tcbChain := append(pemCert(p.tcb.cert), pemCert(p.root.cert)...)
	var revPCK, revRoot []*big.Int
	if s.revokePCK {
		revPCK = append(revPCK, p.pck.SerialNumber)
	}
	if s.revokeInter {
		revRoot = append(revRoot, issuerCA.cert.SerialNumber)
	}
	mk := func(k collateral.Key, body, chain []byte) *collateral.Item {
		it, err := collateral.NewItem(k, body, chain, pkiNow)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	tk, _ := collateral.TCBInfoKey(hex.EncodeToString(s.pck.fmspc[:]))
	p.bundle = &collateral.Bundle{
		TCBInfo:    mk(tk, ti, tcbChain),
		QEIdentity: mk(collateral.Key{Kind: collateral.KindQEIdentity}, qi, tcbChain),
		PCKCRL:     mk(collateral.PCKCRLKey(ca), makeCRL(t, issuerCA, revPCK...), append(pemCert(issuerCA.cert), pemCert(p.root.cert)...)),
		RootCACRL:  mk(collateral.Key{Kind: collateral.KindRootCACRL}, makeCRL(t, p.root, revRoot...), nil),
	}
	return p
}

func (p *testPKI) verifier(t testing.TB) *Verifier {
	o := DefaultOptions()
	root, err := NewTrustRoot("test root", pemCert(p.root.cert))
	if err != nil {
		t.Fatal(err)
	}
	o.Roots = append(o.Roots, root)
	o.Now = func() time.Time { return pkiNow }
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (p *testPKI) verify(t testing.TB) (*Result, error) {
	return p.verifier(t).Verify(context.Background(), p.quote, WithCollateral(p.bundle))
}

func TestPKIStatuses(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, st := range collateral.PossibleTCBStatusValues() {
		t.Run(string(st), func(t *testing.T) {
			s := defaultSpec()
			s.tcbLevels = []map[string]any{level(9, 11, "UpToDate"), level(5, 10, string(st), "INTEL-SA-1")}
			p := buildPKI(t, s, base)
			res, err := p.verify(t)
			if st == collateral.Revoked {
				if !errors.Is(err, ErrTCBRevoked) || res != nil {
					t.Fatalf("Revoked: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.TCBStatus != st || res.QEStatus != collateral.UpToDate || res.Root != "test root" {
				t.Errorf("status %s QE %s root %s", res.TCBStatus, res.QEStatus, res.Root)
			}
			if len(res.AdvisoryIDs) != 1 || res.AdvisoryIDs[0] != "INTEL-SA-1" {
				t.Errorf("advisories %v", res.AdvisoryIDs)
			}
		})
	}
	// The same PKI is rejected when only the production root is trusted.
	v, _ := NewVerifier(Options{Now: func() time.Time { return pkiNow }})
	if _, err := v.Verify(context.Background(), base.quote, WithCollateral(base.bundle)); !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("production root: %v", err)
	}
}

func TestPKIQEMerge(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, tc := range []struct {
		platform string
		qeSVN    uint16
		want     TCBStatus
		wantErr  error
	}{
		{"UpToDate", 7, collateral.OutOfDate, nil},
		{"SWHardeningNeeded", 7, collateral.OutOfDate, nil},
		{"ConfigurationNeeded", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"ConfigurationAndSWHardeningNeeded", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"OutOfDate", 7, collateral.OutOfDate, nil},
		{"OutOfDateConfigurationNeeded", 7, collateral.OutOfDateConfigurationNeeded, nil},
		{"UpToDate", 3, "", ErrTCBRevoked},
		{"UpToDate", 1, "", ErrQETCBNotSupported},
	} {
		s := defaultSpec()
		s.tcbLevels = []map[string]any{level(5, 10, tc.platform)}
		s.qeISVSVN = tc.qeSVN
		res, err := buildPKI(t, s, base).verify(t)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s/QE svn %d: %v, want %v", tc.platform, tc.qeSVN, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/QE svn %d: %v", tc.platform, tc.qeSVN, err)
			continue
		}
		if res.TCBStatus != tc.want || res.PlatformTCBStatus != TCBStatus(tc.platform) {
			t.Errorf("%s/QE svn %d: %s, want %s", tc.platform, tc.qeSVN, res.TCBStatus, tc.want)
		}
		if tc.qeSVN == 7 && (len(res.AdvisoryIDs) != 1 || res.AdvisoryIDs[0] != "INTEL-SA-00615") {
			t.Errorf("QE advisories not merged: %v", res.AdvisoryIDs)
		}
	}
}

func TestPKILevelSelection(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, tc := range []struct {
		comp   uint8
		pcesvn uint16
		want   TCBStatus
	}{
		{7, 11, collateral.UpToDate},
		{9, 11, collateral.UpToDate},
		{7, 10, collateral.SWHardeningNeeded}, // PCESVN below the top level
		{5, 10, collateral.SWHardeningNeeded},
		{6, 99, collateral.SWHardeningNeeded},
		{4, 10, collateral.OutOfDate},
	} {
		s := defaultSpec()
		for i := range s.pck.comps {
			s.pck.comps[i] = tc.comp
		}
		s.pck.pcesvn = tc.pcesvn
		res, err := buildPKI(t, s, base).verify(t)
		if err != nil || res.TCBStatus != tc.want {
			t.Errorf("comps %d pcesvn %d: %v %v, want %s", tc.comp, tc.pcesvn, res, err, tc.want)
		}
	}
	// One component below every level: not supported.
	s := defaultSpec()
	s.pck.comps[15] = 2
	if _, err := buildPKI(t, s, base).verify(t); !errors.Is(err, ErrTCBNotSupported) {
		t.Errorf("low component: %v", err)
	}
}

func TestPKINegative(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for name, tc := range map[string]struct {
		mod  func(*pkiSpec)
		want error
	}{
		"revoked PCK":      {func(s *pkiSpec) { s.revokePCK = true }, ErrPCKRevoked},
		"revoked CA":       {func(s *pkiSpec) { s.revokeInter = true }, ErrCARevoked},
		"expired PCK":      {func(s *pkiSpec) { s.pck.notAfter = pkiNow.Add(-time.Hour) }, ErrCertificateExpired},
		"wrong FMSPC":      {func(s *pkiSpec) { s.tcbFMSPC = "00A067110000" }, ErrFMSPCMismatch},
		"forged TCB Info":  {func(s *pkiSpec) { s.forgeTCBSig = true }, ErrTCBInfoSignature},
		"QE mrsigner":      {func(s *pkiSpec) { s.idMRSigner[5] ^= 1 }, ErrQEIdentityMismatch},
		"TCB Info expired": {func(s *pkiSpec) { s.tcbNext = pkiNow.Add(-time.Minute) }, ErrCollateralExpired},
		"unknown status":   {func(s *pkiSpec) { s.tcbLevels = []map[string]any{level(1, 1, "Fine")} }, ErrTCBInfo},
		"bad SGX ext":      {func(s *pkiSpec) { s.pck.ext = []byte{0x30, 0x00} }, ErrMalformedPCKExt},
		"PCE-ID":           {func(s *pkiSpec) { s.pck.pceid = [2]byte{0, 1} }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			s := defaultSpec()
			tc.mod(&s)
			p := buildPKI(t, s, base)
			if tc.want == nil { // PCE-ID of cert and TCB Info both changed: still fine
				if _, err := p.verify(t); err != nil {
					t.Fatal(err)
				}
				// now only the TCB Info's
				b := *p.bundle
				s2 := defaultSpec()
				p2 := buildPKI(t, s2, base)
				b.TCBInfo = p2.bundle.TCBInfo
				if _, err := p.verifier(t).Verify(context.Background(), p.quote, WithCollateral(&b)); !errors.Is(err, ErrPCEIDMismatch) {
					t.Fatalf("PCE-ID mismatch: %v", err)
				}
				return
			}
			res, err := p.verify(t)
			if !errors.Is(err, tc.want) || res != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPKIParsePCKExtensions(t *testing.T) {
	s := defaultSpec()
	s.pck.comps[3] = 200
	s.pck.pcesvn = 300
	s.pck.pceid = [2]byte{0xab, 0xcd}
	der := buildSGXExtension(t, s.pck)
	x, err := ParsePCKExtensions(der)
	if err != nil {
		t.Fatal(err)
	}
	if x.TCBComponents != s.pck.comps || x.PCESVN != 300 || x.PCEID != s.pck.pceid || x.FMSPC != s.pck.fmspc || x.SGXType != SGXTypeStandard {
		t.Errorf("%+v", x)
	}
	for i := 0; i < len(der); i++ {
		if _, err := ParsePCKExtensions(der[:i]); err == nil {
			t.Errorf("truncated at %d accepted", i)
		}
	}
}

func TestPKIQuoteVersions(t *testing.T) {
	base := buildPKI(t, defaultSpec(), nil)
	for _, ver := range []uint16{3, 4, 5} {
		s := defaultSpec()
		s.version = ver
		p := buildPKI(t, s, base)
		q, err := ParseQuote(p.quote)
		if err != nil {
			t.Fatalf("v%d: %v", ver, err)
		}
		if q.Header.Version != ver || q.CertDataType != 5 || (ver > 3) != (q.OuterCertDataType == 6) {
			t.Errorf("v%d: cert types %d/%d", ver, q.OuterCertDataType, q.CertDataType)
		}
		res, err := p.verify(t)
		if err != nil || res.TCBStatus != collateral.SWHardeningNeeded {
			t.Errorf("v%d: %v %v", ver, res, err)
		}
		for i := 0; i < len(p.quote); i++ {
			if _, err := ParseQuote(p.quote[:i]); err == nil {
				t.Fatalf("v%d truncated to %d accepted", ver, i)
			}
		}
	}
}

func TestPKIPlatformCA(t *testing.T) {
	s := defaultSpec()
	s.pck.platform = true
	p := buildPKI(t, s, nil)
	res, err := p.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	x := res.PCK
	if res.PCKCA != collateral.CAPlatform || x.SGXType != SGXTypeScalable || len(x.PlatformInstanceID) != 16 ||
		x.Configuration == nil || !*x.Configuration.DynamicPlatform || *x.Configuration.CachedKeys || !*x.Configuration.SMTEnabled {
		t.Errorf("platform PCK: %s %+v", res.PCKCA, x)
	}
	// The processor CA's CRL does not cover a platform PCK.
	s2 := defaultSpec()
	b := *p.bundle
	b.PCKCRL = buildPKI(t, s2, p).bundle.PCKCRL
	if _, err := p.verifier(t).Verify(context.Background(), p.quote, WithCollateral(&b)); !errors.Is(err, ErrCRL) {
		t.Errorf("processor CRL for a platform PCK: %v", err)
	}
	s.revokePCK = true
	if _, err := buildPKI(t, s, p).verify(t); !errors.Is(err, ErrPCKRevoked) {
		t.Errorf("revoked platform PCK: %v", err)
	}
}
