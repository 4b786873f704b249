package dcap

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/maaerr"
)

// TCBStatus is a TCB status (see collateral.TCBStatus for the values).
type TCBStatus = collateral.TCBStatus

// Options configure a Verifier. They are copied by NewVerifier and never
// modified. Start from DefaultOptions.
type Options struct {
	// Roots are the trust anchors. Nil or empty means only IntelRoot(). To
	// trust a test root as well, use append(DefaultOptions().Roots, test).
	Roots []TrustRoot
	// Now is the verification clock; nil means time.Now. Pin it in tests.
	Now func() time.Time
	// AcceptExpiredCollateral accepts TCB Info, QE Identity and CRLs past
	// their nextUpdate; the result then has CollateralExpired set. It never
	// accepts an expired certificate.
	AcceptExpiredCollateral bool
	// Collateral is where collateral comes from unless a call passes
	// WithCollateral. Nil means every call must pass WithCollateral.
	Collateral collateral.Source
	// CacheEntries bounds each internal cache (parsed PCK chains, verified
	// collateral); 0 means 1024.
	CacheEntries int
}

// DefaultOptions returns the production defaults: the Intel root only, the
// wall clock, expired collateral rejected, no collateral source.
func DefaultOptions() Options {
	return Options{Roots: []TrustRoot{IntelRoot()}}
}

// Verifier runs the shared DCAP checks. It is safe for concurrent use; it caches parsed
// PCK chains and verified collateral by content hash, never per-call state.
type Verifier struct {
	roots []TrustRoot
	// selfSigned[i] is set when roots[i]'s certificate verified its own
	// signature at construction: a chain that presents that certificate
	// byte for byte needs no second check (QVL checks it once too).
	selfSigned []bool
	now        func() time.Time
	acceptExp  bool
	src        collateral.Source
	chains     *boundedMap[[32]byte, chainEntry]
	crls       *boundedMap[crlKey, crlEntry]
	signed     *boundedMap[signedKey, signedEntry]
	issuerOK   *boundedMap[[64]byte, error]
	signers    *boundedMap[[32]byte, signerEntry]
	certs      *boundedMap[[32]byte, certEntry]
}

// certEntry is a parsed certificate, cached by the SHA-256 of its DER: the
// root and the intermediate appear in several chains of one verification.
type certEntry struct {
	cert *x509.Certificate
	err  error
}

// signerEntry is a checked TCB Signing issuer chain (TCB Info, QE Identity
// and the evaluation-number lists share one), cached by its hash.
type signerEntry struct {
	signer, root *x509.Certificate
	err          error
}

