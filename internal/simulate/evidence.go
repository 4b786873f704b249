package simulate

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
)

// Enclave is what a simulated enclave's report says. Every field lands in
// the claim of the same name (x-ms-sgx-*).
type Enclave struct {
	// ReportData is report_data (64 bytes): SHA-256 of the runtime data in
	// the first 32 (see ReportDataFor).
	ReportData [64]byte
	MREnclave  [32]byte
	MRSigner   [32]byte
	ProductID  uint16
	SVN        uint16
	// Debug sets the DEBUG attribute (x-ms-sgx-is-debuggable).
	Debug bool
	// KSS sets the Key Separation and Sharing attribute; the KSS fields
	// below then appear as claims (x-ms-sgx-config-id, -config-svn,
	// -isv-extended-product-id, -isv-family-id).
	KSS          bool
	ConfigID     [64]byte
	ConfigSVN    uint16
	ISVExtProdID [16]byte
	ISVFamilyID  [16]byte
	// TCBStatus is the TCB status the development collateral gives the
	// quote's platform: UpToDate (also ""), SWHardeningNeeded, OutOfDate or
	// Revoked. The quote's CPUSVN and its PCK certificate's TCB are those
	// of that level of the development TCB Info.
	TCBStatus collateral.TCBStatus
}

// sgxLevel is one TCB level of the development platform's SGX TCB Info:
// every SGX component at compSVN, the PCE at pceSVN.
type sgxLevel struct {
	status     collateral.TCBStatus
	compSVN    byte
	pceSVN     int
	advisories []string
}

// sgxLevels are the development TCB Info's levels, highest first. Each
// status a simulated quote can ask for is the first level its own TCB
// reaches.
var sgxLevels = []sgxLevel{
	{collateral.UpToDate, devCPUSVN, devPCESVN, nil},
	{collateral.SWHardeningNeeded, devCPUSVN, devPCESVN - 1, []string{"MAAT-DEV-SA-00001"}},
	{collateral.OutOfDate, devCPUSVN - 1, devPCESVN - 2, []string{"MAAT-DEV-SA-00001", "MAAT-DEV-SA-00002"}},
	{collateral.Revoked, devCPUSVN - 2, devPCESVN - 3, []string{"MAAT-DEV-SA-00003"}},
}

// SGXTCBStatuses are the TCB statuses a simulated SGX quote can have.
func SGXTCBStatuses() []collateral.TCBStatus {
	out := make([]collateral.TCBStatus, len(sgxLevels))
	for i, l := range sgxLevels {
		out[i] = l.status
	}
	return out
}

// level is e's TCB level; UpToDate's for a status without one (SGXQuote
// refuses those before it builds a body).
func (e Enclave) level() sgxLevel {
	if l, err := levelOf(e.TCBStatus); err == nil {
		return l
	}
	return sgxLevels[0]
}

func levelOf(s collateral.TCBStatus) (sgxLevel, error) {
	if s == "" {
		s = collateral.UpToDate
	}
	for _, l := range sgxLevels {
		if l.status == s {
			return l, nil
		}
	}
	return sgxLevel{}, fmt.Errorf("simulate: TCB status %q cannot be simulated (%v)", s, SGXTCBStatuses())
}

// ReportDataFor returns report data binding runtimeData: SHA-256 in the
// first 32 bytes, zeros after (MAA's binding).
func ReportDataFor(runtimeData []byte) [64]byte {
	var rd [64]byte
	h := sha256.Sum256(runtimeData)
	copy(rd[:], h[:])
	return rd
}

// Attribute flags (SGX SECS.ATTRIBUTES).
const (
	attrInit   = 1 << 0
	attrDebug  = 1 << 1
	attrMode64 = 1 << 2
	attrKSS    = 1 << 7
)

const (
	headerSize     = 48
	reportBodySize = 384
)

var intelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

