// Package postgres implements store.Store on PostgreSQL (github.com/jackc/pgx/v5
// with pgxpool), so that several stateless maat replicas can share one
// database. Its semantics are those of the SQLite store (the reference) and it
// passes the same conformance suite (storetest).
//
// Migrations are embedded (migrations/NNNN_*.sql), applied in order inside
// one transaction under a PostgreSQL advisory lock, and recorded in a
// schema_version table, so replicas starting together on an empty database
// migrate exactly once; a database migrated by a newer maat is refused with
// store.ErrSchemaTooNew.
//
// Concurrency: every mutating transaction first bumps the instance's
// generation (UPDATE instances ... WHERE id = $1), which takes the instance
// row lock; all changes of one instance are therefore serialised, and the
// optimistic-concurrency checks that follow (policy versions, last
// certificate, one active key) read committed state under that lock. The
// partial unique index on active signing keys backs this up in the database
// itself. Unique violations, serialization failures and deadlocks are
// reported as store.ErrConflict.
//
// Change notification: the same transaction calls pg_notify on the store's
// channel with the payload "<instance id>:<generation>", delivered to
// listeners when (and only if) it commits. Store.Watch listens for them.
//
// Connection pooling proxies: Watch needs a session-level connection
// (LISTEN does not work through PgBouncer in transaction mode), and the pool
// uses prepared statements; point the DSN at PostgreSQL itself or at a
// session-mode pooler.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/maat-attest/maat/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DefaultChannel is the LISTEN/NOTIFY channel used when Options.Schema is
// empty. With a schema, the channel is derived from it (see Store.Channel),
// so that deployments sharing one database in different schemas do not see
// each other's notifications.
const DefaultChannel = "maat_changes"

// advisoryLockClass is the first key of the advisory lock taken while
// migrating ('MAAT' in ASCII); the second is hashtext(schema).
const advisoryLockClass int32 = 0x4d414154

// readCommitted is the isolation every transaction asks for explicitly: the
// locking scheme (bump first, then read) relies on each statement seeing
// what was committed before it, and a stricter database default
// (default_transaction_isolation) would turn every concurrent change of an
// instance into a serialization failure.
var readCommitted = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1: longer identifiers are
// silently truncated by the server, so we refuse them instead.
const maxIdentifierLen = 63

// Options configures Open. The zero value is valid: default search_path,
// pgxpool's default pool size, time.Now, no logging.
type Options struct {
	// Now is the clock for timestamps; time.Now when nil. Timestamps are
	// stored with microsecond precision (PostgreSQL timestamptz).
	Now func() time.Time
	// Schema, when non-empty, is created if missing (under the migration
	// lock) and becomes the search_path of every connection, so all tables
	// live in it. Tests use a fresh schema per run; deployments may use one
	// to share a database. At most 63 bytes.
	Schema string
	// MaxConns caps the connection pool; 0 keeps pgxpool's default (the
	// DSN's pool_max_conns, else max(4, GOMAXPROCS)).
	MaxConns int32
	// Logger receives warnings about lost connections (Watch reconnecting,
	// the pool being reset after a restart); nil discards them. Messages
	// never contain the DSN's password.
	Logger *slog.Logger
}

