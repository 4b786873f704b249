package sevsnp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// CRLMode says how revocation is checked.
type CRLMode string

// CRL modes. Soft (the default) fails open when the CRL cannot be fetched
// and closed when a key is revoked; Hard fails closed on both.
const (
	CRLOff  CRLMode = "off"
	CRLSoft CRLMode = "soft"
	CRLHard CRLMode = "hard"
)

// CRL results reported in x-maat-sevsnpvm-crl.
const (
	CRLChecked     = "checked"
	CRLUnavailable = "unavailable"
	CRLNotChecked  = "off"
)

// CertQuery identifies one VCEK: it is immutable per (product, chip, TCB).
type CertQuery struct {
	Product Product
	// ChipID is the report's CHIP_ID (64 bytes; KDS takes only the first 8
	// for Turin).
	ChipID []byte
	// TCB is REPORTED_TCB decomposed by the product's layout.
	TCB TCB
	// ReportedTCB is REPORTED_TCB as its 8 bytes (THIM indexes by it).
	ReportedTCB [8]byte
}

// Collateral supplies what the evidence does not carry: VCEKs (VLEKs are
// issued to cloud providers and cannot be fetched by chip ID) and AMD's CRLs.
// internal/collateral/amd implements it over AMD KDS, Azure THIM and a
// local directory.
type Collateral interface {
	// VCEK returns the VCEK (DER or PEM) for q.
	VCEK(ctx context.Context, q CertQuery) ([]byte, error)
	// CRL returns the DER CRL AMD's ARK signs for the product's VCEK or
	// VLEK intermediates.
	CRL(ctx context.Context, p Product, k SigningKey) ([]byte, error)
}

// Options configure a Verifier. NewVerifier copies them; they are never
// modified. Start from DefaultOptions.
type Options struct {
	// Roots replaces the embedded AMD roots per product (tests with a test
	// PKI). Nil means AMDRoots for every product.
	Roots map[Product]*Roots
	// OnlyRoots makes Roots the only trust anchors: a product without an
	// entry then trusts no ARK at all, not AMD's. The simulated-evidence
	// verifier of a development server uses it so that the development ARK
	// is trusted alone and never next to AMD's.
	OnlyRoots bool
	// Now is the verification clock; nil means time.Now. Pin it in tests.
	Now func() time.Time
	// Collateral supplies a VCEK when the evidence carries none, and CRLs.
	// Nil means the evidence must carry its VCEK and CRLs are not checked.
	Collateral Collateral
	// CRL is the revocation mode; "" means CRLSoft (with no Collateral, no
	// CRL can be had: the result is then "unavailable" in soft mode and an
	// error in hard mode).
	CRL CRLMode
	// MinimumTCB is the lowest accepted REPORTED_TCB per product, each
	// component compared separately. A product without an entry has no
	// minimum.
	MinimumTCB map[Product]TCB
	// AllowBelowMinimum lets reports below MinimumTCB through with
	// x-maat-sevsnpvm-tcb-status BelowMinimum (policies decide); false
	// rejects them with InvalidParameter before the policy runs.
	AllowBelowMinimum bool
	// UVMIssuers are the trusted UVM endorsement issuers (did:x509 and feed).
	// Empty means UVM endorsements are not evaluated.
	UVMIssuers []UVMIssuer
	// CompliantCVM, when set, yields x-ms-compliance-status
	// azure-compliant-cvm for reports that match it.
	CompliantCVM *CVMCompliance
	// AcceptHCLReport lets the request's "report" be a raw Azure HCL report
	// (signature HCLA) instead of the {"SnpReport", …} JSON: its SNP report
	// is verified (the VCEK comes from Collateral), it must be the
	// paravisor's (VMPL 0), and its runtime claims must be bound to
	// REPORT_DATA by the header's hash; they become x-ms-runtime (contract
	// §3.1 variant b). False refuses such reports with a message naming
	// the switch.
	AcceptHCLReport bool
	// CacheEntries bounds the verified-chain cache; 0 means 1024.
	CacheEntries int
	// Logger receives soft CRL failures (at debug level: every token records
	// them in x-maat-sevsnpvm-crl); nil means slog.Default().
	Logger *slog.Logger
}