// NewVerifier returns a verifier with a copy of opts. It returns an error
// when a root has no certificate.
func NewVerifier(opts Options) (*Verifier, error) {
	roots := append([]TrustRoot(nil), opts.Roots...)
	if len(roots) == 0 {
		roots = []TrustRoot{IntelRoot()}
	}
	selfSigned := make([]bool, len(roots))
	for i, r := range roots {
		if r.Cert == nil {
			return nil, fmt.Errorf("dcap: trust root %q has no certificate", r.Name)
		}
		selfSigned[i] = bytes.Equal(r.Cert.RawIssuer, r.Cert.RawSubject) && selfSignatureOK(r.Cert)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	n := opts.CacheEntries
	if n <= 0 {
		n = 1024
	}
	return &Verifier{
		roots: roots, selfSigned: selfSigned, now: now, acceptExp: opts.AcceptExpiredCollateral, src: opts.Collateral,
		chains:   newBoundedMap[[32]byte, chainEntry](n),
		crls:     newBoundedMap[crlKey, crlEntry](n),
		signed:   newBoundedMap[signedKey, signedEntry](n),
		issuerOK: newBoundedMap[[64]byte, error](n),
		signers:  newBoundedMap[[32]byte, signerEntry](n),
		certs:    newBoundedMap[[32]byte, certEntry](n),
	}, nil
}

// parseCert parses a DER certificate once per verifier: a pinned root's
// own bytes yield the pinned certificate, anything else is parsed and
// cached by content. Certificates are never modified after parsing.
func (v *Verifier) parseCert(der []byte) (*x509.Certificate, error) {
	for _, r := range v.roots {
		if bytes.Equal(der, r.Cert.Raw) {
			return r.Cert, nil
		}
	}
	e := v.certs.getOrCompute(sha256.Sum256(der), func() certEntry {
		c, err := x509.ParseCertificate(der)
		return certEntry{c, err}
	})
	return e.cert, e.err
}

// selfSigOK memoizes, per process, whether a root certificate's
// self-signature verifies: a pure function of its bytes, checked once
// however many verifiers (instances, tenants, tests) pin the same root.
var selfSigOK sync.Map // [32]byte (SHA-256 of the DER) -> bool

func selfSignatureOK(c *x509.Certificate) bool {
	k := sha256.Sum256(c.Raw)
	if ok, hit := selfSigOK.Load(k); hit {
		return ok.(bool)
	}
	ok := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	selfSigOK.Store(k, ok)
	return ok
}

// CallOption adjusts one Verify call.
type CallOption func(*callOpts)

type callOpts struct {
	hashed   []byte
	pckChain []byte
	bundle   *collateral.Bundle
	at       time.Time
	evalNum  int
}

// WithEvidence sets the bytes whose SHA-256 is reported as quotehash: the
// evidence exactly as the client sent it (for OpenEnclave, the whole report
// with its header). Without it, quotehash is SHA-256 of the quote bytes.
func WithEvidence(b []byte) CallOption { return func(o *callOpts) { o.hashed = b } }

// WithPCKChain supplies the PEM PCK chain (leaf, intermediate, root) for a
// quote whose certification data is type 1–4 and so carries no chain.
func WithPCKChain(pem []byte) CallOption { return func(o *callOpts) { o.pckChain = pem } }

// WithCollateral uses b instead of the verifier's collateral source.
func WithCollateral(b *collateral.Bundle) CallOption { return func(o *callOpts) { o.bundle = b } }

// WithTime verifies at t instead of the verifier's clock.
func WithTime(t time.Time) CallOption { return func(o *callOpts) { o.at = t } }

// CollateralHashes are the SHA-256 digests MAA reports in x-ms-sgx-collateral:
//
//   - Quote: the evidence exactly as sent (see WithEvidence);
//   - TCBInfo / QEID: the TCB Info / QE Identity document as received
//     ({"tcbInfo":…,"signature":…} bytes);
//   - TCBInfoCerts / QEIDCerts: the PEM issuer chain of each as received;
//   - TCBInfoCRL / QEIDCRL: the DER Root CA CRL, the CRL that covers the TCB
//     signing certificate of both (so the two are equal, as in MAA tokens);
//   - PCKCRL: the DER PCK CRL (not part of MAA's claim).
type CollateralHashes struct {
	Quote, TCBInfo, TCBInfoCerts, TCBInfoCRL, QEID, QEIDCerts, QEIDCRL, PCKCRL [32]byte
}

// Profile is what differs between the TEEs in the shared checks.
type Profile struct {
	// TEE is the quote's TEE type (TEETypeSGX or TEETypeTDX): it selects
	// the TCB Info (id SGX or TDX), the QE identity (id QE or TD_QE) and the
	// collateral fetched.
	TEE uint32
}

func (p Profile) tdx() bool { return p.TEE == TEETypeTDX }

func (p Profile) qeID() string {
	if p.tdx() {
		return "TD_QE"
	}
	return "QE"
}

// Core is what the shared DCAP checks established about a quote: every
// signature, chain, CRL and collateral check passed and the QE's TCB level
// is known. TCB level selection and the final status are the TEE package's.
type Core struct {
	Quote *Quote
	// PCK is the PCK certificate's SGX extension; PCKCA "processor" or
	// "platform"; Root the Name of the trust root the chain pinned to.
	PCK   *PCKExtensions
	PCKCA string
	Root  string
	// TCBInfo is the verified TCB Info (SGX or TDX per the Profile).
	TCBInfo *collateral.TCBInfo
	// QEIdentity is the verified QE (or TD_QE) identity and QELevel the
	// level the QE report's ISVSVN selected, whatever its status (a
	// Revoked QE is the callers' to refuse when they merge statuses).
	QEIdentity *collateral.EnclaveIdentity
	QELevel    *collateral.QELevel
	// CollateralExpiry is the earliest nextUpdate / notAfter among the CRLs,
	// the TCB Info, the QE identity and every certificate used; Expired is
	// set when one of them is past at VerifiedAt.
	CollateralExpiry time.Time
	Expired          bool
	firstExpired     time.Time
	VerifiedAt       time.Time
	Bundle           *collateral.Bundle
	Hashes           CollateralHashes
}

// ExpiryError returns the error for expired collateral unless the verifier
// accepts it (Options.AcceptExpiredCollateral), nil otherwise. TEE packages
// call it after their TCB level selection, where QVL reports expiry.
func (v *Verifier) ExpiryError(c *Core) error {
	if c.Expired && !v.acceptExp {
		return invalid(ErrCollateralExpired, "collateral expired at %s (verification time %s)", c.firstExpired.Format(time.RFC3339), c.VerifiedAt.Format(time.RFC3339))
	}
	return nil
}

// WithTCBEvaluationDataNumber fetches TCB Info and QE identity of that
// tcbEvaluationDataNumber (a TCB baseline) from the verifier's collateral
// source; 0 means the source's default. Ignored with WithCollateral.
func WithTCBEvaluationDataNumber(n int) CallOption { return func(o *callOpts) { o.evalNum = n } }

// Core runs the checks SGX and TDX share on q, in QVL's order: PCK chain
// to a pinned root with validity at the verification time; Root CA and PCK
// CRLs (signature, window, revocation); TCB Info and QE identity (signing
// chain, signature over the exact signed bytes, dates, FMSPC and PCE-ID
// match, id per the profile); the QE report's signature by the PCK key and
// its binding of the attestation key; the QE identity match and QE TCB
// level; the quote signature.
//
// Where QVL is lenient this is stricter: certificates must also be past
// notBefore, TCB Info / QE Identity issueDate and CRL thisUpdate must not be
// in the future (ErrCollateralNotYetValid), and an expired certificate is
// never accepted (ErrCertificateExpired), even with AcceptExpiredCollateral.
// Like QVL it compares only report_data[0:32] of the QE report and
// tolerates bytes after the signature data.
//
// On failure it returns nil and a *maaerr.Error (InvalidQuote; InvalidParameter
// for a malformed PCK chain; ServiceUnavailable when collateral could not
// be fetched) wrapping one of the Err* sentinels.
func (v *Verifier) Core(ctx context.Context, q *Quote, prof Profile, opts ...CallOption) (Core, error) {
	var co callOpts
	for _, o := range opts {
		o(&co)
	}
	now := co.at
	if now.IsZero() {
		now = v.now()
	}
	now = now.UTC()
	// PCK chain.
	var chainPEM []byte
	switch {
	case q.CertDataType == CertTypePCKCertChain:
		chainPEM = q.CertData
	case co.pckChain != nil:
		chainPEM = co.pckChain
	default:
		return Core{}, invalid(ErrPCKChainMissing, "certification data type %d carries no PCK chain and none was supplied", q.CertDataType)
	}
	ce := v.chains.getOrCompute(sha256.Sum256(chainPEM), func() chainEntry {
		ders, err := DecodeChain(chainPEM)
		if err != nil {
			return chainEntry{err: err}
		}
		return v.buildPCKChain(ders)
	})
	if ce.err != nil {
		return Core{}, ce.err
	}
	ch := ce.chain
	exp := expiry{t: farFuture}
	for _, c := range ch.certs() {
		if err := certTime(c, now, ErrCertificateExpired); err != nil {
			return Core{}, err
		}
		exp.add(c.NotAfter)
	}

	// Collateral.
	b := co.bundle
	if b == nil {
		if v.src == nil {
			return Core{}, maaerr.Wrap(fmt.Errorf("%w: no collateral source", ErrCollateral), maaerr.Internal, "no collateral source configured")
		}
		var err error
		if prof.tdx() {
			b, err = collateral.GetTDX(ctx, v.src, hex.EncodeToString(ch.ext.FMSPC[:]), ch.ca, co.evalNum)
		} else {
			b, err = collateral.GetSGX(ctx, v.src, hex.EncodeToString(ch.ext.FMSPC[:]), ch.ca, co.evalNum)
		}
		if err != nil {
			if co.evalNum != 0 && errors.Is(err, collateral.ErrNotFound) {
				// A baseline the policy selected must never be silently
				// replaced by another one.
				return Core{}, maaerr.Wrap(fmt.Errorf("%w: %w", ErrCollateral, err), maaerr.InvalidParameter,
					"TCB baseline %d is not available from the collateral service for FMSPC %X", co.evalNum, ch.ext.FMSPC)
			}
			code := maaerr.ServiceUnavailable
			if errors.Is(err, collateral.ErrNotFound) || errors.Is(err, collateral.ErrMalformed) {
				code = maaerr.InvalidQuote
			}
			return Core{}, maaerr.Wrap(fmt.Errorf("%w: %w", ErrCollateral, err), code, "collateral for FMSPC %x unavailable", ch.ext.FMSPC)
		}
	}
	if b.TCBInfo == nil || b.QEIdentity == nil || b.PCKCRL == nil || b.RootCACRL == nil {
		return Core{}, invalid(ErrCollateral, "collateral bundle is incomplete")
	}

	// Root CA CRL, signed by the trusted root.
	rootCRL, err := v.verifiedCRL(b.RootCACRL, ch.trust.Cert, "Root CA")
	if err != nil {
		return Core{}, err
	}
	if err := crlTime(rootCRL.crl, now, &exp); err != nil {
		return Core{}, err
	}
	if rootCRL.revoked(ch.inter.SerialNumber) {
		return Core{}, invalid(ErrCARevoked, "PCK intermediate CA %x is revoked", ch.inter.SerialNumber)
	}

	// PCK CRL, signed by the intermediate of the quote's chain.
	pckCRL, err := v.verifiedCRL(b.PCKCRL, ch.inter, "PCK")
	if err != nil {
		return Core{}, err
	}
	if err := crlTime(pckCRL.crl, now, &exp); err != nil {
		return Core{}, err
	}
	if len(b.PCKCRL.IssuerChain) > 0 {
		if err := v.checkPCKCRLIssuerChain(b.PCKCRL, ch, now, &exp); err != nil {
			return Core{}, err
		}
	}
	if pckCRL.revoked(ch.leaf.SerialNumber) {
		return Core{}, invalid(ErrPCKRevoked, "PCK certificate %x is revoked", ch.leaf.SerialNumber)
	}

	// TCB Info.
	ti, err := v.verifiedSigned(b.TCBInfo, true, prof.tdx())
	if err != nil {
		return Core{}, err
	}
	if err := v.signedChecks(ti, ch.trust, rootCRL, now, &exp); err != nil {
		return Core{}, err
	}
	tcb := ti.tcb
	if tcb.FMSPC != ch.ext.FMSPC {
		return Core{}, invalid(ErrFMSPCMismatch, "PCK FMSPC %x, TCB Info FMSPC %x", ch.ext.FMSPC, tcb.FMSPC)
	}
	if tcb.PCEID != ch.ext.PCEID {
		return Core{}, invalid(ErrPCEIDMismatch, "PCK PCE-ID %x, TCB Info PCE-ID %x", ch.ext.PCEID, tcb.PCEID)
	}

	// QE Identity.
	qi, err := v.verifiedSigned(b.QEIdentity, false, prof.tdx())
	if err != nil {
		return Core{}, err
	}
	if err := v.signedChecks(qi, ch.trust, rootCRL, now, &exp); err != nil {
		return Core{}, err
	}
	qe := qi.qe
	if qe.ID != prof.qeID() {
		return Core{}, invalid(ErrQEIdentity, "enclave identity id %q is not %s", qe.ID, prof.qeID())
	}

	// QE report signature by the PCK key (QVL 4.1.2.4.12).
	qeRaw := q.QEReport.raw
	if !verifyRS(ch.leafKey, qeRaw[:], q.QEReportSignature[:]) {
		return Core{}, invalid(ErrQEReportSignature, "QE report signature does not verify with the PCK key")
	}
	// QE report data binds the attestation key and auth data (4.1.2.4.13).
	hsh := sha256.New()
	hsh.Write(q.AttestationKey[:])
	hsh.Write(q.QEAuthData)
	var bind [32]byte
	hsh.Sum(bind[:0])
	if !bytes.Equal(bind[:], q.QEReport.ReportData[:32]) {
		return Core{}, invalid(ErrQEReportData, "QE report data is not SHA-256(attestation key || QE auth data)")
	}
	// QE identity (4.1.2.4.15).
	if err := matchQEIdentity(&q.QEReport, qe); err != nil {
		return Core{}, err
	}
	qeLevel := -1
	for i := range qe.Levels {
		if qe.Levels[i].ISVSVN <= q.QEReport.ISVSVN {
			qeLevel = i
			break
		}
	}
	if qeLevel < 0 {
		return Core{}, invalid(ErrQETCBNotSupported, "QE ISVSVN %d is below every QE Identity level", q.QEReport.ISVSVN)
	}

	// Quote signature by the attestation key (4.1.2.4.16).
	attKey, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, q.AttestationKey[:]...))
	if err != nil {
		return Core{}, invalid(ErrAttestationKey, "attestation key is not a P-256 point")
	}
	if !verifyRS(attKey, q.SignedData(), q.Signature[:]) {
		return Core{}, invalid(ErrQuoteSignature, "quote signature does not verify with the attestation key")
	}

	hashed := co.hashed
	if hashed == nil {
		hashed = q.raw
	}
	return Core{
		Quote: q, PCK: ch.ext, PCKCA: ch.ca, Root: ch.trust.Name,
		TCBInfo: tcb, QEIdentity: qe, QELevel: &qe.Levels[qeLevel],
		CollateralExpiry: exp.t, Expired: exp.expired, firstExpired: exp.firstExpired,
		VerifiedAt: now, Bundle: b,
		Hashes: CollateralHashes{
			Quote:        sha256.Sum256(hashed),
			TCBInfo:      b.TCBInfo.BodyHash,
			TCBInfoCerts: b.TCBInfo.ChainHash,
			TCBInfoCRL:   b.RootCACRL.BodyHash,
			QEID:         b.QEIdentity.BodyHash,
			QEIDCerts:    b.QEIdentity.ChainHash,
			QEIDCRL:      b.RootCACRL.BodyHash,
			PCKCRL:       b.PCKCRL.BodyHash,
		},
	}, nil
}

