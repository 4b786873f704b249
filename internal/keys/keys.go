// Package keys owns the token-signing keys of an attestation instance:
// generating an RSA-2048 key with a self-signed certificate whose subject is
// the instance URI (as MAA does), persisting it through the store (sealed
// with AES-256-GCM under a key-encryption key, bound to instance and kid),
// rotating and retiring keys and the key-encryption key, and serving the current key set to the hot path without
// touching the store.
package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/store"
)

// CertValidity is the validity of generated signing certificates.
const CertValidity = 10 * 365 * 24 * time.Hour

// ErrNoActiveKey is returned when the instance has no active signing key.
var ErrNoActiveKey = errors.New("keys: no active signing key")

// Key is one usable signing key. Signer is the parsed private key (Go's
// crypto, also what is persisted); tokens are signed through TokenSigner,
// which is the configured backend's copy of the same key when the key came
// from a Manager.
type Key struct {
	KID    string
	Signer crypto.Signer
	Cert   *x509.Certificate
	State  store.KeyState

	backend KeySigner // nil for keys not loaded through a Manager
}

// TokenSigner returns the signer tokens are signed with: the backend's
// signer for keys a Manager loaded, else Signer. After the key's set was
// replaced (rotation, retirement, Manager.Close) and released, its Sign
// returns ErrSignerClosed.
func (k *Key) TokenSigner() crypto.Signer {
	if k.backend != nil {
		return k.backend
	}
	return k.Signer
}

// KID returns MAA's key identifier for a certificate's public key: standard
// base64 of SHA-256 over the PEM-encoded SubjectPublicKeyInfo followed by a
// NUL byte. This is how MAA derives the kid of its self-signed signing
// certificates (it equals report_data[0:32] of the enclave report they embed).
func KID(cert *x509.Certificate) string {
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: cert.RawSubjectPublicKeyInfo})
	h := sha256.Sum256(append(p, 0))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Generate creates an RSA-2048 key and a self-signed certificate with
// subject CN=issuer, valid from now for CertValidity. It returns an error
// only when the system's randomness or encoder fails.
func Generate(issuer string, now time.Time) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("keys: generate RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("keys: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: issuer},
		NotBefore:             now.Add(-5 * time.Minute).UTC(),
		NotAfter:              now.Add(CertValidity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("keys: self-sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse certificate: %w", err)
	}
	return &Key{KID: KID(cert), Signer: priv, Cert: cert}, nil
}

// Set is an immutable snapshot of an instance's keys: the active one and
// every published one (active first), as /certs lists them.
type Set struct {
	Active    *Key
	Published []*Key

	// refs holds the Manager's reference while the set is current plus one
	// per Acquire; the last release closes the keys' backend signers.
	refs refCount
}

func newSet() *Set {
	s := &Set{}
	s.refs.init()
	s.refs.free = func() {
		for _, k := range s.Published {
			if k.backend != nil {
				k.backend.Close()
			}
		}
	}
	return s
}

// JWKS returns the JWK Set of the published keys, in MAA's /certs shape.
func (s *Set) JWKS() jose.JWKSet {
	out := jose.JWKSet{Keys: make([]jose.JWK, 0, len(s.Published))}
	for _, k := range s.Published {
		out.Keys = append(out.Keys, jose.CertJWK(k.KID, k.Cert))
	}
	return out
}

// Manager loads an instance's keys from the store, keeps the current Set
// in memory for lock-free reads, and changes keys through the store.
type Manager struct {
	store      store.Store
	instanceID string
	sealer     Sealer
	now        func() time.Time
	log        *slog.Logger

	backend Backend

	mu     sync.Mutex // serialises reloads and changes
	set    atomic.Pointer[Set]
	closed bool // under mu
}

// NewManager returns a Manager for one instance that signs with Go's
// crypto. sealer may be nil (keys stored unencrypted; servers always pass
// one), now may be nil (time.Now), log may be nil.
func NewManager(st store.Store, instanceID string, sealer Sealer, now func() time.Time, log *slog.Logger) *Manager {
	return NewManagerWithBackend(st, instanceID, sealer, now, log, nil)
}