// DefaultOptions returns the production defaults: AMD's roots, the wall
// clock, no collateral source, soft CRL checking, no minimum TCB, no UVM
// issuers.
func DefaultOptions() Options { return Options{CRL: CRLSoft} }

// CVMCompliance are the reference values an Azure-style CVM must match for
// azure-compliant-cvm (decision D6): MAA's own judgement is not public.
type CVMCompliance struct {
	// IDKeyDigests are the accepted ID_KEY_DIGEST values (any one matches).
	IDKeyDigests [][48]byte
	// MinimumTCB per product (REPORTED_TCB, component-wise).
	MinimumTCB map[Product]TCB
	// MinimumGuestSVN is the lowest accepted GUEST_SVN.
	MinimumGuestSVN uint32
}

// Verifier verifies SEV-SNP reports and, through Verify, the SevSnpVm
// evidence of MAA's API. It is safe for concurrent use; it caches verified
// certificate chains by content hash, never per-call state.
type Verifier struct {
	roots  map[Product]*Roots
	now    func() time.Time
	coll   Collateral
	crl    CRLMode
	minTCB map[Product]TCB
	allowB bool
	uvm    []UVMIssuer
	cvm    *CVMCompliance
	hcl    bool
	log    *slog.Logger

	mu     sync.Mutex
	chains map[[32]byte]*chainEntry
	order  [][32]byte
	max    int
}

// NewVerifier returns a verifier with a copy of opts. It returns an error
// for an unknown CRL mode or an invalid UVM issuer.
func NewVerifier(opts Options) (*Verifier, error) {
	v := &Verifier{now: opts.Now, coll: opts.Collateral, crl: opts.CRL, allowB: opts.AllowBelowMinimum, hcl: opts.AcceptHCLReport, log: opts.Logger, max: opts.CacheEntries}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.max <= 0 {
		v.max = 1024
	}
	switch v.crl {
	case "":
		v.crl = CRLSoft
	case CRLOff, CRLSoft, CRLHard:
	default:
		return nil, fmt.Errorf("sevsnp: CRL mode %q, want off, soft or hard", opts.CRL)
	}
	v.roots = map[Product]*Roots{}
	if !opts.OnlyRoots {
		for _, p := range Products() {
			v.roots[p] = AMDRoots(p)
		}
	}
	for p, r := range opts.Roots {
		if r == nil || r.ARK == nil {
			return nil, fmt.Errorf("sevsnp: roots for %s have no ARK", p)
		}
		v.roots[p] = r
	}
	v.minTCB = map[Product]TCB{}
	for p, t := range opts.MinimumTCB {
		v.minTCB[p] = t
	}
	for _, u := range opts.UVMIssuers {
		if _, err := parseDIDX509(u.DID); err != nil {
			return nil, fmt.Errorf("sevsnp: UVM issuer: %w", err)
		}
	}
	v.uvm = slices.Clone(opts.UVMIssuers)
	if opts.CompliantCVM != nil {
		if len(opts.CompliantCVM.IDKeyDigests) == 0 {
			return nil, fmt.Errorf("sevsnp: CompliantCVM needs at least one ID-key digest")
		}
		c := *opts.CompliantCVM
		c.IDKeyDigests = slices.Clone(c.IDKeyDigests)
		m := map[Product]TCB{}
		for p, t := range c.MinimumTCB {
			m[p] = t
		}
		c.MinimumTCB = m
		v.cvm = &c
	}
	v.chains = map[[32]byte]*chainEntry{}
	return v, nil
}

// Result is what a successful verification established about a report.
type Result struct {
	Report     *Report
	Product    Product
	SigningKey SigningKey
	// ReportedTCB, CurrentTCB, CommittedTCB, LaunchTCB decomposed by the
	// product's layout.
	ReportedTCB, CurrentTCB, CommittedTCB, LaunchTCB TCB
	// Leaf is the VCEK or VLEK that signed the report.
	Leaf *x509.Certificate
	// LeafFetched: the leaf came from the collateral source, not the evidence.
	LeafFetched bool
	// CRL is CRLChecked, CRLUnavailable or CRLNotChecked.
	CRL string
	// TCBStatus is TCBUpToDate, TCBBelowMinimum or TCBNoMinimum.
	TCBStatus string
	// MinimumTCB is the configured minimum for the product, if any.
	MinimumTCB *TCB
}