func (e Enclave) body() []byte {
	b := make([]byte, reportBodySize)
	copy(b[0:16], bytes.Repeat([]byte{e.level().compSVN}, 16)) // CPUSVN
	copy(b[32:48], e.ISVExtProdID[:])
	flags := uint64(attrInit | attrMode64)
	if e.Debug {
		flags |= attrDebug
	}
	if e.KSS {
		flags |= attrKSS
	}
	binary.LittleEndian.PutUint64(b[48:56], flags)
	binary.LittleEndian.PutUint64(b[56:64], 0x3) // XFRM: x87, SSE
	copy(b[64:96], e.MREnclave[:])
	copy(b[128:160], e.MRSigner[:])
	copy(b[192:256], e.ConfigID[:])
	binary.LittleEndian.PutUint16(b[256:], e.ProductID)
	binary.LittleEndian.PutUint16(b[258:], e.SVN)
	binary.LittleEndian.PutUint16(b[260:], e.ConfigSVN)
	copy(b[304:320], e.ISVFamilyID[:])
	copy(b[320:384], e.ReportData[:])
	return b
}

func signRS(k *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
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

// SGXQuote returns an SGX ECDSA quote (version 3, attestation key type
// ECDSA-P256) of e: signed by a fresh attestation key that the development
// QE's report binds, the QE report signed by the development PCK key, and
// the PCK chain (certification data type 5, PEM). It returns an error only
// if signing fails.
func (p *PKI) SGXQuote(e Enclave) ([]byte, error) {
	l, err := levelOf(e.TCBStatus)
	if err != nil {
		return nil, err
	}
	pck, err := p.pckFor(l)
	if err != nil {
		return nil, err
	}
	hdr := quoteHeader(3, 0)
	signed := append(hdr, e.body()...)
	sig, attPub, qeCert, err := p.signQuote(signed, devQEProdID, pck)
	if err != nil {
		return nil, err
	}
	var sd []byte
	sd = append(sd, sig...)
	sd = append(sd, attPub...)
	sd = append(sd, qeCert...)
	q := binary.LittleEndian.AppendUint32(signed, uint32(len(sd)))
	return append(q, sd...), nil
}

// quoteHeader is a DCAP quote header: version, ECDSA-256-with-P-256, TEE
// type, the development QE and PCE SVNs, Intel's QE vendor ID.
func quoteHeader(version uint16, tee uint32) []byte {
	hdr := make([]byte, headerSize)
	binary.LittleEndian.PutUint16(hdr[0:], version)
	binary.LittleEndian.PutUint16(hdr[2:], 2) // ECDSA-256-with-P-256
	binary.LittleEndian.PutUint32(hdr[4:], tee)
	binary.LittleEndian.PutUint16(hdr[8:], devQEISVSVN)
	binary.LittleEndian.PutUint16(hdr[10:], devPCESVN)
	copy(hdr[12:28], intelQEVendorID[:])
	return hdr
}

// signQuote signs a quote's signed part (header and body) with a fresh
// attestation key and returns the signature, the attestation public key
// and the QE's certification data: the development QE's report (product
// qeProdID) binding the key, signed by the development PCK key, the QE
// authentication data and the PCK chain (type 5, PEM).
func (p *PKI) signQuote(signed []byte, qeProdID uint16, pck *x509.Certificate) (sig, attPub, qeCert []byte, err error) {
	att, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	attPub = make([]byte, 64)
	att.PublicKey.X.FillBytes(attPub[:32])
	att.PublicKey.Y.FillBytes(attPub[32:])
	auth := make([]byte, 32)
	if _, err := rand.Read(auth); err != nil {
		return nil, nil, nil, err
	}
	bind := sha256.Sum256(append(bytes.Clone(attPub), auth...))
	if sig, err = signRS(att, signed); err != nil {
		return nil, nil, nil, err
	}
	qe := Enclave{MRSigner: devQEMRSigner, ProductID: qeProdID, SVN: devQEISVSVN}
	copy(qe.MREnclave[:], bytes.Repeat([]byte{0x9e}, 32))
	copy(qe.ReportData[:], bind[:])
	qeBody := qe.body()
	qeBody[48] |= 0x10 // PROVISIONKEY, as Intel's QE has
	qeSig, err := signRS(p.pck.key, qeBody)
	if err != nil {
		return nil, nil, nil, err
	}
	chain := append(append(pemCert(pck), pemCert(p.inter.cert)...), pemCert(p.root.cert)...)
	qeCert = append(qeCert, qeBody...)
	qeCert = append(qeCert, qeSig...)
	qeCert = binary.LittleEndian.AppendUint16(qeCert, uint16(len(auth)))
	qeCert = append(qeCert, auth...)
	qeCert = binary.LittleEndian.AppendUint16(qeCert, 5) // PCK certificate chain, PEM
	qeCert = binary.LittleEndian.AppendUint32(qeCert, uint32(len(chain)))
	qeCert = append(qeCert, chain...)
	return sig, attPub, qeCert, nil
}

// OpenEnclaveReport returns a legacy OpenEnclave remote report (header
// version 1, type 2 SGX remote) wrapping SGXQuote(e), as
// oe_get_report(OE_REPORT_FLAGS_REMOTE_ATTESTATION) produces.
func (p *PKI) OpenEnclaveReport(e Enclave) ([]byte, error) {
	q, err := p.SGXQuote(e)
	if err != nil {
		return nil, err
	}
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h[0:], 1)
	binary.LittleEndian.PutUint32(h[4:], 2)
	binary.LittleEndian.PutUint64(h[8:], uint64(len(q)))
	return append(h, q...), nil
}