// Store is a store.Store backed by a PostgreSQL database (or one schema of
// it). It is safe for concurrent use by many goroutines and many processes.
type Store struct {
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig // template for Watch's dedicated connections
	schema   string
	channel  string
	watchApp string // application_name of Watch's connections
	now      func() time.Time
	log      *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at dsn (a postgres:// URL or a
// key=value connection string, as pgx accepts), creates Options.Schema if set
// and migrates it to the newest schema. It returns store.ErrSchemaTooNew
// (wrapped) when the schema was written by a newer Maat, and other errors
// when the DSN is invalid or the database cannot be reached or migrated
// before ctx ends. Open does not retry: callers that start before the
// database is up should retry Open.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if len(opts.Schema) > maxIdentifierLen || strings.ContainsRune(opts.Schema, 0) {
		return nil, fmt.Errorf("postgres: invalid schema name %q (at most %d bytes, no NUL)", opts.Schema, maxIdentifierLen)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts the password in ParseConfigError.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	params := cfg.ConnConfig.RuntimeParams
	if opts.Schema != "" {
		params["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	if params["application_name"] == "" {
		params["application_name"] = "maat"
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	s := &Store{
		connCfg: cfg.ConnConfig.Copy(),
		schema:  opts.Schema,
		channel: channelFor(opts.Schema),
		now:     opts.Now,
		log:     opts.Logger,
	}
	s.watchApp = truncate(params["application_name"]+" watch "+s.channel, maxIdentifierLen)
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

func channelFor(schema string) string {
	if schema == "" {
		return DefaultChannel
	}
	c := DefaultChannel + "." + schema
	if len(c) > maxIdentifierLen {
		sum := sha256.Sum256([]byte(schema))
		c = DefaultChannel + "." + hex.EncodeToString(sum[:12])
	}
	return c
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Channel returns the LISTEN/NOTIFY channel this store notifies on.
func (s *Store) Channel() string { return s.channel }

func loadMigrations() ([]store.Migration, error) {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema to the newest version in one transaction. The
// transaction-scoped advisory lock makes concurrent migrators (replicas
// starting together) queue; each later one then sees the committed
// schema_version (READ COMMITTED takes a new snapshot per statement) and has
// nothing left to do. The lock is released by commit or rollback, also when
// the process dies mid-migration, and DDL is transactional, so a crash
// leaves the schema either untouched or fully migrated.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, advisoryLockClass, s.schema); err != nil {
		return fmt.Errorf("postgres: migrate: advisory lock: %w", err)
	}
	if s.schema != "" {
		// Check first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege
		// on the database even when the schema exists.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&exists); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
				return fmt.Errorf("postgres: create schema %q: %w", s.schema, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("%w (database has version %d, this binary knows up to %d)", store.ErrSchemaTooNew, current, len(ms))
	}
	if current == len(ms) {
		return nil // nothing to do; the deferred rollback releases the lock
	}
	for _, m := range ms[current:] {
		// No arguments: pgx uses the simple protocol, which allows several
		// statements in one Exec.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: commit: %w", err)
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read(ctx, "ping", func() error { return s.pool.Ping(ctx) }); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close implements store.Store. It waits for acquired connections to be
// released; Watch uses its own connection and stops only when its context
// ends.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// ts is the current time as stored: UTC, truncated to timestamptz's
// microseconds so that what a write returns equals what a read returns.
func (s *Store) ts() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// wrapErr prefixes err with the operation and makes unique violations,
// serialization failures and deadlocks match store.ErrConflict.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", // unique_violation
			"40001", // serialization_failure
			"40P01": // deadlock_detected
			return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrConflict, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// withTx runs fn in a READ COMMITTED transaction and commits it. fn is
// expected to call bump first, which serialises it with every other change
// of the same instance. If PostgreSQL dropped the connection before COMMIT
// was sent (a restart or failover leaves every pooled connection dead), the
// transaction cannot have committed, so withTx resets the pool and runs it
// once more on a fresh connection; fn must therefore be safe to rerun. A
// failure of COMMIT itself is never retried: its outcome is unknown.
func (s *Store) withTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	sentCommit, err := s.tx(ctx, op, fn)
	if err == nil || sentCommit || !s.shouldRetry(ctx, op, err) {
		return err
	}
	_, err = s.tx(ctx, op, fn)
	return err
}

func (s *Store) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) (sentCommit bool, err error) {
	tx, err := s.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return false, wrapErr(op+": begin", err)
	}
	defer tx.Rollback(context.Background()) // no-op after Commit
	if err := fn(tx); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return true, wrapErr(op+": commit", err)
	}
	return true, nil
}

// read runs an idempotent read, once more on a fresh connection if the
// first attempt failed because PostgreSQL dropped the connection.
func (s *Store) read(ctx context.Context, op string, fn func() error) error {
	err := fn()
	if err == nil || !s.shouldRetry(ctx, op, err) {
		return err
	}
	return fn()
}

// shouldRetry reports whether err means the connection was lost (see
// connLost) and ctx still allows a retry; if so it resets the pool, because
// a connection dropped by a restart means every idle one is dead too, and
// pgxpool only pings connections idle for more than a second.
func (s *Store) shouldRetry(ctx context.Context, op string, err error) bool {
	if ctx.Err() != nil || !connLost(err) {
		return false
	}
	s.log.Warn("postgres: connection lost; resetting the pool and retrying once", "op", op, "err", err)
	s.pool.Reset()
	return true
}

// connLost reports whether err says the server closed or refused the
// session (shutdown, restart, pg_terminate_backend, network reset) rather
// than rejecting the statement.
func connLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: pg_terminate_backend, smart/fast shutdown
			"57P02", // crash_shutdown
			"57P03": // cannot_connect_now: starting up or shutting down
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception class
	}
	return pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// bump increments the instance's generation inside tx, taking the instance
// row lock until tx ends, and queues the change notification (sent by
// PostgreSQL at commit, dropped at rollback). ErrNotFound if the instance
// does not exist. Statements after bump see everything committed before the
// lock was granted.
func (s *Store) bump(ctx context.Context, tx pgx.Tx, instanceID string) error {
	var gen int64
	err := tx.QueryRow(ctx, `WITH b AS (
			UPDATE instances SET generation = generation + 1, updated_at = $2 WHERE id = $1 RETURNING id, generation)
		SELECT b.generation, pg_notify($3, b.id || ':' || b.generation) FROM b`,
		instanceID, s.ts(), s.channel).Scan(&gen, nil)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
	}
	if err != nil {
		return wrapErr("bump generation", err)
	}
	return nil
}

// CreateInstance implements store.Store.
func (s *Store) CreateInstance(ctx context.Context, inst store.Instance) error {
	if !inst.Mode.Valid() {
		return fmt.Errorf("postgres: invalid mode %q", inst.Mode)
	}
	now := s.ts()
	// An explicit transaction (not an implicit one-statement one) so that
	// withTx may retry it after a lost connection without turning a
	// committed first attempt into a spurious ErrConflict.
	err := s.withTx(ctx, "create instance", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH i AS (
				INSERT INTO instances (id, issuer, mode, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id, generation)
			SELECT pg_notify($5, i.id || ':' || i.generation) FROM i`,
			inst.ID, inst.Issuer, string(inst.Mode), now, s.channel)
		return wrapErr("create instance", err)
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("instance %q: %w", inst.ID, err)
	}
	return err
}

// GetInstance implements store.Store.
func (s *Store) GetInstance(ctx context.Context, id string) (store.Instance, error) {
	var inst store.Instance
	var mode string
	err := s.read(ctx, "get instance", func() error {
		return s.pool.QueryRow(ctx, `SELECT id, issuer, mode, created_at, updated_at FROM instances WHERE id = $1`, id).
			Scan(&inst.ID, &inst.Issuer, &mode, &inst.CreatedAt, &inst.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Instance{}, fmt.Errorf("instance %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Instance{}, wrapErr("get instance", err)
	}
	inst.Mode = store.Mode(mode)
	inst.CreatedAt, inst.UpdatedAt = inst.CreatedAt.UTC(), inst.UpdatedAt.UTC()
	return inst, nil
}

// UpdateInstance implements store.Store.
func (s *Store) UpdateInstance(ctx context.Context, inst store.Instance) error {
	if !inst.Mode.Valid() {
		return fmt.Errorf("postgres: invalid mode %q", inst.Mode)
	}
	return s.withTx(ctx, "update instance", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, inst.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE instances SET issuer = $2, mode = $3 WHERE id = $1`, inst.ID, inst.Issuer, string(inst.Mode)); err != nil {
			return wrapErr("update instance", err)
		}
		return nil
	})
}

