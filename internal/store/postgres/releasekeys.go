package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/store"
)

var _ store.ReleaseKeys = (*Store)(nil)

const releaseKeyColumns = `instance_id, name, key_type, sealed_key, release_policy, created_at`

func scanReleaseKey(r pgx.Row) (store.ReleaseKey, error) {
	var k store.ReleaseKey
	err := r.Scan(&k.InstanceID, &k.Name, &k.KeyType, &k.Key, &k.ReleasePolicy, &k.CreatedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	return k, err
}

// CreateReleaseKey implements store.ReleaseKeys.
func (s *Store) CreateReleaseKey(ctx context.Context, k store.ReleaseKey) error {
	return s.withTx(ctx, "create release key", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, k.InstanceID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO release_keys (`+releaseKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.InstanceID, k.Name, k.KeyType, k.Key, k.ReleasePolicy, s.ts())
		if err != nil {
			return fmt.Errorf("release key %q: %w", k.Name, wrapErr("create release key", err))
		}
		return nil
	})
}

// GetReleaseKey implements store.ReleaseKeys.
func (s *Store) GetReleaseKey(ctx context.Context, instanceID, name string) (store.ReleaseKey, error) {
	var k store.ReleaseKey
	err := s.read(ctx, "get release key", func() error {
		var err error
		k, err = scanReleaseKey(s.pool.QueryRow(ctx, `SELECT `+releaseKeyColumns+` FROM release_keys WHERE instance_id = $1 AND name = $2`, instanceID, name))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ReleaseKey{}, fmt.Errorf("release key %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.ReleaseKey{}, wrapErr("get release key", err)
	}
	return k, nil
}

// ListReleaseKeys implements store.ReleaseKeys.
func (s *Store) ListReleaseKeys(ctx context.Context, instanceID string) ([]store.ReleaseKey, error) {
	var out []store.ReleaseKey
	err := s.read(ctx, "list release keys", func() error {
		rows, err := s.pool.Query(ctx, `SELECT `+releaseKeyColumns+` FROM release_keys WHERE instance_id = $1 ORDER BY name`, instanceID)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]store.ReleaseKey(nil), rows, func(r pgx.CollectableRow) (store.ReleaseKey, error) { return scanReleaseKey(r) })
		return err
	})
	if err != nil {
		return nil, wrapErr("list release keys", err)
	}
	return out, nil
}

// DeleteReleaseKey implements store.ReleaseKeys.
func (s *Store) DeleteReleaseKey(ctx context.Context, instanceID, name string) error {
	return s.withTx(ctx, "delete release key", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM release_keys WHERE instance_id = $1 AND name = $2`, instanceID, name)
		if err != nil {
			return wrapErr("delete release key", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("release key %q: %w", name, store.ErrNotFound)
		}
		return nil
	})
}
