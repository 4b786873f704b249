package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/store"
)

var _ store.AuditLog = (*Store)(nil)

// AppendAudit implements store.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if r.Time.IsZero() {
		r.Time = s.now()
	}
	r.Time = r.Time.UTC().Truncate(1000) // timestamptz keeps microseconds
	err := s.withTx(ctx, "append audit record", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO audit_log (at, instance_id, operation, attestation_type, caller_kind, caller_subject,
			caller_object_id, signer, request_id, result, message, before_value, after_value)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			r.Time, r.InstanceID, r.Operation, r.AttestationType, r.CallerKind, r.CallerSubject, r.CallerObjectID, r.Signer,
			r.RequestID, r.Result, r.Message, r.Before, r.After).Scan(&r.ID)
	})
	if err != nil {
		return store.AuditRecord{}, wrapErr("append audit record", err)
	}
	return r, nil
}

// ListAudit implements store.AuditLog.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.InstanceID != "" {
		add("instance_id = ?", f.InstanceID)
	}
	if f.Operation != "" {
		add("operation = ?", f.Operation)
	}
	if f.AttestationType != "" {
		add("attestation_type = ?", f.AttestationType)
	}
	switch f.Result {
	case "":
	case "failed":
		where = append(where, "result <> 'ok'")
	default:
		add("result = ?", f.Result)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until.UTC())
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultAuditLimit
	}
	q := `SELECT id, at, instance_id, operation, attestation_type, caller_kind, caller_subject, caller_object_id, signer,
		request_id, result, message, before_value, after_value FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	q += " ORDER BY id LIMIT $" + strconv.Itoa(len(args))
	var out []store.AuditRecord
	err := s.read(ctx, "list audit records", func() error {
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]store.AuditRecord(nil), rows, func(row pgx.CollectableRow) (store.AuditRecord, error) {
			var r store.AuditRecord
			err := row.Scan(&r.ID, &r.Time, &r.InstanceID, &r.Operation, &r.AttestationType, &r.CallerKind, &r.CallerSubject,
				&r.CallerObjectID, &r.Signer, &r.RequestID, &r.Result, &r.Message, &r.Before, &r.After)
			r.Time = r.Time.UTC()
			return r, err
		})
		return err
	})
	if err != nil {
		return nil, wrapErr("list audit records", err)
	}
	return out, nil
}
