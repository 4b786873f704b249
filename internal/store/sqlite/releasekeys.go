package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/maat-attest/maat/internal/store"
)

var _ store.ReleaseKeys = (*Store)(nil)

// CreateReleaseKey implements store.ReleaseKeys.
func (s *Store) CreateReleaseKey(ctx context.Context, k store.ReleaseKey) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, k.InstanceID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO release_keys (instance_id, name, key_type, sealed_key, release_policy, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.InstanceID, k.Name, k.KeyType, k.Key, k.ReleasePolicy, ts(s.now()))
		if err != nil {
			if isUnique(err) {
				return fmt.Errorf("release key %q: %w", k.Name, store.ErrConflict)
			}
			return fmt.Errorf("sqlite: create release key: %w", err)
		}
		return nil
	})
}

// GetReleaseKey implements store.ReleaseKeys.
func (s *Store) GetReleaseKey(ctx context.Context, instanceID, name string) (store.ReleaseKey, error) {
	var k store.ReleaseKey
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT instance_id, name, key_type, sealed_key, release_policy, created_at FROM release_keys WHERE instance_id = ? AND name = ?`,
		instanceID, name).Scan(&k.InstanceID, &k.Name, &k.KeyType, &k.Key, &k.ReleasePolicy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ReleaseKey{}, fmt.Errorf("release key %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.ReleaseKey{}, fmt.Errorf("sqlite: get release key: %w", err)
	}
	k.CreatedAt = fromTS(created)
	return k, nil
}

// ListReleaseKeys implements store.ReleaseKeys.
func (s *Store) ListReleaseKeys(ctx context.Context, instanceID string) ([]store.ReleaseKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT instance_id, name, key_type, sealed_key, release_policy, created_at FROM release_keys WHERE instance_id = ? ORDER BY name`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list release keys: %w", err)
	}
	defer rows.Close()
	var out []store.ReleaseKey
	for rows.Next() {
		var k store.ReleaseKey
		var created int64
		if err := rows.Scan(&k.InstanceID, &k.Name, &k.KeyType, &k.Key, &k.ReleasePolicy, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list release keys: %w", err)
		}
		k.CreatedAt = fromTS(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteReleaseKey implements store.ReleaseKeys.
func (s *Store) DeleteReleaseKey(ctx context.Context, instanceID, name string) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM release_keys WHERE instance_id = ? AND name = ?`, instanceID, name)
		if err != nil {
			return fmt.Errorf("sqlite: delete release key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("release key %q: %w", name, store.ErrNotFound)
		}
		return nil
	})
}
