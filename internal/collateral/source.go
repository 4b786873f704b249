// Package collateral fetches, parses and caches the Intel collateral that SGX
// DCAP quote verification needs: TCB Info (per FMSPC), QE Identity, the PCK
// CRL (per CA: processor or platform), the Root CA CRL, and the issuer chain
// of each.
//
// One interface, Source, has several implementations: Dir reads a local
// bundle directory, NewPCS talks to Intel PCS v4 or any PCCS / Azure cache
// serving the same API under another base URL, and NewCache sits in front of
// any Source (keyed by FMSPC/CA, honouring nextUpdate, one fetch per key at a
// time, serving a still-valid copy when the source is down, refreshing before
// expiry; with Offline set it never calls its source).
//
// The JSON parsers (ParseTCBInfo, ParseEnclaveIdentity) check structure only;
// signatures and validity are checked by internal/evidence/sgx.
package collateral

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Kind names one kind of collateral.
type Kind uint8

// Collateral kinds.
const (
	KindTCBInfo Kind = iota + 1
	KindQEIdentity
	KindPCKCRL
	KindRootCACRL
	// KindTDXTCBInfo is the TDX TCB Info (id "TDX", version 3) for an FMSPC.
	KindTDXTCBInfo
	// KindTDQEIdentity is the TD quoting enclave's identity (id "TD_QE").
	KindTDQEIdentity
	// KindSGXTCBEvalNums and KindTDXTCBEvalNums are Intel's signed lists of
	// the TCB evaluation data numbers (TCB baselines) PCS serves.
	KindSGXTCBEvalNums
	KindTDXTCBEvalNums
)