// NewManagerWithBackend is NewManager with the signer backend tokens are
// signed through (nil: GoBackend). Call Close when done with the Manager
// to release the backend's keys.
func NewManagerWithBackend(st store.Store, instanceID string, sealer Sealer, now func() time.Time, log *slog.Logger, backend Backend) *Manager {
	if sealer == nil {
		sealer = PlainSealer{}
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if backend == nil {
		backend = GoBackend{}
	}
	return &Manager{store: st, instanceID: instanceID, sealer: sealer, now: now, log: log, backend: backend}
}

// Backend returns the name of the backend tokens are signed through.
func (m *Manager) Backend() string { return m.backend.Name() }

// Acquire returns the active key and a release func the caller must call
// when done signing with it; until then a rotation or retirement does not
// close the key's backend signer. It returns ErrNoActiveKey when there is
// none.
func (m *Manager) Acquire() (*Key, func(), error) {
	for {
		s := m.set.Load()
		if s == nil || s.Active == nil {
			return nil, nil, ErrNoActiveKey
		}
		if s.refs.acquire() {
			return s.Active, s.refs.release, nil
		}
		// s was replaced and released between Load and acquire: the
		// replacement is already stored, so the next Load finds it.
	}
}

// Close releases the current key set's backend signers (once in-flight
// signs finish); afterwards Active and Acquire return ErrNoActiveKey and
// Reload fails.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if old := m.set.Swap(nil); old != nil {
		old.refs.close()
	}
}

// Current returns the last loaded key set, or nil before the first load.
func (m *Manager) Current() *Set { return m.set.Load() }

// Active returns the active key, or ErrNoActiveKey.
func (m *Manager) Active() (*Key, error) {
	s := m.set.Load()
	if s == nil || s.Active == nil {
		return nil, ErrNoActiveKey
	}
	return s.Active, nil
}

// EnsureActive makes sure the instance has an active key, generating one
// with the given issuer as subject if it has none (several processes racing
// on an empty database create exactly one), then loads the set. It returns
// whether this call created the key.
func (m *Manager) EnsureActive(ctx context.Context, issuer string) (created bool, err error) {
	if err := m.Reload(ctx); err != nil {
		return false, err
	}
	if m.Current().Active != nil {
		return false, nil
	}
	k, err := Generate(issuer, m.now())
	if err != nil {
		return false, err
	}
	err = m.add(ctx, k, store.AddKeyOptions{Activate: true, OnlyIfNoActive: true})
	switch {
	case errors.Is(err, store.ErrConflict):
		created = false // another process won the race; use its key
	case err != nil:
		return false, err
	default:
		created = true
	}
	return created, m.Reload(ctx)
}

// Rotate generates a new key, makes it active, keeps the previous key
// published, and returns the new key.
func (m *Manager) Rotate(ctx context.Context, issuer string) (*Key, error) {
	k, err := Generate(issuer, m.now())
	if err != nil {
		return nil, err
	}
	if err := m.add(ctx, k, store.AddKeyOptions{Activate: true}); err != nil {
		return nil, err
	}
	m.log.Info("signing key rotated", "kid", k.KID)
	return k, m.Reload(ctx)
}

// Retire stops publishing a non-active key. It returns store.ErrNotFound or
// store.ErrConflict (the active key) wrapped.
func (m *Manager) Retire(ctx context.Context, kid string) error {
	if err := m.store.RetireSigningKey(ctx, m.instanceID, kid); err != nil {
		return err
	}
	m.log.Info("signing key retired", "kid", kid)
	return m.Reload(ctx)
}

func (m *Manager) add(ctx context.Context, k *Key, opts store.AddKeyOptions) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return fmt.Errorf("keys: marshal private key: %w", err)
	}
	sealed, err := m.sealer.Seal(der, Binding{InstanceID: m.instanceID, KID: k.KID})
	if err != nil {
		return fmt.Errorf("keys: seal private key: %w", err)
	}
	return m.store.AddSigningKey(ctx, store.SigningKey{
		InstanceID: m.instanceID, KID: k.KID, PrivateKey: sealed, CertDER: k.Cert.Raw,
	}, opts)
}

// List returns every key of the instance with its state, oldest first,
// without private keys.
func (m *Manager) List(ctx context.Context) ([]store.SigningKey, error) {
	ks, err := m.store.ListSigningKeys(ctx, m.instanceID)
	for i := range ks {
		ks[i].PrivateKey = nil
	}
	return ks, err
}

// Reload reads the keys from the store and replaces the current set. It
// returns an error (and keeps the previous set) when the store fails or a
// key cannot be unsealed or parsed.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("keys: manager closed")
	}
	rows, err := m.store.ListSigningKeys(ctx, m.instanceID)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
	set := newSet()
	for _, r := range rows {
		if r.State == store.KeyRetired {
			continue
		}
		k, err := m.decode(r)
		if err != nil {
			set.refs.close()
			return err
		}
		if r.State == store.KeyActive {
			set.Active = k
			set.Published = append([]*Key{k}, set.Published...)
		} else {
			set.Published = append(set.Published, k)
		}
	}
	// Store before releasing the old set, so an Acquire that loses the race
	// with the release finds the new set on its next Load.
	if old := m.set.Swap(set); old != nil {
		old.refs.close()
	}
	return nil
}

