// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite: pure Go, no cgo) in WAL mode, with embedded ordered
// migrations recorded in a schema_version table.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store backed by one SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// Options configures Open. The zero value is valid.
type Options struct {
	// Now is the clock for timestamps; time.Now when nil.
	Now func() time.Time
}

// Open opens (creating if needed) the database file at path and migrates it
// to the newest schema. The file is created with mode 0600, and an existing
// one (with its -wal and -shm files) loses any group or other access: it
// holds the sealed signing keys and the policies. It returns store.ErrSchemaTooNew (wrapped) when the
// file was written by a newer Maat, and other errors when the file cannot be
// opened or migrated.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := restrictFiles(abs); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + abs + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	// One writer at a time is SQLite's model; a handful of connections lets
	// readers proceed in WAL mode.
	db.SetMaxOpenConns(4)
	s := &Store{db: db, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// restrictFiles creates the database file with mode 0600 if it does not
// exist (SQLite gives its -wal and -shm files the database file's mode) and
// removes group and other access from existing ones.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return fmt.Errorf("sqlite: restrict %s to its owner: %w", p, err)
			}
		}
	}
	return nil
}

func loadMigrations() ([]store.Migration, error) {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
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

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	var current int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("%w (database has version %d, this binary knows up to %d)", store.ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, m.Version); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// withTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it.
func (s *Store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// bump increments the instance's generation inside tx; ErrNotFound if the
// instance does not exist.
func (s *Store) bump(ctx context.Context, tx *sql.Tx, instanceID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE instances SET generation = generation + 1, updated_at = ? WHERE id = ?`, ts(s.now()), instanceID)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
	}
	return nil
}

// CreateInstance implements store.Store.
func (s *Store) CreateInstance(ctx context.Context, inst store.Instance) error {
	if !inst.Mode.Valid() {
		return fmt.Errorf("sqlite: invalid mode %q", inst.Mode)
	}
	now := ts(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, issuer, mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		inst.ID, inst.Issuer, string(inst.Mode), now, now)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("instance %q: %w", inst.ID, store.ErrConflict)
		}
		return fmt.Errorf("sqlite: create instance: %w", err)
	}
	return nil
}

// GetInstance implements store.Store.
func (s *Store) GetInstance(ctx context.Context, id string) (store.Instance, error) {
	var inst store.Instance
	var mode string
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, issuer, mode, created_at, updated_at FROM instances WHERE id = ?`, id).
		Scan(&inst.ID, &inst.Issuer, &mode, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Instance{}, fmt.Errorf("instance %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Instance{}, fmt.Errorf("sqlite: get instance: %w", err)
	}
	inst.Mode = store.Mode(mode)
	inst.CreatedAt, inst.UpdatedAt = fromTS(created), fromTS(updated)
	return inst, nil
}

// UpdateInstance implements store.Store.
func (s *Store) UpdateInstance(ctx context.Context, inst store.Instance) error {
	if !inst.Mode.Valid() {
		return fmt.Errorf("sqlite: invalid mode %q", inst.Mode)
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, inst.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE instances SET issuer = ?, mode = ? WHERE id = ?`, inst.Issuer, string(inst.Mode), inst.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update instance: %w", err)
		}
		return nil
	})
}

// Generation implements store.Store.
func (s *Store) Generation(ctx context.Context, instanceID string) (int64, error) {
	var g int64
	err := s.db.QueryRowContext(ctx, `SELECT generation FROM instances WHERE id = ?`, instanceID).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: generation: %w", err)
	}
	return g, nil
}

const policyCols = `instance_id, attestation_type, jws, text, signer_cert, version, updated_at`

func scanPolicy(row interface{ Scan(...any) error }) (store.Policy, error) {
	var p store.Policy
	var updated int64
	err := row.Scan(&p.InstanceID, &p.AttestationType, &p.JWS, &p.Text, &p.SignerCertDER, &p.Version, &updated)
	p.UpdatedAt = fromTS(updated)
	return p, err
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, instanceID, attestationType string) (store.Policy, error) {
	p, err := scanPolicy(s.db.QueryRowContext(ctx, `SELECT `+policyCols+` FROM policies WHERE instance_id = ? AND attestation_type = ?`, instanceID, attestationType))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Policy{}, fmt.Errorf("policy %s/%s: %w", instanceID, attestationType, store.ErrNotFound)
	}
	if err != nil {
		return store.Policy{}, fmt.Errorf("sqlite: get policy: %w", err)
	}
	return p, nil
}

// ListPolicies implements store.Store.
func (s *Store) ListPolicies(ctx context.Context, instanceID string) ([]store.Policy, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+policyCols+` FROM policies WHERE instance_id = ? ORDER BY attestation_type`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list policies: %w", err)
	}
	defer rows.Close()
	var out []store.Policy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list policies: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// currentPolicyVersion returns the version of the stored policy (0 if none)
// and the highest version ever used (for continuing after a delete).
func currentPolicyVersion(ctx context.Context, tx *sql.Tx, instanceID, typ string) (cur, last int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT version FROM policies WHERE instance_id = ? AND attestation_type = ?`, instanceID, typ).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("sqlite: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT version FROM policy_versions WHERE instance_id = ? AND attestation_type = ?`, instanceID, typ).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("sqlite: %w", err)
	}
	return cur, max(cur, last), nil
}

// PutPolicy implements store.Store.
func (s *Store) PutPolicy(ctx context.Context, p store.Policy, expectedVersion int64) (store.Policy, error) {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
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
		p.UpdatedAt = s.now().UTC()
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (`+policyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (instance_id, attestation_type) DO UPDATE SET jws = excluded.jws, text = excluded.text,
			signer_cert = excluded.signer_cert, version = excluded.version, updated_at = excluded.updated_at`,
			p.InstanceID, p.AttestationType, p.JWS, p.Text, p.SignerCertDER, p.Version, ts(p.UpdatedAt)); err != nil {
			return fmt.Errorf("sqlite: put policy: %w", err)
		}
		return recordPolicyVersion(ctx, tx, p.InstanceID, p.AttestationType, p.Version)
	})
	if err != nil {
		return store.Policy{}, err
	}
	return p, nil
}

