package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/store"
)

// ApplyManagementJWS implements store.Store. It runs under the instance
// lock (bump), so concurrent requests of one instance apply in one order.
func (s *Store) ApplyManagementJWS(ctx context.Context, j store.ManagementJWS) error {
	return s.withTx(ctx, "management request", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, j.InstanceID); err != nil {
			return err
		}
		var current bool
		err := tx.QueryRow(ctx, `SELECT current FROM management_jws WHERE instance_id = $1 AND scope = $2 AND hash = $3`,
			j.InstanceID, j.Scope, j.Hash).Scan(&current)
		switch {
		case err == nil && current:
			return nil
		case err == nil:
			return fmt.Errorf("%s: %w", j.Scope, store.ErrSuperseded)
		case !errors.Is(err, pgx.ErrNoRows):
			return wrapErr("management request", err)
		}
		var issued *time.Time
		if !j.IssuedAt.IsZero() {
			t := j.IssuedAt.UTC().Truncate(time.Microsecond)
			issued = &t
			var newest *time.Time
			if err := tx.QueryRow(ctx, `SELECT MAX(issued_at) FROM management_jws WHERE instance_id = $1 AND scope = $2`,
				j.InstanceID, j.Scope).Scan(&newest); err != nil {
				return wrapErr("management request", err)
			}
			if newest != nil && newest.After(t) {
				return fmt.Errorf("%s: iat %s is older than the request in force (%s): %w", j.Scope, t.Format("2006-01-02T15:04:05Z"), newest.UTC().Format("2006-01-02T15:04:05Z"), store.ErrSuperseded)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE management_jws SET current = false WHERE instance_id = $1 AND scope = $2 AND current`, j.InstanceID, j.Scope); err != nil {
			return wrapErr("management request", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO management_jws (instance_id, scope, hash, issued_at, applied_at, current) VALUES ($1, $2, $3, $4, $5, true)`,
			j.InstanceID, j.Scope, j.Hash, issued, s.ts()); err != nil {
			return wrapErr("management request", err)
		}
		return nil
	})
}
