// Package store defines Maat's persistent state — attestation instances, their
// policies, policy-management certificates and token-signing keys — as one
// interface with SQL implementations per dialect (sqlite/, later postgres/)
// and a conformance suite (storetest/) that every implementation passes.
//
// All methods take a context first and return errors wrapping the sentinels
// below (test with errors.Is), so callers never depend on a driver's errors.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned (wrapped) by every Store implementation.
var (
	// ErrNotFound: the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: an optimistic-concurrency check failed (the row changed
	// since it was read) or a uniqueness rule was violated.
	ErrConflict = errors.New("store: conflict")
	// ErrLastCertificate: removing the instance's last policy-management
	// certificate was refused (MAA: "the final policy management certificate
	// cannot be removed").
	ErrLastCertificate = errors.New("store: cannot remove the last policy management certificate")
	// ErrSuperseded: a signed management request (policy set or reset,
	// certificate add or remove) was presented again after a later one
	// superseded it, or carries an iat older than the request in force: a
	// replay that would roll the instance back.
	ErrSuperseded = errors.New("store: management request superseded")
	// ErrSchemaTooNew: the database was migrated by a newer Maat; refusing to
	// run against a schema this binary does not know.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this maat binary supports")
)

// Mode is an instance's policy-management mode, as in MAA.
type Mode string

// The two MAA instance modes.
const (
	// ModeAAD accepts unsigned (alg: none) and signed policies; management
	// calls are authorised by bearer tokens alone.
	ModeAAD Mode = "AAD"
	// ModeIsolated requires every policy and certificate change to be signed
	// by a current policy-management certificate.
	ModeIsolated Mode = "Isolated"
)

// Valid reports whether m is one of the defined modes.
func (m Mode) Valid() bool { return m == ModeAAD || m == ModeIsolated }

