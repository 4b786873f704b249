package store

import (
	"context"
	"time"
)

// AuditRecord is one management operation, successful or refused, as the
// audit trail keeps it. Records are append-only: no API updates or deletes
// them.
type AuditRecord struct {
	// ID is assigned by the store, increasing in append order.
	ID         int64
	Time       time.Time
	InstanceID string
	// Operation is what was attempted: policy.set, policy.reset,
	// certificate.add, certificate.remove, key.rotate, key.retire.
	Operation string
	// AttestationType is the policy's type ("" for certificates and keys).
	AttestationType string
	// Caller identity: Kind is oidc, dev-token, unauthenticated or local;
	// Subject is the OIDC sub (or the OS user for local); ObjectID the
	// Entra ID oid; Signer the SHA-1 thumbprint (uppercase hex) of the
	// certificate that signed the management JWS, when it was signed.
	CallerKind     string
	CallerSubject  string
	CallerObjectID string
	Signer         string
	// RequestID is the x-ms-request-id of the HTTP request ("" for CLI).
	RequestID string
	// Result is "ok" or the MAA error code returned; Message the error
	// message sent to the caller.
	Result  string
	Message string
	// Before and After are the policy hash (base64url SHA-256 of the policy
	// text, as x-ms-policy-hash) or the certificate / key identifier
	// before and after the operation ("" for none).
	Before string
	After  string
}

// AuditFilter selects audit records; zero fields match everything. Records
// come oldest first.
type AuditFilter struct {
	InstanceID      string
	Operation       string
	AttestationType string
	Result          string // "ok", or an error code; "failed" matches every error
	Since, Until    time.Time
	// AfterID returns records with ID > AfterID (paging).
	AfterID int64
	// Limit bounds the answer; 0 means 1000.
	Limit int
}

// AuditLog is the audit trail. The SQL stores implement it alongside Store.
type AuditLog interface {
	// AppendAudit stores r (ID and, when zero, Time are assigned) and
	// returns it as stored; errors wrap the driver's.
	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	// ListAudit returns the records matching f, oldest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
}

// DefaultAuditLimit is ListAudit's limit when the filter sets none.
const DefaultAuditLimit = 1000
