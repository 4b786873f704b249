package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/maat-attest/maat/internal/store"
)

// ApplyManagementJWS implements store.Store.
func (s *Store) ApplyManagementJWS(ctx context.Context, j store.ManagementJWS) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, j.InstanceID); err != nil {
			return err
		}
		var current int
		err := tx.QueryRowContext(ctx, `SELECT current FROM management_jws WHERE instance_id = ? AND scope = ? AND hash = ?`,
			j.InstanceID, j.Scope, j.Hash).Scan(&current)
		switch {
		case err == nil && current == 1:
			return nil
		case err == nil:
			return fmt.Errorf("%s: %w", j.Scope, store.ErrSuperseded)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: management request: %w", err)
		}
		if !j.IssuedAt.IsZero() {
			var newest int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(issued_at), 0) FROM management_jws WHERE instance_id = ? AND scope = ?`,
				j.InstanceID, j.Scope).Scan(&newest); err != nil {
				return fmt.Errorf("sqlite: management request: %w", err)
			}
			if newest > ts(j.IssuedAt) {
				return fmt.Errorf("%s: iat %s is older than the request in force (%s): %w", j.Scope, j.IssuedAt.UTC().Format("2006-01-02T15:04:05Z"), fromTS(newest).Format("2006-01-02T15:04:05Z"), store.ErrSuperseded)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE management_jws SET current = 0 WHERE instance_id = ? AND scope = ? AND current = 1`, j.InstanceID, j.Scope); err != nil {
			return fmt.Errorf("sqlite: management request: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO management_jws (instance_id, scope, hash, issued_at, applied_at, current) VALUES (?, ?, ?, ?, ?, 1)`,
			j.InstanceID, j.Scope, j.Hash, ts(j.IssuedAt), ts(s.now())); err != nil {
			return fmt.Errorf("sqlite: management request: %w", err)
		}
		return nil
	})
}
