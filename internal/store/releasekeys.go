package store

import (
	"context"
	"time"
)

// ReleaseKey is a key held for secure key release (a Maat extension): the
// key material, sealed, and the release policy that decides which attested
// TEE may have it.
type ReleaseKey struct {
	InstanceID string
	// Name is unique per instance.
	Name string
	// KeyType names the key material ("oct-256", "RSA-2048", "EC-P256").
	KeyType string
	// Key is the key material sealed by the keyrelease package; the store
	// treats it as opaque bytes.
	Key []byte
	// ReleasePolicy is the Azure Key Vault release-policy JSON, as given.
	ReleasePolicy string
	CreatedAt     time.Time
}

// ReleaseKeys stores keys for secure key release. Both SQL stores implement
// it (the storetest suite checks it); it is separate from [Store] so the
// attestation core does not depend on it.
type ReleaseKeys interface {
	// CreateReleaseKey inserts k; ErrConflict if the name exists,
	// ErrNotFound for an unknown instance.
	CreateReleaseKey(ctx context.Context, k ReleaseKey) error
	// GetReleaseKey returns the key named name, or ErrNotFound.
	GetReleaseKey(ctx context.Context, instanceID, name string) (ReleaseKey, error)
	// ListReleaseKeys returns the instance's keys ordered by name.
	ListReleaseKeys(ctx context.Context, instanceID string) ([]ReleaseKey, error)
	// DeleteReleaseKey removes the key named name, or returns ErrNotFound.
	DeleteReleaseKey(ctx context.Context, instanceID, name string) error
}
