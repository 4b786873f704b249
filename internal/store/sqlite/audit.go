package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/maat-attest/maat/internal/store"
)

var _ store.AuditLog = (*Store)(nil)

// AppendAudit implements store.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if r.Time.IsZero() {
		r.Time = s.now()
	}
	r.Time = r.Time.UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (at, instance_id, operation, attestation_type, caller_kind, caller_subject,
		caller_object_id, signer, request_id, result, message, before_value, after_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ts(r.Time), r.InstanceID, r.Operation, r.AttestationType, r.CallerKind, r.CallerSubject, r.CallerObjectID, r.Signer,
		r.RequestID, r.Result, r.Message, r.Before, r.After)
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("sqlite: append audit record: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return store.AuditRecord{}, fmt.Errorf("sqlite: append audit record: %w", err)
	}
	return r, nil
}

// ListAudit implements store.AuditLog.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
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
		add("at >= ?", ts(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", ts(f.Until))
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
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit records: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		var at int64
		if err := rows.Scan(&r.ID, &at, &r.InstanceID, &r.Operation, &r.AttestationType, &r.CallerKind, &r.CallerSubject,
			&r.CallerObjectID, &r.Signer, &r.RequestID, &r.Result, &r.Message, &r.Before, &r.After); err != nil {
			return nil, fmt.Errorf("sqlite: list audit records: %w", err)
		}
		r.Time = fromTS(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit records: %w", err)
	}
	return out, nil
}
