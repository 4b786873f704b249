package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
)

// Signer backend names, as --token-signer takes them.
const (
	BackendAuto    = "auto"
	BackendGo      = "go"
	BackendOpenSSL = "openssl"
)

// ErrSignerClosed is returned by a KeySigner's Sign after Close: the key was
// rotated out or retired and its backend resources were released.
var ErrSignerClosed = errors.New("keys: signer closed (key rotated out or retired)")

// ErrBackendUnavailable is returned by NewBackend for a backend this binary
// was built without, or whose library does not work on this machine.
var ErrBackendUnavailable = errors.New("keys: signer backend unavailable")

// KeySigner signs with one private key through one crypto implementation.
// Sign takes a prehashed digest: a crypto.Hash (SHA-256, -384 or -512) as
// opts selects RSASSA-PKCS1-v1_5 (RS256 with SHA-256), *rsa.PSSOptions
// selects RSASSA-PSS (PS256); it returns an error for any other hash, a
// digest of the wrong length, or a failure inside the library. Close
// releases the backend's copy of the key; Sign calls already running finish
// first, later ones return ErrSignerClosed.
type KeySigner interface {
	crypto.Signer
	Close() error
}

// Backend turns a parsed private key into a KeySigner. Implementations are
// safe for concurrent use.
type Backend interface {
	// Name is the backend's name (BackendGo, BackendOpenSSL).
	Name() string
	// Load returns a KeySigner for priv. It returns an error when the
	// backend cannot take the key (not RSA, rejected by the library, or a
	// failed sign-and-verify self-test); it never keeps priv itself beyond
	// what the signer needs.
	Load(priv crypto.Signer) (KeySigner, error)
}

// SignerBackends returns the signer backends compiled into this binary:
// "go" always, then "openssl" when built with -tags openssl and cgo.
func SignerBackends() []string {
	if opensslCompiledIn {
		return []string{BackendGo, BackendOpenSSL}
	}
	return []string{BackendGo}
}

// NewBackend returns the backend for name: "go", "openssl" or "auto" ("" is
// "auto"). auto picks OpenSSL when it is compiled in and libcrypto 3 works
// (its self-test signature matches Go's byte for byte), else Go; log (may be
// nil) says why when auto falls back. It returns ErrBackendUnavailable
// (wrapped, with the reason) for "openssl" in a build without it or when
// libcrypto fails, and an error for an unknown name.
func NewBackend(name string, log *slog.Logger) (Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch name {
	case BackendGo:
		return GoBackend{}, nil
	case BackendOpenSSL:
		return newOpenSSLBackend()
	case BackendAuto, "":
		b, err := newOpenSSLBackend()
		if err != nil {
			if opensslCompiledIn {
				log.Warn("OpenSSL token signer unavailable, signing with Go's crypto", "err", err)
			}
			return GoBackend{}, nil
		}
		return b, nil
	default:
		return nil, fmt.Errorf("keys: unknown token signer %q (want auto, go or openssl)", name)
	}
}

// GoBackend signs with Go's crypto/rsa. It is always available.
type GoBackend struct{}

// Name returns "go".
func (GoBackend) Name() string { return BackendGo }

// Load wraps priv; it returns an error only for a key that is not RSA.
func (GoBackend) Load(priv crypto.Signer) (KeySigner, error) {
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keys: go signer: %T is not an RSA private key", priv)
	}
	s := &goSigner{priv: rk}
	s.refs.init()
	return s, nil
}

type goSigner struct {
	priv *rsa.PrivateKey
	refs refCount
}

func (s *goSigner) Public() crypto.PublicKey { return &s.priv.PublicKey }

func (s *goSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if !s.refs.acquire() {
		return nil, ErrSignerClosed
	}
	defer s.refs.release()
	if err := checkSignOpts(digest, opts); err != nil {
		return nil, err
	}
	return s.priv.Sign(rand, digest, opts)
}

func (s *goSigner) Close() error {
	s.refs.close()
	return nil
}

// checkSignOpts limits every backend to the same algorithms, so choosing a
// backend never changes what is accepted.
func checkSignOpts(digest []byte, opts crypto.SignerOpts) error {
	if opts == nil {
		return errors.New("keys: sign: no hash given")
	}
	switch opts.HashFunc() {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("keys: sign: unsupported hash %v (want SHA-256, SHA-384 or SHA-512)", opts.HashFunc())
	}
	if len(digest) != opts.HashFunc().Size() {
		return fmt.Errorf("keys: sign: digest is %d bytes, %v needs %d", len(digest), opts.HashFunc(), opts.HashFunc().Size())
	}
	return nil
}

// refCount keeps a backend key alive while signs are in flight: one
// reference belongs to the owner until close, one to each running Sign; the
// last release frees.
type refCount struct {
	n      atomic.Int64
	closed atomic.Bool
	free   func()
}

func (r *refCount) init() { r.n.Store(1) }

// acquire takes a reference, or reports false once the count reached zero.
func (r *refCount) acquire() bool {
	for {
		n := r.n.Load()
		if n <= 0 || r.closed.Load() {
			return false
		}
		if r.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (r *refCount) release() {
	if r.n.Add(-1) == 0 && r.free != nil {
		r.free()
	}
}

// close drops the owner's reference (once).
func (r *refCount) close() {
	if r.closed.CompareAndSwap(false, true) {
		r.release()
	}
}

// selfTest signs a fixed digest with s and checks the signature with Go's
// verifier and against want (Go's own signature, when given), so a backend
// that signs wrongly is refused before it signs a token.
func selfTest(s crypto.Signer, pub *rsa.PublicKey, want []byte) error {
	d := selfTestDigest
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
		return fmt.Errorf("self-test signature does not verify: %w", err)
	}
	if want != nil && string(want) != string(sig) {
		return errors.New("self-test signature differs from Go's")
	}
	return nil
}

var selfTestDigest = sha256.Sum256([]byte("maat signer self-test"))

func goSelfTestSig(gs crypto.Signer) ([]byte, error) {
	d := selfTestDigest
	return gs.Sign(rand.Reader, d[:], crypto.SHA256)
}