func recordPolicyVersion(ctx context.Context, tx *sql.Tx, instanceID, typ string, v int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO policy_versions (instance_id, attestation_type, version) VALUES (?, ?, ?)
		ON CONFLICT (instance_id, attestation_type) DO UPDATE SET version = excluded.version`, instanceID, typ, v)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// DeletePolicy implements store.Store.
func (s *Store) DeletePolicy(ctx context.Context, instanceID, attestationType string, expectedVersion int64) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
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
		if _, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE instance_id = ? AND attestation_type = ?`, instanceID, attestationType); err != nil {
			return fmt.Errorf("sqlite: delete policy: %w", err)
		}
		return nil
	})
}

// ListPolicyCertificates implements store.Store.
func (s *Store) ListPolicyCertificates(ctx context.Context, instanceID string) ([]store.PolicyCertificate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT instance_id, thumbprint, der, added_at FROM policy_certificates WHERE instance_id = ? ORDER BY seq`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list certificates: %w", err)
	}
	defer rows.Close()
	var out []store.PolicyCertificate
	for rows.Next() {
		var c store.PolicyCertificate
		var added int64
		if err := rows.Scan(&c.InstanceID, &c.Thumbprint, &c.DER, &added); err != nil {
			return nil, fmt.Errorf("sqlite: list certificates: %w", err)
		}
		c.AddedAt = fromTS(added)
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddPolicyCertificate implements store.Store.
func (s *Store) AddPolicyCertificate(ctx context.Context, c store.PolicyCertificate) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, c.InstanceID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO policy_certificates (instance_id, thumbprint, der, added_at, seq)
			VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM policy_certificates WHERE instance_id = ?))
			ON CONFLICT (instance_id, thumbprint) DO NOTHING`,
			c.InstanceID, c.Thumbprint, c.DER, ts(s.now()), c.InstanceID)
		if err != nil {
			return fmt.Errorf("sqlite: add certificate: %w", err)
		}
		return nil
	})
}