// Generation implements store.Store.
func (s *Store) Generation(ctx context.Context, instanceID string) (int64, error) {
	var g int64
	err := s.read(ctx, "generation", func() error {
		return s.pool.QueryRow(ctx, `SELECT generation FROM instances WHERE id = $1`, instanceID).Scan(&g)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
	}
	if err != nil {
		return 0, wrapErr("generation", err)
	}
	return g, nil
}

const policyCols = `instance_id, attestation_type, jws, text, signer_cert, version, updated_at`

func scanPolicy(row pgx.Row) (store.Policy, error) {
	var p store.Policy
	err := row.Scan(&p.InstanceID, &p.AttestationType, &p.JWS, &p.Text, &p.SignerCertDER, &p.Version, &p.UpdatedAt)
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, err
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, instanceID, attestationType string) (store.Policy, error) {
	var p store.Policy
	err := s.read(ctx, "get policy", func() (err error) {
		p, err = scanPolicy(s.pool.QueryRow(ctx, `SELECT `+policyCols+` FROM policies WHERE instance_id = $1 AND attestation_type = $2`, instanceID, attestationType))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Policy{}, fmt.Errorf("policy %s/%s: %w", instanceID, attestationType, store.ErrNotFound)
	}
	if err != nil {
		return store.Policy{}, wrapErr("get policy", err)
	}
	return p, nil
}

// ListPolicies implements store.Store (nil when there are none). Policies are ordered by attestation
// type in byte order (COLLATE "C", as SQLite), whatever the database's
// collation.
func (s *Store) ListPolicies(ctx context.Context, instanceID string) ([]store.Policy, error) {
	var out []store.Policy
	err := s.read(ctx, "list policies", func() error {
		rows, err := s.pool.Query(ctx, `SELECT `+policyCols+` FROM policies WHERE instance_id = $1 ORDER BY attestation_type COLLATE "C"`, instanceID)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]store.Policy(nil), rows, func(r pgx.CollectableRow) (store.Policy, error) { return scanPolicy(r) })
		return err
	})
	if err != nil {
		return nil, wrapErr("list policies", err)
	}
	return out, nil
}