// TCB status values (x-maat-sevsnpvm-tcb-status).
const (
	TCBUpToDate     = "UpToDate"
	TCBBelowMinimum = "BelowMinimum"
	TCBNoMinimum    = "NoMinimum"
)

type chainEntry struct {
	product Product
	key     SigningKey
	leaf    *x509.Certificate
	pub     *ecdsa.PublicKey
	ext     *LeafExtensions
	inter   *x509.Certificate
	// certs whose validity is checked on every use (leaf, intermediate, ARK).
	certs []*x509.Certificate
}

// VerifyReport verifies a parsed report against the PEM chain (nil or
// empty: the verifier's collateral source supplies the VCEK) at the
// verifier's clock: product detection, chain to the pinned ARK, VCEK
// extensions against REPORTED_TCB and CHIP_ID, the report signature, CRL per
// the mode, and the minimum TCB (without rejecting: see Verify). It returns
// a *maaerr.Error on failure.
func (v *Verifier) VerifyReport(ctx context.Context, r *Report, chainPEM []byte) (*Result, error) {
	res, err := v.verifyReport(ctx, r, chainPEM, v.now())
	return res, toMaa(err)
}

func (v *Verifier) verifyReport(ctx context.Context, r *Report, chainPEM []byte, at time.Time) (*Result, error) {
	key := r.SigningKey()
	if key != SigningKeyVCEK && key != SigningKeyVLEK {
		return nil, fmt.Errorf("%w: report SIGNING_KEY is %s, want vcek or vlek", ErrUnsupportedReport, key)
	}
	cpuP := r.CPUIDProduct()
	if r.Version >= 3 && cpuP == ProductUnknown {
		return nil, fmt.Errorf("%w: report CPUID family 0x%02x model 0x%02x is not Milan, Genoa or Turin", ErrUnsupportedReport, r.CPUIDFamily, r.CPUIDModel)
	}
	ent, fetched, err := v.chain(ctx, r, cpuP, key, chainPEM)
	if err != nil {
		return nil, err
	}
	for _, c := range ent.certs {
		if at.Before(c.NotBefore) || at.After(c.NotAfter) {
			return nil, fmt.Errorf("%w: %s is valid from %s to %s, verification time is %s", ErrCertificateExpiry, c.Subject.CommonName,
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
	}
	p := ent.product
	res := &Result{
		Report: r, Product: p, SigningKey: key, Leaf: ent.leaf, LeafFetched: fetched,
		ReportedTCB:  DecomposeTCB(p, r.ReportedTCB),
		CurrentTCB:   DecomposeTCB(p, r.CurrentTCB),
		CommittedTCB: DecomposeTCB(p, r.CommittedTCB),
		LaunchTCB:    DecomposeTCB(p, r.LaunchTCB),
	}
	if err := checkLeaf(r, p, key, ent.ext, res.ReportedTCB); err != nil {
		return nil, err
	}
	if err := verifySignature(ent.pub, r); err != nil {
		return nil, err
	}
	res.CRL, err = v.checkCRL(ctx, p, key, ent.inter, at)
	if err != nil {
		return nil, err
	}
	res.TCBStatus = TCBNoMinimum
	if m, ok := v.minTCB[p]; ok {
		res.MinimumTCB = &m
		res.TCBStatus = TCBUpToDate
		if _, below := belowTCB(res.ReportedTCB, m); below {
			res.TCBStatus = TCBBelowMinimum
		}
	}
	return res, nil
}

// belowTCB names the first component of t below min.
func belowTCB(t, min TCB) (string, bool) {
	switch {
	case t.FMC < min.FMC:
		return fmt.Sprintf("fmc %d < %d", t.FMC, min.FMC), true
	case t.Bootloader < min.Bootloader:
		return fmt.Sprintf("bootloader %d < %d", t.Bootloader, min.Bootloader), true
	case t.TEE < min.TEE:
		return fmt.Sprintf("tee %d < %d", t.TEE, min.TEE), true
	case t.SNP < min.SNP:
		return fmt.Sprintf("snp %d < %d", t.SNP, min.SNP), true
	case t.Microcode < min.Microcode:
		return fmt.Sprintf("microcode %d < %d", t.Microcode, min.Microcode), true
	}
	return "", false
}

func checkLeaf(r *Report, p Product, key SigningKey, ext *LeafExtensions, tcb TCB) error {
	if np := productOfName(ext.ProductName); ext.ProductName != "" && np != p {
		return fmt.Errorf("%w: the %s certificate is for product %q, the report is from %s", ErrProductMismatch, key, ext.ProductName, p)
	}
	if p == ProductTurin && !ext.HasFMC {
		return fmt.Errorf("%w: the Turin %s certificate has no fmcSPL extension", ErrTCBMismatch, key)
	}
	got := ext.TCB
	if p != ProductTurin {
		got.FMC = 0
	}
	if got != tcb {
		return fmt.Errorf("%w: certificate has %v, REPORTED_TCB has %v", ErrTCBMismatch, got, tcb)
	}
	if key != SigningKeyVCEK || r.ChipIDMasked() {
		return nil
	}
	want := r.ChipID[:]
	if p == ProductTurin && len(ext.HWID) == 8 {
		want = r.ChipID[:8]
	}
	if !bytes.Equal(ext.HWID, want) {
		return fmt.Errorf("%w: certificate hwID starts %x, CHIP_ID starts %x", ErrChipIDMismatch, head(ext.HWID), head(want))
	}
	return nil
}

func head(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

func verifySignature(pub *ecdsa.PublicKey, r *Report) error {
	d := sha512.Sum384(r.Signed())
	rb, sb := leToBig(r.SigR[:]), leToBig(r.SigS[:])
	if !ecdsa.Verify(pub, d[:], rb, sb) {
		return fmt.Errorf("%w: the ECDSA P-384 signature over report bytes [0, 0x2A0) does not verify with the %s key", ErrSignature, r.SigningKey())
	}
	return nil
}

func leToBig(le []byte) *big.Int {
	be := make([]byte, len(le))
	for i, b := range le {
		be[len(le)-1-i] = b
	}
	return new(big.Int).SetBytes(be)
}

// chain returns the verified chain entry for the report: from the cache
// when the same chain bytes were verified before for the same product and
// key, else parsed and verified (PSS signatures ARK→ASK→leaf).
func (v *Verifier) chain(ctx context.Context, r *Report, cpuP Product, key SigningKey, chainPEM []byte) (*chainEntry, bool, error) {
	var ch *Chain
	fetched := false
	if len(bytes.TrimSpace(chainPEM)) > 0 {
		ck := cacheKey(chainPEM, cpuP, key)
		if e := v.cached(ck); e != nil {
			return e, false, nil
		}
		var err error
		ch, err = ParseChain(chainPEM)
		if err != nil {
			return nil, false, err
		}
	} else {
		ch = &Chain{}
	}
	p := cpuP
	if cp := productOfChain(ch); cp != ProductUnknown {
		if p != ProductUnknown && cp != p {
			return nil, false, fmt.Errorf("%w: the report's CPUID says %s, the certificate chain is for %s", ErrProductMismatch, p, cp)
		}
		p = cp
	}
	if p == ProductUnknown && ch.Leaf != nil {
		ext, err := ParseLeafExtensions(ch.Leaf)
		if err != nil {
			return nil, false, err
		}
		p = productOfName(ext.ProductName)
	}
	if ch.Leaf == nil {
		if key == SigningKeyVLEK {
			return nil, false, fmt.Errorf("%w: the report is VLEK-signed and VcekCertChain carries no SEV-VLEK certificate (VLEKs cannot be fetched from AMD KDS)", ErrNoVCEK)
		}
		if v.coll == nil {
			return nil, false, fmt.Errorf("%w: VcekCertChain carries no SEV-VCEK certificate and no collateral source is configured; send the VCEK chain (for example from THIM) with the report", ErrNoVCEK)
		}
		if r.ChipIDMasked() {
			return nil, false, fmt.Errorf("%w: the report masks CHIP_ID, so its VCEK cannot be looked up; send the VCEK with the report", ErrNoVCEK)
		}
		candidates := []Product{p}
		if p == ProductUnknown {
			// A version 1 or 2 report does not name its product; Milan and
			// Genoa made such reports (Turin's are version 5). Ask for
			// each: the source has the VCEK under one of them at most, and
			// the chain check below proves the product.
			candidates = []Product{ProductMilan, ProductGenoa}
		}
		var fc *Chain
		var errs []string
		for _, cp := range candidates {
			q := CertQuery{Product: cp, ChipID: bytes.Clone(r.ChipID[:]), TCB: DecomposeTCB(cp, r.ReportedTCB), ReportedTCB: r.ReportedTCB}
			b, err := v.coll.VCEK(ctx, q)
			if err != nil {
				errs = append(errs, fmt.Sprintf("none for %s chip %x… %v: %v", cp, head(q.ChipID), q.TCB, err))
				continue
			}
			c, err := ParseChain(b)
			if err != nil || c.Leaf == nil {
				errs = append(errs, fmt.Sprintf("no usable VCEK for %s chip %x…", cp, head(q.ChipID)))
				continue
			}
			if ext, err := ParseLeafExtensions(c.Leaf); err == nil && ext.Product() != ProductUnknown && ext.Product() != cp {
				errs = append(errs, fmt.Sprintf("a %s VCEK when asked for %s", ext.Product(), cp))
				continue
			}
			fc, p = c, cp
			break
		}
		if fc == nil {
			return nil, false, fmt.Errorf("%w: VcekCertChain carries no VCEK and the collateral source has %s", ErrNoVCEK, strings.Join(errs, "; "))
		}
		ch.Leaf = fc.Leaf
		fetched = true
		// A fetched VCEK is verified once too: key the cache by the
		// supplied chain plus the fetched leaf.
		if e := v.cached(cacheKey(append(bytes.Clone(chainPEM), fc.Leaf.Raw...), cpuP, key)); e != nil {
			return e, true, nil
		}
	}
	if p == ProductUnknown {
		return nil, false, fmt.Errorf("%w: cannot tell the AMD product of a version %d report from its VCEK chain (issuer %q)", ErrMalformedChain, r.Version, ch.Leaf.Issuer.CommonName)
	}
	wantLeaf := "SEV-VCEK"
	if key == SigningKeyVLEK {
		wantLeaf = "SEV-VLEK"
	}
	if ch.Leaf.Subject.CommonName != wantLeaf {
		return nil, false, fmt.Errorf("%w: the report is signed by its %s but the chain's leaf is %s", ErrChain, key, ch.Leaf.Subject.CommonName)
	}
	roots := v.roots[p]
	if roots == nil || roots.ARK == nil {
		return nil, false, fmt.Errorf("%w: no trusted ARK for %s", ErrUntrustedRoot, p)
	}
	if ch.ARK != nil && !bytes.Equal(ch.ARK.Raw, roots.ARK.Raw) {
		return nil, false, fmt.Errorf("%w: the supplied ARK (subject %q) is not AMD's pinned ARK-%s", ErrUntrustedRoot, ch.ARK.Subject.String(), p)
	}
	inter := ch.Intermediate
	if inter == nil {
		inter = roots.intermediate(key)
		if inter == nil {
			return nil, false, fmt.Errorf("%w: no trusted intermediate for %s %s", ErrUntrustedRoot, p, key)
		}
	} else if err := inter.CheckSignatureFrom(roots.ARK); err != nil {
		return nil, false, fmt.Errorf("%w: the supplied %s is not signed by AMD's ARK-%s: %v", ErrUntrustedRoot, inter.Subject.CommonName, p, err)
	}
	if err := ch.Leaf.CheckSignatureFrom(inter); err != nil {
		return nil, false, fmt.Errorf("%w: the %s certificate is not signed by %s: %v", ErrChain, key, inter.Subject.CommonName, err)
	}
	if ch.Leaf.SignatureAlgorithm != x509.SHA384WithRSAPSS || inter.SignatureAlgorithm != x509.SHA384WithRSAPSS {
		return nil, false, fmt.Errorf("%w: AMD certificates are signed with RSASSA-PSS SHA-384, got %v", ErrChain, ch.Leaf.SignatureAlgorithm)
	}
	pub, ok := ch.Leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return nil, false, fmt.Errorf("%w: the %s key is not ECDSA P-384", ErrChain, key)
	}
	ext, err := ParseLeafExtensions(ch.Leaf)
	if err != nil {
		return nil, false, err
	}
	e := &chainEntry{product: p, key: key, leaf: ch.Leaf, pub: pub, ext: ext, inter: inter, certs: []*x509.Certificate{ch.Leaf, inter, roots.ARK}}
	if fetched {
		v.store(cacheKey(append(bytes.Clone(chainPEM), ch.Leaf.Raw...), cpuP, key), e)
	} else {
		v.store(cacheKey(chainPEM, cpuP, key), e)
	}
	return e, fetched, nil
}

func cacheKey(chain []byte, p Product, k SigningKey) [32]byte {
	h := sha256.New()
	h.Write([]byte(p))
	h.Write([]byte{0, byte(k)})
	h.Write(chain)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func (v *Verifier) cached(k [32]byte) *chainEntry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.chains[k]
}

func (v *Verifier) store(k [32]byte, e *chainEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.chains[k]; ok {
		return
	}
	if len(v.order) >= v.max {
		delete(v.chains, v.order[0])
		v.order = v.order[1:]
	}
	v.chains[k] = e
	v.order = append(v.order, k)
}

// checkCRL checks the intermediate (ASK/ASVK) against the ARK-signed CRL.
func (v *Verifier) checkCRL(ctx context.Context, p Product, key SigningKey, inter *x509.Certificate, at time.Time) (string, error) {
	if v.crl == CRLOff {
		return CRLNotChecked, nil
	}
	fail := func(err error) (string, error) {
		if v.crl == CRLHard {
			return "", fmt.Errorf("%w: %v (snp CRL mode hard)", ErrCRL, err)
		}
		v.log.Debug("sevsnp: CRL not checked (soft mode; the token says x-maat-sevsnpvm-crl unavailable)", "product", p, "key", key, "err", err)
		return CRLUnavailable, nil
	}
	if v.coll == nil {
		// Nothing to fetch a CRL from: not worth a warning per request.
		if v.crl == CRLHard {
			return "", fmt.Errorf("%w: no AMD collateral source is configured (snp CRL mode hard)", ErrCRL)
		}
		return CRLUnavailable, nil
	}
	der, err := v.coll.CRL(ctx, p, key)
	if err != nil {
		return fail(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fail(fmt.Errorf("parse %s %s CRL: %v", p, key, err))
	}
	ark := v.roots[p].ARK
	if err := crl.CheckSignatureFrom(ark); err != nil {
		return fail(fmt.Errorf("%s %s CRL is not signed by ARK-%s: %v", p, key, p, err))
	}
	if !crl.NextUpdate.IsZero() && at.After(crl.NextUpdate) {
		return fail(fmt.Errorf("%s %s CRL expired at %s", p, key, crl.NextUpdate.UTC().Format(time.RFC3339)))
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(inter.SerialNumber) == 0 {
			return "", fmt.Errorf("%w: %s (serial %x) is on AMD's %s CRL", ErrRevoked, inter.Subject.CommonName, inter.SerialNumber, p)
		}
	}
	return CRLChecked, nil
}

// QueryFor returns the VCEK lookup key of a report from product p (the
// report's CPUID product when p is ProductUnknown). It returns false when
// the product is unknown or CHIP_ID is masked.
func QueryFor(r *Report, p Product) (CertQuery, bool) {
	if p == ProductUnknown {
		p = r.CPUIDProduct()
	}
	if p == ProductUnknown || r.ChipIDMasked() {
		return CertQuery{}, false
	}
	return CertQuery{Product: p, ChipID: bytes.Clone(r.ChipID[:]), TCB: DecomposeTCB(p, r.ReportedTCB), ReportedTCB: r.ReportedTCB}, true
}
