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
	copy(b[0:16], bytes.Repeat([]byte{devCPUSVN}, 16)) // CPUSVN
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
	att, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	attPub := make([]byte, 64)
	att.PublicKey.X.FillBytes(attPub[:32])
	att.PublicKey.Y.FillBytes(attPub[32:])
	auth := make([]byte, 32)
	if _, err := rand.Read(auth); err != nil {
		return nil, err
	}
	bind := sha256.Sum256(append(bytes.Clone(attPub), auth...))

	hdr := make([]byte, headerSize)
	binary.LittleEndian.PutUint16(hdr[0:], 3) // version
	binary.LittleEndian.PutUint16(hdr[2:], 2) // ECDSA-256-with-P-256
	binary.LittleEndian.PutUint16(hdr[8:], devQEISVSVN)
	binary.LittleEndian.PutUint16(hdr[10:], devPCESVN)
	copy(hdr[12:28], intelQEVendorID[:])
	signed := append(hdr, e.body()...)
	sig, err := signRS(att, signed)
	if err != nil {
		return nil, err
	}
	qe := Enclave{MRSigner: devQEMRSigner, ProductID: 1, SVN: devQEISVSVN}
	copy(qe.MREnclave[:], bytes.Repeat([]byte{0x9e}, 32))
	copy(qe.ReportData[:], bind[:])
	qeBody := qe.body()
	qeBody[48] |= 0x10 // PROVISIONKEY, as Intel's QE has
	qeSig, err := signRS(p.pck.key, qeBody)
	if err != nil {
		return nil, err
	}
	chain := append(append(pemCert(p.pck.cert), pemCert(p.inter.cert)...), pemCert(p.root.cert)...)
	var sd []byte
	sd = append(sd, sig...)
	sd = append(sd, attPub...)
	sd = append(sd, qeBody...)
	sd = append(sd, qeSig...)
	sd = binary.LittleEndian.AppendUint16(sd, uint16(len(auth)))
	sd = append(sd, auth...)
	sd = binary.LittleEndian.AppendUint16(sd, 5) // PCK certificate chain, PEM
	sd = binary.LittleEndian.AppendUint32(sd, uint32(len(chain)))
	sd = append(sd, chain...)
	q := binary.LittleEndian.AppendUint32(signed, uint32(len(sd)))
	return append(q, sd...), nil
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
// TCB Info (one UpToDate level, the platform's), QE Identity (the
// development QE, UpToDate) and empty CRLs, signed by the development TCB
// Signing key and CAs at the time now returns, and re-signed when half of
// CollateralValidity has passed. Other FMSPCs are collateral.ErrNotFound.
func (p *PKI) Collateral(now func() time.Time) collateral.Source {
	return &devSource{p: p, now: now}
}

type devSource struct {
	p   *PKI
	now func() time.Time

	mu     sync.Mutex
	bundle *collateral.Bundle
	signed time.Time
}

func (s *devSource) Fetch(_ context.Context, key collateral.Key) (*collateral.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.bundle == nil || now.Sub(s.signed) > CollateralValidity/2 || now.Before(s.signed) {
		b, err := s.p.bundle(now)
		if err != nil {
			return nil, fmt.Errorf("%w: signing development collateral: %v", collateral.ErrUnavailable, err)
		}
		s.bundle, s.signed = b, now
	}
	for _, it := range []*collateral.Item{s.bundle.TCBInfo, s.bundle.QEIdentity, s.bundle.PCKCRL, s.bundle.RootCACRL} {
		if it.Key == key {
			return it, nil
		}
	}
	return nil, fmt.Errorf("%w: the development PKI has no %v", collateral.ErrNotFound, key)
}

// Bundle returns the development collateral signed at now (for offline
// verification of simulated evidence with sgx.WithCollateral).
func (p *PKI) Bundle(now time.Time) (*collateral.Bundle, error) { return p.bundle(now) }

func (p *PKI) bundle(now time.Time) (*collateral.Bundle, error) {
	issue, next := now.Add(-time.Minute), now.Add(CollateralValidity)
	comps := make([]map[string]any, 16)
	for i := range comps {
		comps[i] = map[string]any{"svn": devCPUSVN}
	}
	fmspc := hex.EncodeToString(FMSPC[:])
	ti, err := p.signedDoc("tcbInfo", map[string]any{
		"id": "SGX", "version": 3, "issueDate": issue.UTC().Format(time.RFC3339), "nextUpdate": next.UTC().Format(time.RFC3339),
		"fmspc": fmspc, "pceId": hex.EncodeToString(PCEID[:]), "tcbType": 0, "tcbEvaluationDataNumber": 1,
		"tcbLevels": []map[string]any{{"tcb": map[string]any{"sgxtcbcomponents": comps, "pcesvn": devPCESVN},
			"tcbDate": issue.UTC().Format(time.RFC3339), "tcbStatus": "UpToDate"}},
	})
	if err != nil {
		return nil, err
	}
	qi, err := p.signedDoc("enclaveIdentity", map[string]any{
		"id": "QE", "version": 2, "issueDate": issue.UTC().Format(time.RFC3339), "nextUpdate": next.UTC().Format(time.RFC3339),
		"tcbEvaluationDataNumber": 1, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
		"attributes": "11000000000000000000000000000000", "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
		"mrsigner": hex.EncodeToString(devQEMRSigner[:]), "isvprodid": 1,
		"tcbLevels": []map[string]any{{"tcb": map[string]any{"isvsvn": devQEISVSVN}, "tcbDate": issue.UTC().Format(time.RFC3339), "tcbStatus": "UpToDate"}},
	})
	if err != nil {
		return nil, err
	}
	pckCRL, err := crl(p.inter, issue, next)
	if err != nil {
		return nil, err
	}
	rootCRL, err := crl(p.root, issue, next)
	if err != nil {
		return nil, err
	}
	tcbChain := append(pemCert(p.tcb.cert), pemCert(p.root.cert)...)
	tk, err := collateral.TCBInfoKey(fmspc)
	if err != nil {
		return nil, err
	}
	var b collateral.Bundle
	for _, f := range []struct {
		dst         **collateral.Item
		key         collateral.Key
		body, chain []byte
	}{
		{&b.TCBInfo, tk, ti, tcbChain},
		{&b.QEIdentity, collateral.Key{Kind: collateral.KindQEIdentity}, qi, tcbChain},
		{&b.PCKCRL, collateral.PCKCRLKey(collateral.CAProcessor), pckCRL, append(pemCert(p.inter.cert), pemCert(p.root.cert)...)},
		{&b.RootCACRL, collateral.Key{Kind: collateral.KindRootCACRL}, rootCRL, nil},
	} {
		it, err := collateral.NewItem(f.key, f.body, f.chain, now)
		if err != nil {
			return nil, err
		}
		*f.dst = it
	}
	return &b, nil
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