func (m *Manager) decode(r store.SigningKey) (*Key, error) {
	cert, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		return nil, fmt.Errorf("keys: certificate of %s: %w", r.KID, err)
	}
	der, _, err := m.sealer.Open(r.PrivateKey, Binding{InstanceID: m.instanceID, KID: r.KID})
	if err != nil {
		return nil, fmt.Errorf("keys: unseal private key %s: %w", r.KID, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: private key %s: %w", r.KID, err)
	}
	signer, ok := pk.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: private key %s is not a signer", r.KID)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("keys: private key %s does not match its certificate", r.KID)
	}
	bs, err := m.backend.Load(signer)
	if err != nil {
		return nil, fmt.Errorf("keys: %s signer for key %s: %w", m.backend.Name(), r.KID, err)
	}
	return &Key{KID: r.KID, Signer: signer, Cert: cert, State: r.State, backend: bs}, nil
}

// Reseal brings every stored private key of the instance to the form the
// Manager's sealer writes now: plaintext keys are sealed once a
// key-encryption key is configured, and keys sealed before kid and
// instance were bound are sealed again with the binding. All changes are
// written in one transaction; a concurrent reseal by another process is
// detected (store.ErrConflict) and, as its result is the same, not an
// error. It returns how many keys it re-sealed, and an error when a
// published or active key cannot be opened (wrong key-encryption key). A
// retired key that cannot be opened is left as it is, with a warning.
func (m *Manager) Reseal(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rows, err := m.store.ListSigningKeys(ctx, m.instanceID)
	if err != nil {
		return 0, fmt.Errorf("keys: load: %w", err)
	}
	var changes []store.KeyReseal
	for _, r := range rows {
		b := Binding{InstanceID: m.instanceID, KID: r.KID}
		p, stale, err := m.sealer.Open(r.PrivateKey, b)
		if err != nil {
			if r.State == store.KeyRetired {
				m.log.Warn("retired signing key cannot be unsealed; left as it is", "kid", r.KID, "err", err)
				continue
			}
			return 0, fmt.Errorf("keys: unseal private key %s: %w", r.KID, err)
		}
		if !stale {
			continue
		}
		sealed, err := m.sealer.Seal(p, b)
		if err != nil {
			return 0, fmt.Errorf("keys: seal private key %s: %w", r.KID, err)
		}
		changes = append(changes, store.KeyReseal{KID: r.KID, Old: r.PrivateKey, New: sealed})
	}
	if len(changes) == 0 {
		return 0, nil
	}
	err = m.store.ResealSigningKeys(ctx, m.instanceID, changes)
	if errors.Is(err, store.ErrConflict) {
		m.log.Info("signing keys were re-sealed concurrently by another process")
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("keys: reseal: %w", err)
	}
	m.log.Info("re-sealed stored signing keys with the key-encryption key", "count", len(changes))
	return len(changes), nil
}

// RotateKEK re-seals every stored private key of the instance (retired
// ones included) from the Manager's sealer to next, in one transaction, and
// returns how many keys it re-sealed. It changes nothing and returns an
// error when any key cannot be opened with the current sealer, or
// store.ErrConflict (wrapped) when a key changed meanwhile. The Manager
// keeps its own sealer: processes must be restarted with the new key.
func (m *Manager) RotateKEK(ctx context.Context, next Sealer) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rows, err := m.store.ListSigningKeys(ctx, m.instanceID)
	if err != nil {
		return 0, fmt.Errorf("keys: load: %w", err)
	}
	changes := make([]store.KeyReseal, 0, len(rows))
	for _, r := range rows {
		b := Binding{InstanceID: m.instanceID, KID: r.KID}
		p, _, err := m.sealer.Open(r.PrivateKey, b)
		if err != nil {
			return 0, fmt.Errorf("keys: unseal private key %s with the current key-encryption key: %w", r.KID, err)
		}
		sealed, err := next.Seal(p, b)
		if err != nil {
			return 0, fmt.Errorf("keys: seal private key %s: %w", r.KID, err)
		}
		if _, _, err := next.Open(sealed, b); err != nil {
			return 0, fmt.Errorf("keys: the new key-encryption key does not open what it sealed: %w", err)
		}
		changes = append(changes, store.KeyReseal{KID: r.KID, Old: r.PrivateKey, New: sealed})
	}
	if len(changes) == 0 {
		return 0, nil
	}
	if err := m.store.ResealSigningKeys(ctx, m.instanceID, changes); err != nil {
		return 0, fmt.Errorf("keys: rotate key-encryption key: %w", err)
	}
	m.log.Info("key-encryption key rotated", "keys", len(changes))
	return len(changes), nil
}
