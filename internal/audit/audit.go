// Package audit records Maat's audit trail: every management operation
// (policy set/reset, certificate add/remove, signing-key rotate/retire),
// successful or refused, becomes one store.AuditRecord — time, instance,
// operation, attestation type, caller identity, request id, result, policy
// hash or certificate/key identifier before and after — appended to the
// store and written to the log as a structured "audit" event.
//
// The caller's identity travels in the request context: WithSlot makes
// room for it before authentication runs, the authenticator fills it with
// SetCaller, and the Recorder reads it when the operation ends.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"os/user"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
)

// Caller kinds.
const (
	CallerOIDC            = "oidc"            // an OIDC bearer token: Subject (sub), ObjectID (oid)
	CallerDevToken        = "dev-token"       // the --dev bearer token
	CallerUnauthenticated = "unauthenticated" // no or an invalid credential, or authentication disabled
	CallerLocal           = "local"           // the maat CLI on the server's data: Subject is the OS user
	// CallerAttestationToken: a key release, authorized by the attestation
	// token it presents rather than by a management credential.
	CallerAttestationToken = "attestation-token"
)

// Caller is who asked for an operation.
type Caller struct {
	Kind     string
	Subject  string
	ObjectID string
}

type slotKey struct{}

type slot struct {
	mu sync.Mutex
	c  Caller
}

// WithSlot returns ctx with room for the caller of the request.
func WithSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, slotKey{}, &slot{c: Caller{Kind: CallerUnauthenticated}})
}

// SetCaller records the caller in ctx's slot (made by WithSlot); without a
// slot it does nothing.
func SetCaller(ctx context.Context, c Caller) {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok {
		s.mu.Lock()
		s.c = c
		s.mu.Unlock()
	}
}

// CallerOf returns the caller recorded in ctx; without a slot it is an
// unauthenticated caller.
func CallerOf(ctx context.Context) Caller {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.c
	}
	return Caller{Kind: CallerUnauthenticated}
}

// LocalCaller is the OS user running the CLI.
func LocalCaller() Caller {
	c := Caller{Kind: CallerLocal}
	if u, err := user.Current(); err == nil {
		c.Subject = u.Username
	}
	return c
}

// Recorder writes audit records. Fields are set at construction.
type Recorder struct {
	// Store receives the records; nil writes the log event only.
	Store      store.AuditLog
	Log        *slog.Logger
	InstanceID string
	Now        func() time.Time
	// RequestID returns the request id in ctx ("" outside a request).
	RequestID func(ctx context.Context) string
	// Counted, when set, is told of every record (metrics).
	Counted func(operation string, err error)
}

// Result is the result column of an error: "ok", or its MAA error code.
func Result(err error) (result, message string) {
	if err == nil {
		return "ok", ""
	}
	e := maaerr.As(err)
	return string(e.Code), e.Message
}

// Management records an attestation.Management event (its Audit hook).
func (r *Recorder) Management(ctx context.Context, ev attestation.AuditEvent) {
	r.Record(ctx, store.AuditRecord{
		Operation:       ev.Operation,
		AttestationType: string(ev.Type),
		Signer:          ev.Signer,
		Before:          ev.Before,
		After:           ev.After,
	}, CallerOf(ctx), ev.Err)
}

// Record completes rec (time, instance, caller, request id, result) and
// appends it to the store, then logs it. The append survives the request's
// cancellation; a failed append is logged as an error (the operation's own
// outcome does not change: a committed change stays committed).
func (r *Recorder) Record(ctx context.Context, rec store.AuditRecord, c Caller, opErr error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	rec.Time = now().UTC()
	if rec.InstanceID == "" {
		rec.InstanceID = r.InstanceID
	}
	rec.CallerKind, rec.CallerSubject, rec.CallerObjectID = c.Kind, c.Subject, c.ObjectID
	if r.RequestID != nil && rec.RequestID == "" {
		rec.RequestID = r.RequestID(ctx)
	}
	rec.Result, rec.Message = Result(opErr)
	var storeErr error
	if r.Store != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		stored, err := r.Store.AppendAudit(sctx, rec)
		cancel()
		if err == nil {
			rec = stored
		}
		storeErr = err
	}
	if r.Counted != nil {
		r.Counted(rec.Operation, opErr)
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	level := slog.LevelInfo
	if rec.Result != "ok" {
		level = slog.LevelWarn
	}
	log.LogAttrs(ctx, level, "audit",
		slog.Int64("audit_id", rec.ID), slog.String("instance", rec.InstanceID), slog.String("operation", rec.Operation),
		slog.String("attestation_type", rec.AttestationType), slog.String("caller_kind", rec.CallerKind),
		slog.String("caller_subject", rec.CallerSubject), slog.String("caller_oid", rec.CallerObjectID),
		slog.String("signer", rec.Signer), slog.String("request_id", rec.RequestID), slog.String("result", rec.Result),
		slog.String("message", rec.Message), slog.String("before", rec.Before), slog.String("after", rec.After))
	if storeErr != nil {
		log.Error("audit record NOT stored", "operation", rec.Operation, "request_id", rec.RequestID, "err", storeErr)
	}
}

// ErrNoAuditLog is returned when a store keeps no audit trail.
var ErrNoAuditLog = errors.New("audit: this store keeps no audit trail")

// LogOf returns st's audit log, or ErrNoAuditLog.
func LogOf(st store.Store) (store.AuditLog, error) {
	al, ok := st.(store.AuditLog)
	if !ok {
		return nil, ErrNoAuditLog
	}
	return al, nil
}