// RemovePolicyCertificate implements store.Store.
func (s *Store) RemovePolicyCertificate(ctx context.Context, instanceID, thumbprint string) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		var present, total int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(thumbprint = ?), 0) FROM policy_certificates WHERE instance_id = ?`,
			thumbprint, instanceID).Scan(&total, &present); err != nil {
			return fmt.Errorf("sqlite: remove certificate: %w", err)
		}
		if present == 0 {
			return nil
		}
		if total == 1 {
			return store.ErrLastCertificate
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM policy_certificates WHERE instance_id = ? AND thumbprint = ?`, instanceID, thumbprint); err != nil {
			return fmt.Errorf("sqlite: remove certificate: %w", err)
		}
		return nil
	})
}

// ListSigningKeys implements store.Store.
func (s *Store) ListSigningKeys(ctx context.Context, instanceID string) ([]store.SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT instance_id, kid, private_key, cert_der, state, created_at, activated_at, retired_at
		FROM signing_keys WHERE instance_id = ? ORDER BY seq`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var state string
		var created, activated, retired int64
		if err := rows.Scan(&k.InstanceID, &k.KID, &k.PrivateKey, &k.CertDER, &state, &created, &activated, &retired); err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		k.State = store.KeyState(state)
		k.CreatedAt, k.ActivatedAt, k.RetiredAt = fromTS(created), fromTS(activated), fromTS(retired)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSigningKey implements store.Store.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, opts store.AddKeyOptions) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, k.InstanceID); err != nil {
			return err
		}
		now := ts(s.now())
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signing_keys WHERE instance_id = ? AND state = 'active'`, k.InstanceID).Scan(&active); err != nil {
			return fmt.Errorf("sqlite: add key: %w", err)
		}
		if opts.OnlyIfNoActive && active > 0 {
			return fmt.Errorf("instance %q already has an active signing key: %w", k.InstanceID, store.ErrConflict)
		}
		state, activated := store.KeyPublished, int64(0)
		if opts.Activate {
			state, activated = store.KeyActive, now
			if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = 'published' WHERE instance_id = ? AND state = 'active'`, k.InstanceID); err != nil {
				return fmt.Errorf("sqlite: add key: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (instance_id, kid, private_key, cert_der, state, created_at, activated_at, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM signing_keys WHERE instance_id = ?))`,
			k.InstanceID, k.KID, k.PrivateKey, k.CertDER, string(state), now, activated, k.InstanceID)
		if err != nil {
			if isUnique(err) {
				return fmt.Errorf("signing key %q: %w", k.KID, store.ErrConflict)
			}
			return fmt.Errorf("sqlite: add key: %w", err)
		}
		return nil
	})
}

// RetireSigningKey implements store.Store.
func (s *Store) RetireSigningKey(ctx context.Context, instanceID, kid string) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.bump(ctx, tx, instanceID); err != nil {
			return err
		}
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM signing_keys WHERE instance_id = ? AND kid = ?`, instanceID, kid).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("signing key %q: %w", kid, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: retire key: %w", err)
		}
		if state == string(store.KeyActive) {
			return fmt.Errorf("signing key %q is the active key; rotate first: %w", kid, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = ? WHERE instance_id = ? AND kid = ?`,
			ts(s.now()), instanceID, kid); err != nil {
			return fmt.Errorf("sqlite: retire key: %w", err)
		}
		return nil
	})
}

// ResealSigningKeys implements store.Store.
func (s *Store) ResealSigningKeys(ctx context.Context, instanceID string, changes []store.KeyReseal) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM instances WHERE id = ?`, instanceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: reseal keys: %w", err)
		}
		for _, c := range changes {
			res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET private_key = ? WHERE instance_id = ? AND kid = ? AND private_key = ?`,
				c.New, instanceID, c.KID, c.Old)
			if err != nil {
				return fmt.Errorf("sqlite: reseal keys: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				continue
			}
			err = tx.QueryRowContext(ctx, `SELECT 1 FROM signing_keys WHERE instance_id = ? AND kid = ?`, instanceID, c.KID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("signing key %q: %w", c.KID, store.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("sqlite: reseal keys: %w", err)
			}
			return fmt.Errorf("signing key %q changed since it was read: %w", c.KID, store.ErrConflict)
		}
		return nil
	})
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