// String returns the kind's lower-case name.
func (k Kind) String() string {
	switch k {
	case KindTCBInfo:
		return "tcbinfo"
	case KindQEIdentity:
		return "qeidentity"
	case KindPCKCRL:
		return "pckcrl"
	case KindRootCACRL:
		return "rootcacrl"
	case KindTDXTCBInfo:
		return "tdxtcbinfo"
	case KindTDQEIdentity:
		return "tdqeidentity"
	case KindSGXTCBEvalNums:
		return "sgxtcbevalnums"
	case KindTDXTCBEvalNums:
		return "tdxtcbevalnums"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// PCK CA names as used by PCS (`ca=` query parameter).
const (
	CAProcessor = "processor"
	CAPlatform  = "platform"
)

// Key identifies one piece of collateral. FMSPC (12 upper-case hex digits)
// is set for KindTCBInfo and KindTDXTCBInfo only, CA for KindPCKCRL only.
// EvalNum, for the four signed JSON kinds, asks for the document of that
// tcbEvaluationDataNumber (a TCB baseline); 0 means the source's default.
// Being part of the key, it keeps baselines apart in a Cache.
type Key struct {
	Kind    Kind
	FMSPC   string
	CA      string
	EvalNum int
}

// String returns a short form such as "tcbinfo/00906ED50000" or
// "tdxtcbinfo/90C06F000000@18" for logs.
func (k Key) String() string {
	var s string
	switch k.Kind {
	case KindTCBInfo, KindTDXTCBInfo:
		s = k.Kind.String() + "/" + k.FMSPC
	case KindPCKCRL:
		s = "pckcrl/" + k.CA
	default:
		s = k.Kind.String()
	}
	if k.EvalNum != 0 {
		s += fmt.Sprintf("@%d", k.EvalNum)
	}
	return s
}

// IsJSON reports whether the kind is a signed JSON document (TCB Info or
// enclave identity), as opposed to a CRL.
func (k Kind) IsJSON() bool {
	return k == KindTCBInfo || k == KindQEIdentity || k == KindTDXTCBInfo || k == KindTDQEIdentity ||
		k == KindSGXTCBEvalNums || k == KindTDXTCBEvalNums
}

// TCBInfoKey returns the key of the TCB Info for fmspc (hex, any case). It
// returns an error wrapping ErrMalformed when fmspc is not 12 hex digits.
func TCBInfoKey(fmspc string) (Key, error) {
	f, err := normFMSPC(fmspc)
	if err != nil {
		return Key{}, err
	}
	return Key{Kind: KindTCBInfo, FMSPC: f}, nil
}

// PCKCRLKey returns the key of the PCK CRL for ca (CAProcessor or CAPlatform).
func PCKCRLKey(ca string) Key { return Key{Kind: KindPCKCRL, CA: ca} }

func (k Key) validate() error {
	if k.EvalNum < 0 || (k.EvalNum != 0 && (!k.Kind.IsJSON() || k.Kind == KindSGXTCBEvalNums || k.Kind == KindTDXTCBEvalNums)) {
		return fmt.Errorf("%w: key %v: evaluation data number %d not allowed", ErrMalformed, k.Kind, k.EvalNum)
	}
	switch k.Kind {
	case KindTCBInfo, KindTDXTCBInfo:
		if _, err := normFMSPC(k.FMSPC); err != nil || k.CA != "" {
			return fmt.Errorf("%w: bad TCB Info key %q", ErrMalformed, k.FMSPC)
		}
	case KindPCKCRL:
		if (k.CA != CAProcessor && k.CA != CAPlatform) || k.FMSPC != "" {
			return fmt.Errorf("%w: bad PCK CRL CA %q", ErrMalformed, k.CA)
		}
	case KindQEIdentity, KindRootCACRL, KindTDQEIdentity, KindSGXTCBEvalNums, KindTDXTCBEvalNums:
		if k.CA != "" || k.FMSPC != "" {
			return fmt.Errorf("%w: key %v has extra fields", ErrMalformed, k.Kind)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrMalformed, k.Kind)
	}
	return nil
}

// Item is one piece of collateral exactly as received, plus what is derived
// from it. Items are immutable once made by NewItem; sources and caches hand
// out the same *Item to many callers.
type Item struct {
	Key Key
	// Body is the TCB Info / QE Identity JSON document, or the CRL in DER
	// (PEM and hex-encoded DER are normalised to DER).
	Body []byte
	// IssuerChain is the PEM issuer chain (signing cert, then root); empty
	// for the Root CA CRL.
	IssuerChain []byte
	// NextUpdate is the document's or CRL's nextUpdate.
	NextUpdate time.Time
	// BodyHash and ChainHash are SHA-256 of Body and IssuerChain.
	BodyHash, ChainHash [32]byte
	// FetchedAt is when the item was made.
	FetchedAt time.Time

	memo *itemMemo // parsed forms, made once per item (per fetch)
}

// itemMemo holds what an item parses to, computed at most once: every
// verification (every fresh verifier, every instance) that uses the item
// shares one parse.
type itemMemo struct {
	once   [3]sync.Once // TCB Info, TDX TCB Info, QE Identity
	tcb    [2]*TCBInfo
	tcbErr [2]error
	qe     *EnclaveIdentity
	qeErr  error
	crl    *x509.RevocationList
}

// ParsedTCBInfo is ParseTCBInfo (ParseTDXTCBInfo when tdx) of the item's
// body, parsed once per item; callers must not modify the result. Items
// not made by NewItem are parsed on every call.
func (it *Item) ParsedTCBInfo(tdx bool) (*TCBInfo, error) {
	parse, i := ParseTCBInfo, 0
	if tdx {
		parse, i = ParseTDXTCBInfo, 1
	}
	if it.memo == nil {
		return parse(it.Body)
	}
	it.memo.once[i].Do(func() { it.memo.tcb[i], it.memo.tcbErr[i] = parse(it.Body) })
	return it.memo.tcb[i], it.memo.tcbErr[i]
}

// ParsedEnclaveIdentity is ParseEnclaveIdentity of the item's body, parsed
// once per item; callers must not modify the result.
func (it *Item) ParsedEnclaveIdentity() (*EnclaveIdentity, error) {
	if it.memo == nil {
		return ParseEnclaveIdentity(it.Body)
	}
	it.memo.once[2].Do(func() { it.memo.qe, it.memo.qeErr = ParseEnclaveIdentity(it.Body) })
	return it.memo.qe, it.memo.qeErr
}

// ParsedCRL is the CRL of a CRL item, parsed once (NewItem parses it to read
// nextUpdate); callers must not modify the result.
func (it *Item) ParsedCRL() (*x509.RevocationList, error) {
	if it.memo != nil && it.memo.crl != nil {
		return it.memo.crl, nil
	}
	return x509.ParseRevocationList(it.Body)
}

// MaxItemSize bounds a collateral body or issuer chain.
const MaxItemSize = 1 << 20

// NewItem copies body and chain, normalises a CRL body to DER, reads the
// nextUpdate and computes the hashes. It checks only what it needs to read
// nextUpdate (the CRL is parsed, the JSON's nextUpdate read); the rest is
// checked by the verifier. On failure it returns nil and an error wrapping
// ErrMalformed.
func NewItem(key Key, body, chain []byte, fetchedAt time.Time) (*Item, error) {
	if err := key.validate(); err != nil {
		return nil, err
	}
	if len(body) > MaxItemSize || len(chain) > MaxItemSize {
		return nil, fmt.Errorf("%w: %v is too large", ErrMalformed, key)
	}
	it := &Item{Key: key, IssuerChain: bytes.Clone(chain), FetchedAt: fetchedAt, memo: &itemMemo{}}
	switch key.Kind {
	case KindTCBInfo, KindQEIdentity, KindTDXTCBInfo, KindTDQEIdentity, KindSGXTCBEvalNums, KindTDXTCBEvalNums:
		it.Body = bytes.Clone(body)
		member := "tcbInfo"
		switch key.Kind {
		case KindQEIdentity, KindTDQEIdentity:
			member = "enclaveIdentity"
		case KindSGXTCBEvalNums, KindTDXTCBEvalNums:
			member = "tcbEvaluationDataNumbers"
		}
		nu, err := NextUpdateOf(it.Body, member)
		if err != nil {
			return nil, err
		}
		it.NextUpdate = nu
		if key.EvalNum != 0 {
			// A source that ignores the requested baseline must not slip
			// another one in under its key.
			n, err := EvalNumOf(it.Body, member)
			if err != nil {
				return nil, err
			}
			if n != key.EvalNum {
				return nil, fmt.Errorf("%w: %v: document has tcbEvaluationDataNumber %d", ErrNotFound, key, n)
			}
		}
	case KindPCKCRL, KindRootCACRL:
		der, err := CRLToDER(body)
		if err != nil {
			return nil, err
		}
		it.Body = der
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %v: %v", ErrMalformed, key, err)
		}
		it.NextUpdate = crl.NextUpdate.UTC()
		it.memo.crl = crl
	}
	it.BodyHash = sha256.Sum256(it.Body)
	it.ChainHash = sha256.Sum256(it.IssuerChain)
	return it, nil
}

// CRLToDER accepts a CRL as DER, PEM ("X509 CRL") or hex-encoded DER (as
// PCCS and some QvE collateral carry it), with surrounding whitespace or NUL
// bytes, and returns a fresh DER copy. It returns an error wrapping
// ErrMalformed when b is none of these.
func CRLToDER(b []byte) ([]byte, error) {
	t := bytes.Trim(b, " \t\r\n\x00")
	if len(t) == 0 {
		return nil, fmt.Errorf("%w: empty CRL", ErrMalformed)
	}
	if t[0] == 0x30 {
		return bytes.Clone(b), nil
	}
	if bytes.HasPrefix(t, []byte("-----BEGIN")) {
		blk, _ := pem.Decode(t)
		if blk == nil || blk.Type != "X509 CRL" {
			return nil, fmt.Errorf("%w: CRL PEM has no X509 CRL block", ErrMalformed)
		}
		return blk.Bytes, nil
	}
	d := make([]byte, hex.DecodedLen(len(t)))
	if _, err := hex.Decode(d, t); err != nil || len(d) == 0 || d[0] != 0x30 {
		return nil, fmt.Errorf("%w: CRL is neither DER, PEM nor hex", ErrMalformed)
	}
	return d, nil
}

// Source delivers collateral. Fetch returns the item for key or an error
// wrapping ErrNotFound (the source has no such item) or ErrUnavailable (the
// source could not be reached or answered badly). Implementations must be
// safe for concurrent use and must not modify returned items.
type Source interface {
	Fetch(ctx context.Context, key Key) (*Item, error)
}

// Errors of sources.
var (
	ErrNotFound    = errors.New("collateral not found")
	ErrUnavailable = errors.New("collateral source unavailable")
	ErrOffline     = errors.New("collateral not cached and the cache is offline")
)

// Bundle is the complete collateral for one quote.
type Bundle struct {
	TCBInfo    *Item
	QEIdentity *Item
	PCKCRL     *Item
	RootCACRL  *Item
}

// Get fetches the four items a quote with this FMSPC and PCK CA needs. It
// returns the first error of src.
func Get(ctx context.Context, src Source, fmspc, ca string) (*Bundle, error) {
	tk, err := TCBInfoKey(fmspc)
	if err != nil {
		return nil, err
	}
	var b Bundle
	for _, f := range []struct {
		key Key
		dst **Item
	}{
		{tk, &b.TCBInfo},
		{Key{Kind: KindQEIdentity}, &b.QEIdentity},
		{PCKCRLKey(ca), &b.PCKCRL},
		{Key{Kind: KindRootCACRL}, &b.RootCACRL},
	} {
		it, err := src.Fetch(ctx, f.key)
		if err != nil {
			return nil, err
		}
		if it == nil || it.Key.Kind != f.key.Kind {
			return nil, fmt.Errorf("%w: source returned the wrong item for %v", ErrUnavailable, f.key)
		}
		*f.dst = it
	}
	return &b, nil
}

// GetSGX is Get with a TCB baseline: evalNum, when non-zero, selects the
// tcbEvaluationDataNumber of the TCB Info and QE Identity.
func GetSGX(ctx context.Context, src Source, fmspc, ca string, evalNum int) (*Bundle, error) {
	if evalNum == 0 {
		return Get(ctx, src, fmspc, ca)
	}
	tk, err := TCBInfoKey(fmspc)
	if err != nil {
		return nil, err
	}
	tk.EvalNum = evalNum
	return getKeys(ctx, src, tk, Key{Kind: KindQEIdentity, EvalNum: evalNum}, ca)
}

// GetTDX fetches the four items a TD quote with this FMSPC and PCK CA needs:
// the TDX TCB Info, the TD_QE identity, the PCK CRL of ca (the Platform CA
// for every TDX platform seen so far) and the Root CA CRL. evalNum, when
// non-zero, selects the TCB baseline (tcbEvaluationDataNumber) of the two
// signed documents. It returns the first error of src.
func GetTDX(ctx context.Context, src Source, fmspc, ca string, evalNum int) (*Bundle, error) {
	f, err := normFMSPC(fmspc)
	if err != nil {
		return nil, err
	}
	return getKeys(ctx, src, Key{Kind: KindTDXTCBInfo, FMSPC: f, EvalNum: evalNum}, Key{Kind: KindTDQEIdentity, EvalNum: evalNum}, ca)
}

func getKeys(ctx context.Context, src Source, tk, qk Key, ca string) (*Bundle, error) {
	var b Bundle
	for _, f := range []struct {
		key Key
		dst **Item
	}{
		{tk, &b.TCBInfo},
		{qk, &b.QEIdentity},
		{PCKCRLKey(ca), &b.PCKCRL},
		{Key{Kind: KindRootCACRL}, &b.RootCACRL},
	} {
		it, err := src.Fetch(ctx, f.key)
		if err != nil {
			return nil, err
		}
		if it == nil || it.Key.Kind != f.key.Kind {
			return nil, fmt.Errorf("%w: source returned the wrong item for %v", ErrUnavailable, f.key)
		}
		*f.dst = it
	}
	return &b, nil
}

// Static is a Source serving a fixed set of items matched by their exact
// Key, e.g. collateral loaded once from elsewhere.
type Static map[Key]*Item

// Fetch returns the item for key or an error wrapping ErrNotFound.
func (s Static) Fetch(_ context.Context, key Key) (*Item, error) {
	if it, ok := s[key]; ok {
		return it, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrNotFound, key)
}