// Claims returns the x-ms-sgx-collateral object (lower-case hex digests).
func (h CollateralHashes) Claims() map[string]any {
	return map[string]any{
		"qeidcertshash":    hex.EncodeToString(h.QEIDCerts[:]),
		"qeidcrlhash":      hex.EncodeToString(h.QEIDCRL[:]),
		"qeidhash":         hex.EncodeToString(h.QEID[:]),
		"quotehash":        hex.EncodeToString(h.Quote[:]),
		"tcbinfocertshash": hex.EncodeToString(h.TCBInfoCerts[:]),
		"tcbinfocrlhash":   hex.EncodeToString(h.TCBInfoCRL[:]),
		"tcbinfohash":      hex.EncodeToString(h.TCBInfo[:]),
	}
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// expiry tracks the earliest expiry and whether any collateral expired.
type expiry struct {
	t            time.Time
	expired      bool
	firstExpired time.Time
}

func (e *expiry) add(t time.Time) {
	if t.Before(e.t) {
		e.t = t
	}
}

func (e *expiry) collateral(next, now time.Time) {
	e.add(next)
	if now.After(next) {
		if !e.expired || next.Before(e.firstExpired) {
			e.firstExpired = next
		}
		e.expired = true
	}
}

func certTime(c *x509.Certificate, now time.Time, sentinel error) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return invalid(sentinel, "certificate %q is valid %s to %s, not at %s", c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return nil
}

func crlTime(crl *x509.RevocationList, now time.Time, exp *expiry) error {
	if now.Before(crl.ThisUpdate) {
		return invalid(ErrCollateralNotYetValid, "CRL of %q is valid from %s", crl.Issuer.CommonName, crl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	exp.collateral(crl.NextUpdate.UTC(), now)
	return nil
}

// VerifyRS verifies an r||s ECDSA signature over SHA-256(msg).
func VerifyRS(pub *ecdsa.PublicKey, msg, sig []byte) bool { return verifyRS(pub, msg, sig) }

func verifyRS(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	d := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	return ecdsa.Verify(pub, d[:], r, s)
}

// SGXLevelMatches reports whether the PCK's 16 SGX components and PCESVN
// are each at least level l's (QVL's SGX part of TCB level selection).
func SGXLevelMatches(l *collateral.TCBLevel, x *PCKExtensions) bool {
	for i := 0; i < 16; i++ {
		if x.TCBComponents[i] < l.SGXComponents[i] {
			return false
		}
	}
	return x.PCESVN >= l.PCESVN
}

// MergeStatus is QVL's convergeTcbStatusWithQeTcbStatus, also used for
// convergeTcbStatusWithTdxModuleStatus: Revoked wins, an UpToDate other
// leaves platform as is, and any other status of other makes an up-to-date
// platform OutOfDate (OutOfDateConfigurationNeeded when configuration is
// needed).
func MergeStatus(platform, other TCBStatus) TCBStatus {
	qe := other
	switch qe {
	case collateral.Revoked:
		return collateral.Revoked
	case collateral.UpToDate:
		return platform
	}
	// QE out of date (any other QE status counts as out of date).
	switch platform {
	case collateral.UpToDate, collateral.SWHardeningNeeded:
		return collateral.OutOfDate
	case collateral.ConfigurationNeeded, collateral.ConfigurationAndSWHardeningNeeded:
		return collateral.OutOfDateConfigurationNeeded
	}
	return platform
}

// UnionIDs returns the advisory IDs of a then b, each once, in order.
func UnionIDs(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	seen := make(map[string]bool, len(a)+len(b))
	for _, s := range append(a[:len(a):len(a)], b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func matchQEIdentity(r *ReportBody, id *collateral.EnclaveIdentity) error {
	var ms [4]byte
	ms[0], ms[1], ms[2], ms[3] = byte(r.MiscSelect), byte(r.MiscSelect>>8), byte(r.MiscSelect>>16), byte(r.MiscSelect>>24)
	for i := range ms {
		if ms[i]&id.MiscSelectMask[i] != id.MiscSelect[i] {
			return invalid(ErrQEIdentityMismatch, "QE MISCSELECT %x does not match %x under mask %x", ms, id.MiscSelect, id.MiscSelectMask)
		}
	}
	for i := range r.Attributes {
		if r.Attributes[i]&id.AttributesMask[i] != id.Attributes[i] {
			return invalid(ErrQEIdentityMismatch, "QE ATTRIBUTES %x do not match %x under mask %x", r.Attributes, id.Attributes, id.AttributesMask)
		}
	}
	if r.MRSigner != id.MRSigner {
		return invalid(ErrQEIdentityMismatch, "QE MRSIGNER %x is not %x", r.MRSigner, id.MRSigner)
	}
	if r.ISVProdID != id.ISVProdID {
		return invalid(ErrQEIdentityMismatch, "QE ISVPRODID %d is not %d", r.ISVProdID, id.ISVProdID)
	}
	return nil
}

// ---- PCK chain ----

type pckChain struct {
	leaf, inter, root *x509.Certificate
	trust             TrustRoot
	leafKey           *ecdsa.PublicKey
	ext               *PCKExtensions
	ca                string
	interHash         [32]byte
}

func (c *pckChain) certs() [3]*x509.Certificate { return [3]*x509.Certificate{c.leaf, c.inter, c.root} }

type chainEntry struct {
	chain *pckChain
	err   error
}

// BuildPCKChain does the time-independent PCK chain checks on DER
// certificates (parse, roles, issuers, signatures, root pin, profile, SGX
// extension) and returns the PCK extensions. It returns an InvalidQuote
// *maaerr.Error wrapping ErrPCKChain or ErrUntrustedRoot on failure.
func (v *Verifier) BuildPCKChain(ders [][]byte) (*PCKExtensions, error) {
	e := v.buildPCKChain(ders)
	if e.err != nil {
		return nil, e.err
	}
	return e.chain.ext, nil
}

func (v *Verifier) buildPCKChain(ders [][]byte) chainEntry {
	fail := func(format string, args ...any) chainEntry {
		return chainEntry{err: invalid(ErrPCKChain, format, args...)}
	}
	if len(ders) != 3 {
		return fail("PCK chain has %d certificates, want 3", len(ders))
	}
	ch := &pckChain{}
	for _, d := range ders {
		c, err := v.parseCert(d)
		if err != nil {
			return fail("PCK chain certificate: %v", err)
		}
		cn := c.Subject.CommonName
		switch {
		case strings.Contains(cn, "SGX PCK Certificate") && ch.leaf == nil:
			ch.leaf = c
		case strings.Contains(cn, "SGX Root CA") && ch.root == nil:
			ch.root = c
		case strings.Contains(cn, "CA") && ch.inter == nil:
			ch.inter = c
		default:
			return fail("unexpected certificate %q in PCK chain", cn)
		}
	}
	if ch.leaf == nil || ch.inter == nil || ch.root == nil {
		return fail("PCK chain lacks a leaf, intermediate or root")
	}
	trust, err := v.pin(ch.root)
	if err != nil {
		return chainEntry{err: err}
	}
	ch.trust = trust
	if err := v.checkRoot(ch.root); err != nil {
		return fail("root: %v", err)
	}
	if err := checkCA(ch.inter, ch.root); err != nil {
		return fail("intermediate: %v", err)
	}
	if err := checkLeaf(ch.leaf, ch.inter); err != nil {
		return fail("PCK certificate: %v", err)
	}
	switch cn := ch.inter.Subject.CommonName; {
	case strings.Contains(cn, "Processor"):
		ch.ca = collateral.CAProcessor
	case strings.Contains(cn, "Platform"):
		ch.ca = collateral.CAPlatform
	default:
		return fail("intermediate %q is neither the Processor nor the Platform CA", cn)
	}
	ch.leafKey = ch.leaf.PublicKey.(*ecdsa.PublicKey)
	ext, err := PCKExtensionsFromCertificate(ch.leaf)
	if err != nil {
		return chainEntry{err: err}
	}
	ch.ext = ext
	ch.interHash = sha256.Sum256(ch.inter.Raw)
	return chainEntry{chain: ch}
}

// pin returns the trust root whose public key root carries. It also checks
// that root is self-issued and self-signed (once, at construction, for a
// certificate byte-identical to the pinned one).
func (v *Verifier) pin(root *x509.Certificate) (TrustRoot, error) {
	if !bytes.Equal(root.RawIssuer, root.RawSubject) {
		return TrustRoot{}, invalid(ErrUntrustedRoot, "root %q is not self-issued", root.Subject.CommonName)
	}
	for _, t := range v.roots {
		if bytes.Equal(root.RawSubjectPublicKeyInfo, t.Cert.RawSubjectPublicKeyInfo) {
			if !v.pinnedCopy(root) {
				if err := root.CheckSignature(root.SignatureAlgorithm, root.RawTBSCertificate, root.Signature); err != nil {
					return TrustRoot{}, invalid(ErrUntrustedRoot, "root self-signature: %v", err)
				}
			}
			return t, nil
		}
	}
	return TrustRoot{}, invalid(ErrUntrustedRoot, "root %q (key %x…) is not a trusted root", root.Subject.CommonName, sha256.Sum256(root.RawSubjectPublicKeyInfo))
}

// pinnedCopy reports whether c is byte for byte a pinned root whose
// self-signature verified at construction.
func (v *Verifier) pinnedCopy(c *x509.Certificate) bool {
	for i, t := range v.roots {
		if v.selfSigned[i] && bytes.Equal(c.Raw, t.Cert.Raw) {
			return true
		}
	}
	return false
}

// checkRoot is checkCA for a self-issued root; its self-signature was
// verified by pin (or at construction for a pinned copy), so it is not
// verified again.
func (v *Verifier) checkRoot(root *x509.Certificate) error {
	return checkCertCA(root, root, false)
}

func p256Key(c *x509.Certificate) error {
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return errors.New("key is not ECDSA P-256")
	}
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		return fmt.Errorf("signature algorithm %v is not ECDSA-SHA256", c.SignatureAlgorithm)
	}
	return nil
}

func checkCA(c, parent *x509.Certificate) error { return checkCertCA(c, parent, true) }

// checkCertCA checks a CA certificate: P-256 key, basic constraints, key
// usage, issuer, key identifiers, and (when sig) its signature by parent.
func checkCertCA(c, parent *x509.Certificate, sig bool) error {
	if err := p256Key(c); err != nil {
		return err
	}
	if !c.BasicConstraintsValid || !c.IsCA {
		return errors.New("not a CA (basic constraints)")
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return errors.New("key usage lacks certSign or cRLSign")
	}
	if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
		return errors.New("issuer is not the parent's subject")
	}
	if len(c.SubjectKeyId) == 0 || (c != parent && len(c.AuthorityKeyId) == 0) {
		return errors.New("missing key identifiers")
	}
	if !sig {
		return nil
	}
	if err := c.CheckSignatureFrom(parent); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

func checkLeaf(c, parent *x509.Certificate) error {
	if err := p256Key(c); err != nil {
		return err
	}
	if !c.BasicConstraintsValid || c.IsCA {
		return errors.New("basic constraints missing or CA")
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("key usage lacks digitalSignature")
	}
	if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
		return errors.New("issuer is not the parent's subject")
	}
	if err := c.CheckSignatureFrom(parent); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// ---- CRLs ----

type crlKey struct {
	body   [32]byte
	issuer [32]byte
}

type crlEntry struct {
	crl     *x509.RevocationList
	serials map[string]struct{}
	err     error
}

func (e *crlEntry) revoked(serial *big.Int) bool {
	_, ok := e.serials[string(serial.Bytes())]
	return ok
}

// VerifiedCRL parses a CRL item and checks its issuer, required
// extensions and signature by issuer; the result is cached by content. It
// returns an InvalidQuote *maaerr.Error on failure.
func (v *Verifier) VerifiedCRL(it *collateral.Item, issuer *x509.Certificate, name string) (*x509.RevocationList, error) {
	e, err := v.verifiedCRL(it, issuer, name)
	if err != nil {
		return nil, err
	}
	return e.crl, nil
}

func (v *Verifier) verifiedCRL(it *collateral.Item, issuer *x509.Certificate, name string) (*crlEntry, error) {
	k := crlKey{body: it.BodyHash, issuer: sha256.Sum256(issuer.RawSubjectPublicKeyInfo)}
	e := v.crls.getOrCompute(k, func() crlEntry {
		fail := func(format string, args ...any) crlEntry {
			return crlEntry{err: invalid(ErrCRL, name+" CRL: "+format, args...)}
		}
		crl, err := it.ParsedCRL()
		if err != nil {
			return fail("%v", err)
		}
		if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
			return fail("issuer %q is not %q", crl.Issuer.CommonName, issuer.Subject.CommonName)
		}
		if crl.Number == nil || len(crl.AuthorityKeyId) == 0 {
			return fail("CRL Number or Authority Key Identifier missing")
		}
		if err := crl.CheckSignatureFrom(issuer); err != nil {
			return fail("signature: %v", err)
		}
		s := make(map[string]struct{}, len(crl.RevokedCertificateEntries))
		for _, r := range crl.RevokedCertificateEntries {
			s[string(r.SerialNumber.Bytes())] = struct{}{}
		}
		return crlEntry{crl: crl, serials: s}
	})
	if e.err != nil {
		return nil, e.err
	}
	return &e, nil
}

// checkPCKCRLIssuerChain checks that the PCK CRL issuer chain is the quote's
// intermediate followed by a root with the same key.
func (v *Verifier) checkPCKCRLIssuerChain(it *collateral.Item, ch *pckChain, now time.Time, exp *expiry) error {
	var k [64]byte
	copy(k[:32], it.ChainHash[:])
	copy(k[32:], ch.interHash[:])
	err := v.issuerOK.getOrCompute(k, func() error {
		ders, err := DecodePEMChain(it.IssuerChain)
		if err != nil || len(ders) != 2 {
			return invalid(ErrCRL, "PCK CRL issuer chain is not two PEM certificates")
		}
		// Intel has re-issued intermediates with the same name and key, so
		// compare those rather than the bytes.
		inter, err := v.parseCert(ders[0])
		if err != nil || !bytes.Equal(inter.RawSubject, ch.inter.RawSubject) ||
			!bytes.Equal(inter.RawSubjectPublicKeyInfo, ch.inter.RawSubjectPublicKeyInfo) {
			return invalid(ErrCRL, "PCK CRL issuer chain does not start with the quote's intermediate CA")
		}
		root, err := v.parseCert(ders[1])
		if err != nil || !bytes.Equal(root.RawSubjectPublicKeyInfo, ch.trust.Cert.RawSubjectPublicKeyInfo) {
			return invalid(ErrCRL, "PCK CRL issuer chain root is not the trusted root")
		}
		return nil
	})
	return err
}

// ---- signed JSON collateral ----

type signedKey struct {
	body, chain [32]byte
	tdx         bool
}

type signedEntry struct {
	tcb    *collateral.TCBInfo
	qe     *collateral.EnclaveIdentity
	signer *x509.Certificate
	root   *x509.Certificate
	err    error
	issue  time.Time
	next   time.Time
}

// VerifiedTCBInfo parses and verifies (signing chain to a pinned root,
// signature) a TCB Info item, the TDX one when tdx; the result is cached by
// content. Time-dependent checks are Core's. It returns an InvalidQuote
// *maaerr.Error on failure.
func (v *Verifier) VerifiedTCBInfo(it *collateral.Item, tdx bool) (*collateral.TCBInfo, error) {
	e, err := v.verifiedSigned(it, true, tdx)
	if err != nil {
		return nil, err
	}
	return e.tcb, nil
}

func (v *Verifier) verifiedSigned(it *collateral.Item, isTCB, tdx bool) (*signedEntry, error) {
	e := v.signed.getOrCompute(signedKey{it.BodyHash, it.ChainHash, isTCB && tdx}, func() signedEntry {
		var e signedEntry
		var body []byte
		var sig []byte
		sigErr := ErrQEIdentitySignature
		if isTCB {
			sigErr = ErrTCBInfoSignature
			// Parsed once per fetched item; the signature is checked
			// here, by every verifier, on the parsed body.
			t, err := it.ParsedTCBInfo(tdx)
			if err != nil {
				return signedEntry{err: invalid(ErrTCBInfo, "%v", err)}
			}
			e.tcb, body, sig, e.issue, e.next = t, t.Body, t.Signature[:], t.IssueDate, t.NextUpdate
		} else {
			q, err := it.ParsedEnclaveIdentity()
			if err != nil {
				return signedEntry{err: invalid(ErrQEIdentity, "%v", err)}
			}
			e.qe, body, sig, e.issue, e.next = q, q.Body, q.Signature[:], q.IssueDate, q.NextUpdate
		}
		signer, root, err := v.cachedSigningChain(it)
		if err != nil {
			return signedEntry{err: err}
		}
		if !verifyRS(signer.PublicKey.(*ecdsa.PublicKey), body, sig) {
			return signedEntry{err: invalid(sigErr, "signature does not verify with the TCB Signing key")}
		}
		e.signer, e.root = signer, root
		return e
	})
	if e.err != nil {
		return nil, e.err
	}
	return &e, nil
}

// cachedSigningChain is signingChain of it's issuer chain, checked once per
// distinct chain (TCB Info and QE Identity carry the same one).
func (v *Verifier) cachedSigningChain(it *collateral.Item) (signer, root *x509.Certificate, err error) {
	// Hashed here rather than trusting it.ChainHash: an Item built by hand
	// may not carry it, and the chain is small.
	e := v.signers.getOrCompute(sha256.Sum256(it.IssuerChain), func() signerEntry {
		s, r, err := v.signingChain(it.IssuerChain)
		return signerEntry{s, r, err}
	})
	return e.signer, e.root, e.err
}

// signingChain parses and checks a TCB Signing issuer chain (signer, root):
// roles, root pinned to a trusted root, profile, signature.
func (v *Verifier) signingChain(chain []byte) (signer, root *x509.Certificate, err error) {
	ders, err := DecodePEMChain(chain)
	if err != nil || len(ders) != 2 {
		return nil, nil, invalid(ErrTCBSigningChain, "issuer chain is not two PEM certificates")
	}
	signer, err1 := v.parseCert(ders[0])
	root, err2 := v.parseCert(ders[1])
	if err1 != nil || err2 != nil {
		return nil, nil, invalid(ErrTCBSigningChain, "issuer chain certificate does not parse")
	}
	if !strings.Contains(signer.Subject.CommonName, "SGX TCB Signing") {
		return nil, nil, invalid(ErrTCBSigningChain, "signer %q is not the TCB Signing certificate", signer.Subject.CommonName)
	}
	if _, err := v.pin(root); err != nil {
		return nil, nil, invalid(ErrTCBSigningChain, "%v", err)
	}
	if err := v.checkRoot(root); err != nil {
		return nil, nil, invalid(ErrTCBSigningChain, "root: %v", err)
	}
	if err := checkLeaf(signer, root); err != nil {
		return nil, nil, invalid(ErrTCBSigningChain, "TCB Signing certificate: %v", err)
	}
	return signer, root, nil
}

// VerifyTCBEvalNums parses Intel's signed list of TCB evaluation data
// numbers for tee (TEETypeSGX or TEETypeTDX) and verifies it at at: id,
// TCB Signing chain to a pinned root, signature, certificate validity,
// issueDate and nextUpdate (an expired list is accepted only with
// AcceptExpiredCollateral). It returns an InvalidQuote *maaerr.Error
// wrapping ErrTCBInfo, ErrTCBSigningChain, ErrTCBInfoSignature,
// ErrCertificateExpired, ErrCollateralNotYetValid or ErrCollateralExpired.
func (v *Verifier) VerifyTCBEvalNums(it *collateral.Item, tee uint32, at time.Time) (*collateral.TCBEvalNums, error) {
	e, err := collateral.ParseTCBEvalNums(it.Body)
	if err != nil {
		return nil, invalid(ErrTCBInfo, "TCB evaluation data numbers: %v", err)
	}
	want := "SGX"
	if tee == TEETypeTDX {
		want = "TDX"
	}
	if e.ID != want {
		return nil, invalid(ErrTCBInfo, "TCB evaluation data numbers are for %s, not %s", e.ID, want)
	}
	signer, root, err := v.cachedSigningChain(it)
	if err != nil {
		return nil, err
	}
	if !verifyRS(signer.PublicKey.(*ecdsa.PublicKey), e.Body, e.Signature[:]) {
		return nil, invalid(ErrTCBInfoSignature, "TCB evaluation data numbers signature does not verify with the TCB Signing key")
	}
	at = at.UTC()
	for _, c := range []*x509.Certificate{signer, root} {
		if err := certTime(c, at, ErrCertificateExpired); err != nil {
			return nil, err
		}
	}
	if at.Before(e.IssueDate) {
		return nil, invalid(ErrCollateralNotYetValid, "TCB evaluation data numbers issued at %s, after %s", e.IssueDate.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	if at.After(e.NextUpdate) && !v.acceptExp {
		return nil, invalid(ErrCollateralExpired, "TCB evaluation data numbers expired at %s (verification time %s)", e.NextUpdate.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	return e, nil
}

// Now returns the verifier's clock reading.
func (v *Verifier) Now() time.Time { return v.now() }

// signedChecks are the per-call, time-dependent checks of a verified TCB
// Info or QE Identity: the signing chain's validity and revocation by the
// Root CA CRL, the root being the PCK chain's, issueDate and nextUpdate.
func (v *Verifier) signedChecks(e *signedEntry, trust TrustRoot, rootCRL *crlEntry, now time.Time, exp *expiry) error {
	if !bytes.Equal(e.root.RawSubjectPublicKeyInfo, trust.Cert.RawSubjectPublicKeyInfo) {
		return invalid(ErrTCBSigningChain, "signing chain root is not the PCK chain's root")
	}
	for _, c := range []*x509.Certificate{e.signer, e.root} {
		if err := certTime(c, now, ErrCertificateExpired); err != nil {
			return err
		}
		exp.add(c.NotAfter)
	}
	if rootCRL.revoked(e.signer.SerialNumber) {
		return invalid(ErrCARevoked, "TCB Signing certificate %x is revoked", e.signer.SerialNumber)
	}
	if now.Before(e.issue) {
		return invalid(ErrCollateralNotYetValid, "issued at %s, after the verification time", e.issue.Format(time.RFC3339))
	}
	exp.collateral(e.next, now)
	return nil
}

// ---- bounded cache ----

type boundedMap[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]V
	max int
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{m: make(map[K]V), max: max}
}

// getOrCompute returns the cached value for k or computes and stores it.
// Computation happens outside the lock; a concurrent duplicate is harmless
// because values are pure functions of k.
func (b *boundedMap[K, V]) getOrCompute(k K, f func() V) V {
	b.mu.Lock()
	v, ok := b.m[k]
	b.mu.Unlock()
	if ok {
		return v
	}
	v = f()
	b.mu.Lock()
	if len(b.m) >= b.max {
		clear(b.m)
	}
	b.m[k] = v
	b.mu.Unlock()
	return v
}