// currentPolicyVersion returns the version of the stored policy (0 if none)
// and the highest version ever used (for continuing after a delete). Call it
// after bump, so that it reads under the instance lock.
func currentPolicyVersion(ctx context.Context, tx pgx.Tx, instanceID, typ string) (cur, last int64, err error) {
	err = tx.QueryRow(ctx, `SELECT
			COALESCE((SELECT version FROM policies WHERE instance_id = $1 AND attestation_type = $2), 0),
			COALESCE((SELECT version FROM policy_versions WHERE instance_id = $1 AND attestation_type = $2), 0)`,
		instanceID, typ).Scan(&cur, &last)
	if err != nil {
		return 0, 0, wrapErr("policy version", err)
	}
	return cur, max(cur, last), nil
}

// PutPolicy implements store.Store.
func (s *Store) PutPolicy(ctx context.Context, p store.Policy, expectedVersion int64) (store.Policy, error) {
	err := s.withTx(ctx, "put policy", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, p.InstanceID); err != nil {
			return err
		}
		cur, last, err := currentPolicyVersion(ctx, tx, p.InstanceID, p.AttestationType)
		if err != nil {
			return err
		}
		if cur != expectedVersion {
			return fmt.Errorf("policy %s/%s is at version %d, not %d: %w", p.InstanceID, p.AttestationType, cur, expectedVersion, store.ErrConflict)
		}
		p.Version = last + 1
		p.UpdatedAt = s.ts()
		// Both upserts in one statement (data-modifying CTEs always run).
		if _, err := tx.Exec(ctx, `WITH v AS (
				INSERT INTO policy_versions (instance_id, attestation_type, version) VALUES ($1, $2, $6)
				ON CONFLICT (instance_id, attestation_type) DO UPDATE SET version = excluded.version)
			INSERT INTO policies (`+policyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (instance_id, attestation_type) DO UPDATE SET jws = excluded.jws, text = excluded.text,
				signer_cert = excluded.signer_cert, version = excluded.version, updated_at = excluded.updated_at`,
			p.InstanceID, p.AttestationType, p.JWS, p.Text, p.SignerCertDER, p.Version, p.UpdatedAt); err != nil {
			return wrapErr("put policy", err)
		}
		return nil
	})
	if err != nil {
		return store.Policy{}, err
	}
	return p, nil
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(ctx context.Context, instanceID, attestationType string, expectedVersion int64) error {
	return s.withTx(ctx, "delete policy", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		cur, _, err := currentPolicyVersion(ctx, tx, instanceID, attestationType)
		if err != nil {
			return err
		}
		if cur != expectedVersion {
			return fmt.Errorf("policy %s/%s is at version %d, not %d: %w", instanceID, attestationType, cur, expectedVersion, store.ErrConflict)
		}
		if cur == 0 {
			return nil
		}
		// policy_versions keeps cur, so the next PutPolicy continues after it.
		if _, err := tx.Exec(ctx, `DELETE FROM policies WHERE instance_id = $1 AND attestation_type = $2`, instanceID, attestationType); err != nil {
			return wrapErr("delete policy", err)
		}
		return nil
	})
}

// ListPolicyCertificates implements store.Store.
func (s *Store) ListPolicyCertificates(ctx context.Context, instanceID string) ([]store.PolicyCertificate, error) {
	var out []store.PolicyCertificate
	err := s.read(ctx, "list certificates", func() error {
		rows, err := s.pool.Query(ctx, `SELECT instance_id, thumbprint, der, added_at FROM policy_certificates WHERE instance_id = $1 ORDER BY seq`, instanceID)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]store.PolicyCertificate(nil), rows, func(r pgx.CollectableRow) (store.PolicyCertificate, error) {
			var c store.PolicyCertificate
			err := r.Scan(&c.InstanceID, &c.Thumbprint, &c.DER, &c.AddedAt)
			c.AddedAt = c.AddedAt.UTC()
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, wrapErr("list certificates", err)
	}
	return out, nil
}

// AddPolicyCertificate implements store.Store.
func (s *Store) AddPolicyCertificate(ctx context.Context, c store.PolicyCertificate) error {
	return s.withTx(ctx, "add certificate", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, c.InstanceID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO policy_certificates (instance_id, thumbprint, der, added_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (instance_id, thumbprint) DO NOTHING`, c.InstanceID, c.Thumbprint, c.DER, s.ts()); err != nil {
			return wrapErr("add certificate", err)
		}
		return nil
	})
}