// Instance is one attestation provider: what MAA calls an attestation
// instance, with its own issuer, mode, policies, certificates and keys.
type Instance struct {
	ID        string
	Issuer    string
	Mode      Mode
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Policy is the stored policy of one attestation type of one instance.
type Policy struct {
	InstanceID      string
	AttestationType string // canonical MAA spelling, e.g. "SgxEnclave"
	// JWS is the policy JWS exactly as it was set (alg none or signed); GET
	// returns it unchanged.
	JWS string
	// Text is the policy text carried by JWS, decoded.
	Text string
	// SignerCertDER is the DER certificate that signed JWS, nil if unsigned.
	SignerCertDER []byte
	// Version increases by one on every change; 0 means "never stored".
	Version   int64
	UpdatedAt time.Time
}

// PolicyCertificate is one policy-management certificate of an instance.
type PolicyCertificate struct {
	InstanceID string
	// Thumbprint is the uppercase hex SHA-1 of DER, as MAA reports it.
	Thumbprint string
	DER        []byte
	AddedAt    time.Time
}

// ManagementJWS is one signed management request applied to an instance,
// kept so that a superseded request cannot be replayed.
type ManagementJWS struct {
	InstanceID string
	// Scope is what the request changes: "policy/<AttestationType>" or
	// "certificate/<thumbprint>". Requests of one scope supersede each other.
	Scope string
	// Hash identifies the request: base64url SHA-256 of the JWS as sent (the
	// x-ms-policy-token-hash of a policy).
	Hash string
	// IssuedAt is the JWS payload's iat; zero when it has none.
	IssuedAt  time.Time
	AppliedAt time.Time
}

// KeyState is the life-cycle state of a token-signing key.
type KeyState string

// Signing key states: exactly one Active key per instance signs; Published
// keys are still listed in /certs so tokens they signed keep validating;
// Retired keys are kept for the record but no longer published.
const (
	KeyActive    KeyState = "active"
	KeyPublished KeyState = "published"
	KeyRetired   KeyState = "retired"
)

// SigningKey is a token-signing key with its self-signed certificate.
type SigningKey struct {
	InstanceID string
	KID        string
	// PrivateKey is the PKCS#8 DER private key, possibly sealed (encrypted)
	// by the keys package; the store treats it as opaque bytes.
	PrivateKey []byte
	// CertDER is the DER X.509 certificate published in /certs.
	CertDER   []byte
	State     KeyState
	CreatedAt time.Time
	// ActivatedAt and RetiredAt are zero when the event has not happened.
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// AddKeyOptions qualifies AddSigningKey.
type AddKeyOptions struct {
	// Activate makes the new key the active one, demoting the previous active
	// key to Published in the same transaction.
	Activate bool
	// OnlyIfNoActive makes the insert fail with ErrConflict when the instance
	// already has an active key, so that several replicas starting together
	// on an empty database create exactly one.
	OnlyIfNoActive bool
}

// KeyReseal replaces the sealed form of one stored private key (the key
// itself is unchanged): Old must be the bytes stored now, New replaces them.
type KeyReseal struct {
	KID      string
	Old, New []byte
}

// Store is Maat's persistent state. Implementations are safe for concurrent
// use by many goroutines (and, for shared databases, many processes).
type Store interface {
	// Ping checks that the database answers. It returns an error otherwise.
	Ping(ctx context.Context) error
	// Close releases the database. Further calls fail.
	Close() error

	// CreateInstance inserts inst; ErrConflict if its ID exists.
	CreateInstance(ctx context.Context, inst Instance) error
	// GetInstance returns the instance with id, or ErrNotFound.
	GetInstance(ctx context.Context, id string) (Instance, error)
	// UpdateInstance changes Issuer and Mode of an existing instance, or
	// returns ErrNotFound.
	UpdateInstance(ctx context.Context, inst Instance) error
	// Generation returns a counter that increases whenever anything of the
	// instance changes (policies, certificates, keys, settings), so caches
	// can poll one cheap value. ErrNotFound for an unknown instance.
	Generation(ctx context.Context, instanceID string) (int64, error)

	// ApplyManagementJWS records, atomically, that j is about to be applied
	// to its scope: it returns ErrSuperseded when j's hash was applied to the
	// scope before and another request has superseded it since, or when j
	// has an IssuedAt older than that of a request applied to the scope; nil
	// without change when j is already the scope's current request (a
	// retry); otherwise j becomes the scope's current request. ErrNotFound
	// for an unknown instance.
	ApplyManagementJWS(ctx context.Context, j ManagementJWS) error

	// GetPolicy returns the stored policy, or ErrNotFound when none is set
	// (the caller then applies the default policy, if the type has one).
	GetPolicy(ctx context.Context, instanceID, attestationType string) (Policy, error)
	// ListPolicies returns every stored policy of the instance.
	ListPolicies(ctx context.Context, instanceID string) ([]Policy, error)
	// PutPolicy stores p if the stored version equals expectedVersion (0:
	// none stored), and returns it with its new Version; ErrConflict otherwise.
	PutPolicy(ctx context.Context, p Policy, expectedVersion int64) (Policy, error)
	// DeletePolicy removes the stored policy if its version equals
	// expectedVersion; ErrConflict if it changed, nil if none was stored and
	// expectedVersion is 0.
	DeletePolicy(ctx context.Context, instanceID, attestationType string, expectedVersion int64) error

	// ListPolicyCertificates returns the instance's policy-management
	// certificates, oldest first.
	ListPolicyCertificates(ctx context.Context, instanceID string) ([]PolicyCertificate, error)
	// AddPolicyCertificate adds c; adding a present thumbprint is a no-op.
	AddPolicyCertificate(ctx context.Context, c PolicyCertificate) error
	// RemovePolicyCertificate removes the certificate with thumbprint. It is
	// a no-op if absent, and ErrLastCertificate if it is the only one left.
	RemovePolicyCertificate(ctx context.Context, instanceID, thumbprint string) error

	// ListSigningKeys returns all keys of the instance, oldest first.
	ListSigningKeys(ctx context.Context, instanceID string) ([]SigningKey, error)
	// AddSigningKey inserts k (its State is set from opts: Active if
	// opts.Activate, else Published); ErrConflict if the KID exists or
	// opts.OnlyIfNoActive and an active key exists.
	AddSigningKey(ctx context.Context, k SigningKey, opts AddKeyOptions) error
	// RetireSigningKey marks a non-active key Retired. ErrNotFound for an
	// unknown KID, ErrConflict for the active key.
	RetireSigningKey(ctx context.Context, instanceID, kid string) error
	// ResealSigningKeys replaces the stored private keys named by changes in
	// one transaction: all or none. It returns ErrConflict when a key's
	// stored bytes are not its Old (another process changed it), and
	// ErrNotFound for an unknown instance or KID. The keys themselves do not
	// change, so neither does the instance's Generation.
	ResealSigningKeys(ctx context.Context, instanceID string, changes []KeyReseal) error
}