// CollateralValidity is how long collateral signed by Collateral stays
// valid; it is re-signed after half of it.
const CollateralValidity = 30 * 24 * time.Hour

// Collateral returns the collateral source of the development platform:
// for SGX, TCB Info (one UpToDate level, the platform's) and QE Identity
// (the development QE, UpToDate); for TDX, TDX TCB Info (tdx.go) and the
// TD_QE identity; and empty CRLs. All are signed by the development TCB
// Signing key and CAs at the time now returns, and re-signed when half of
// CollateralValidity has passed. Other FMSPCs and TCB evaluation data
// numbers are collateral.ErrNotFound.
func (p *PKI) Collateral(now func() time.Time) collateral.Source {
	return &devSource{p: p, now: now}
}

type devSource struct {
	p   *PKI
	now func() time.Time

	mu       sync.Mutex
	sgx, tdx *collateral.Bundle
	signed   time.Time
}

func (s *devSource) Fetch(_ context.Context, key collateral.Key) (*collateral.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.sgx == nil || now.Sub(s.signed) > CollateralValidity/2 || now.Before(s.signed) {
		sb, tb, err := s.p.bundles(now)
		if err != nil {
			return nil, fmt.Errorf("%w: signing development collateral: %v", collateral.ErrUnavailable, err)
		}
		s.sgx, s.tdx, s.signed = sb, tb, now
	}
	for _, it := range []*collateral.Item{s.sgx.TCBInfo, s.sgx.QEIdentity, s.tdx.TCBInfo, s.tdx.QEIdentity, s.sgx.PCKCRL, s.sgx.RootCACRL} {
		if it.Key == key {
			return it, nil
		}
	}
	return nil, fmt.Errorf("%w: the development PKI has no %v", collateral.ErrNotFound, key)
}

// Bundle returns the development SGX collateral signed at now (for offline
// verification of simulated evidence with sgx.WithCollateral).
func (p *PKI) Bundle(now time.Time) (*collateral.Bundle, error) {
	b, _, err := p.bundles(now)
	return b, err
}

// TDXBundle returns the development TDX collateral signed at now (for
// offline verification of simulated TD quotes with dcap.WithCollateral).
func (p *PKI) TDXBundle(now time.Time) (*collateral.Bundle, error) {
	_, b, err := p.bundles(now)
	return b, err
}