// RemovePolicyCertificate implements store.Store. The count and the delete
// run under the instance lock, so two concurrent removals of the last two
// certificates cannot both succeed.
func (s *Store) RemovePolicyCertificate(ctx context.Context, instanceID, thumbprint string) error {
	return s.withTx(ctx, "remove certificate", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		var total, present int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE thumbprint = $2) FROM policy_certificates WHERE instance_id = $1`,
			instanceID, thumbprint).Scan(&total, &present); err != nil {
			return wrapErr("remove certificate", err)
		}
		if present == 0 {
			return nil
		}
		if total == 1 {
			return store.ErrLastCertificate
		}
		if _, err := tx.Exec(ctx, `DELETE FROM policy_certificates WHERE instance_id = $1 AND thumbprint = $2`, instanceID, thumbprint); err != nil {
			return wrapErr("remove certificate", err)
		}
		return nil
	})
}

// ListSigningKeys implements store.Store.
func (s *Store) ListSigningKeys(ctx context.Context, instanceID string) ([]store.SigningKey, error) {
	var out []store.SigningKey
	err := s.read(ctx, "list keys", func() error {
		rows, err := s.pool.Query(ctx, `SELECT instance_id, kid, private_key, cert_der, state, created_at, activated_at, retired_at
			FROM signing_keys WHERE instance_id = $1 ORDER BY seq`, instanceID)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]store.SigningKey(nil), rows, func(r pgx.CollectableRow) (store.SigningKey, error) {
			var k store.SigningKey
			var state string
			var activated, retired *time.Time
			err := r.Scan(&k.InstanceID, &k.KID, &k.PrivateKey, &k.CertDER, &state, &k.CreatedAt, &activated, &retired)
			k.State = store.KeyState(state)
			k.CreatedAt, k.ActivatedAt, k.RetiredAt = k.CreatedAt.UTC(), utc(activated), utc(retired)
			return k, err
		})
		return err
	})
	if err != nil {
		return nil, wrapErr("list keys", err)
	}
	return out, nil
}

// AddSigningKey implements store.Store. The active-key check runs under the
// instance lock; the partial unique index signing_keys_one_active makes a
// second active key impossible even for a writer that bypassed it.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, opts store.AddKeyOptions) error {
	return s.withTx(ctx, "add key", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, k.InstanceID); err != nil {
			return err
		}
		now := s.ts()
		var active bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE instance_id = $1 AND state = 'active')`, k.InstanceID).Scan(&active); err != nil {
			return wrapErr("add key", err)
		}
		if opts.OnlyIfNoActive && active {
			return fmt.Errorf("instance %q already has an active signing key: %w", k.InstanceID, store.ErrConflict)
		}
		state, activated := store.KeyPublished, (*time.Time)(nil)
		if opts.Activate {
			state, activated = store.KeyActive, &now
			if active {
				if _, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'published' WHERE instance_id = $1 AND state = 'active'`, k.InstanceID); err != nil {
					return wrapErr("add key", err)
				}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (instance_id, kid, private_key, cert_der, state, created_at, activated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.InstanceID, k.KID, k.PrivateKey, k.CertDER, string(state), now, activated); err != nil {
			err = wrapErr("add key", err)
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("signing key %q: %w", k.KID, err)
			}
			return err
		}
		return nil
	})
}

// RetireSigningKey implements store.Store.
func (s *Store) RetireSigningKey(ctx context.Context, instanceID, kid string) error {
	return s.withTx(ctx, "retire key", func(tx pgx.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM signing_keys WHERE instance_id = $1 AND kid = $2`, instanceID, kid).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("signing key %q: %w", kid, store.ErrNotFound)
		}
		if err != nil {
			return wrapErr("retire key", err)
		}
		if state == string(store.KeyActive) {
			return fmt.Errorf("signing key %q is the active key; rotate first: %w", kid, store.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = $3 WHERE instance_id = $1 AND kid = $2`,
			instanceID, kid, s.ts()); err != nil {
			return wrapErr("retire key", err)
		}
		return nil
	})
}

// ResealSigningKeys implements store.Store. It locks the instance row
// without bumping the generation (the keys do not change), which
// serialises it with every other change of the instance.
func (s *Store) ResealSigningKeys(ctx context.Context, instanceID string, changes []store.KeyReseal) error {
	return s.withTx(ctx, "reseal keys", func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM instances WHERE id = $1 FOR UPDATE`, instanceID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
		}
		if err != nil {
			return wrapErr("reseal keys", err)
		}
		for _, c := range changes {
			tag, err := tx.Exec(ctx, `UPDATE signing_keys SET private_key = $4 WHERE instance_id = $1 AND kid = $2 AND private_key = $3`,
				instanceID, c.KID, c.Old, c.New)
			if err != nil {
				return wrapErr("reseal keys", err)
			}
			if tag.RowsAffected() == 1 {
				continue
			}
			err = tx.QueryRow(ctx, `SELECT 1 FROM signing_keys WHERE instance_id = $1 AND kid = $2`, instanceID, c.KID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("signing key %q: %w", c.KID, store.ErrNotFound)
			}
			if err != nil {
				return wrapErr("reseal keys", err)
			}
			return fmt.Errorf("signing key %q changed since it was read: %w", c.KID, store.ErrConflict)
		}
		return nil
	})
}