// bundles signs the SGX and the TDX collateral at now; the two share the
// CRLs.
func (p *PKI) bundles(now time.Time) (sgxB, tdxB *collateral.Bundle, err error) {
	issue, next := now.Add(-time.Minute), now.Add(CollateralValidity)
	dates := func(m map[string]any) map[string]any {
		m["issueDate"], m["nextUpdate"] = issue.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339)
		return m
	}
	fmspc := hex.EncodeToString(FMSPC[:])
	ti, err := p.signedDoc("tcbInfo", dates(map[string]any{
		"id": "SGX", "version": 3, "fmspc": fmspc, "pceId": hex.EncodeToString(PCEID[:]), "tcbType": 0, "tcbEvaluationDataNumber": 1,
		"tcbLevels": sgxTCBLevels(issue),
	}))
	if err != nil {
		return nil, nil, err
	}
	qi, err := p.signedDoc("enclaveIdentity", dates(qeIdentity("QE", devQEProdID, issue)))
	if err != nil {
		return nil, nil, err
	}
	tdxTI, err := p.signedDoc("tcbInfo", dates(tdxTCBInfo(fmspc, issue)))
	if err != nil {
		return nil, nil, err
	}
	tdQI, err := p.signedDoc("enclaveIdentity", dates(qeIdentity("TD_QE", devTDQEProdID, issue)))
	if err != nil {
		return nil, nil, err
	}
	pckCRL, err := crl(p.inter, issue, next)
	if err != nil {
		return nil, nil, err
	}
	rootCRL, err := crl(p.root, issue, next)
	if err != nil {
		return nil, nil, err
	}
	tcbChain := append(pemCert(p.tcb.cert), pemCert(p.root.cert)...)
	tk, err := collateral.TCBInfoKey(fmspc)
	if err != nil {
		return nil, nil, err
	}
	tdxKey := tk
	tdxKey.Kind = collateral.KindTDXTCBInfo
	var sb, tb collateral.Bundle
	for _, f := range []struct {
		dst         **collateral.Item
		key         collateral.Key
		body, chain []byte
	}{
		{&sb.TCBInfo, tk, ti, tcbChain},
		{&sb.QEIdentity, collateral.Key{Kind: collateral.KindQEIdentity}, qi, tcbChain},
		{&tb.TCBInfo, tdxKey, tdxTI, tcbChain},
		{&tb.QEIdentity, collateral.Key{Kind: collateral.KindTDQEIdentity}, tdQI, tcbChain},
		{&sb.PCKCRL, collateral.PCKCRLKey(collateral.CAProcessor), pckCRL, append(pemCert(p.inter.cert), pemCert(p.root.cert)...)},
		{&sb.RootCACRL, collateral.Key{Kind: collateral.KindRootCACRL}, rootCRL, nil},
	} {
		it, err := collateral.NewItem(f.key, f.body, f.chain, now)
		if err != nil {
			return nil, nil, err
		}
		*f.dst = it
	}
	tb.PCKCRL, tb.RootCACRL = sb.PCKCRL, sb.RootCACRL
	return &sb, &tb, nil
}

// sgxLevelTCB is the "tcb" of the development platform's UpToDate SGX TCB
// level: every SGX component and the PCESVN of the stored PCK certificate.
func sgxLevelTCB() map[string]any { return levelTCB(sgxLevels[0]) }

func levelTCB(l sgxLevel) map[string]any {
	comps := make([]map[string]any, 16)
	for i := range comps {
		comps[i] = map[string]any{"svn": int(l.compSVN)}
	}
	return map[string]any{"sgxtcbcomponents": comps, "pcesvn": l.pceSVN}
}

// sgxTCBLevels are sgxLevels as TCB Info levels, each dated a day before
// the one above it.
func sgxTCBLevels(issue time.Time) []map[string]any {
	out := make([]map[string]any, len(sgxLevels))
	for i, l := range sgxLevels {
		m := map[string]any{"tcb": levelTCB(l), "tcbDate": issue.Add(-time.Duration(i) * 24 * time.Hour).UTC().Format(time.RFC3339), "tcbStatus": string(l.status)}
		if len(l.advisories) > 0 {
			m["advisoryIDs"] = l.advisories
		}
		out[i] = m
	}
	return out
}

// qeIdentity is the body of the development QE's (id "QE") or TD QE's (id
// "TD_QE") identity: its MRSIGNER and product id, one UpToDate level at
// its ISVSVN, the attributes Intel's identities require.
func qeIdentity(id string, prodID int, issue time.Time) map[string]any {
	return map[string]any{
		"id": id, "version": 2, "tcbEvaluationDataNumber": 1, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
		"attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
		"mrsigner": hex.EncodeToString(devQEMRSigner[:]), "isvprodid": prodID,
		"tcbLevels": []map[string]any{{"tcb": map[string]any{"isvsvn": devQEISVSVN}, "tcbDate": issue.UTC().Format(time.RFC3339), "tcbStatus": "UpToDate"}},
	}
}

func (p *PKI) signedDoc(member string, body map[string]any) ([]byte, error) {
	bb, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	sig, err := signRS(p.tcb.key, bb)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf(`{"%s":%s,"signature":"%s"}`, member, bb, hex.EncodeToString(sig))), nil
}

func crl(c *ca, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(thisUpdate.Unix()), ThisUpdate: thisUpdate, NextUpdate: nextUpdate,
	}, c.cert, c.key)
}
