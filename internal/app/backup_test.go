package app

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/store"
)

// backupState is what a restore must bring back: the policy, the signing
// keys, the audit trail.
type backupState struct {
	policy string
	kids   []string
	audit  int
}

func stateOf(t *testing.T, r *running) backupState {
	t.Helper()
	ctx := context.Background()
	p, err := r.app.store.GetPolicy(ctx, InstanceID, "SgxEnclave")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := r.app.store.ListSigningKeys(ctx, InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KID+"/"+string(k.State))
	}
	slices.Sort(kids)
	al, _ := audit.LogOf(r.app.store)
	recs, err := al.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return backupState{policy: p.Text, kids: kids, audit: len(recs)}
}

func changeSomething(t *testing.T, r *running) {
	t.Helper()
	_, status := doMgmt(t, "http://"+r.app.HTTPAddr(), mgmtCall{method: "PUT", path: putSGX, bearer: devToken, body: unsignedPolicy(auditPolicy1)})
	if status != 200 {
		t.Fatalf("policy set: %d", status)
	}
	if _, err := r.app.Keys().Rotate(context.Background(), r.app.Issuer()); err != nil {
		t.Fatal(err)
	}
}

func sameState(t *testing.T, got, want backupState) {
	t.Helper()
	if want.policy == "" || len(want.kids) != 2 || want.audit == 0 {
		t.Fatalf("the backed-up state is not what changeSomething made: %+v", want)
	}
	if got.policy != want.policy || !slices.Equal(got.kids, want.kids) || got.audit != want.audit {
		t.Fatalf("restored state %+v, want %+v", got, want)
	}
}

// TestBackupRestoreSQLite is docs/OPERATIONS.md's SQLite procedure: an
// online backup with VACUUM INTO while the server runs, plus the generated
// key-encryption key; restored into an empty data directory, a server
// there has the same policy, signing keys and audit trail.
func TestBackupRestoreSQLite(t *testing.T) {
	cfg := replayConfig(t, "aad")
	r := start(t, cfg)
	changeSomething(t, r)
	want := stateOf(t, r)

	backup := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(cfg.DataDir, "maat.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`VACUUM INTO ?`, filepath.Join(backup, "maat.db")); err != nil {
		t.Fatalf("VACUUM INTO: %v", err)
	}
	db.Close()
	kek, err := os.ReadFile(filepath.Join(cfg.DataDir, GeneratedKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(backup, GeneratedKEKFile), kek, 0o600)
	r.stop(t)

	restored := replayConfig(t, "aad")
	for _, f := range []string{"maat.db", GeneratedKEKFile} {
		b, err := os.ReadFile(filepath.Join(backup, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(restored.DataDir, 0o700)
		if err := os.WriteFile(filepath.Join(restored.DataDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r2 := start(t, restored)
	sameState(t, stateOf(t, r2), want)
}

// TestBackupRestorePostgres is docs/OPERATIONS.md's PostgreSQL procedure:
// pg_dump of Maat's schema, the schema lost, pg_restore, a server started
// on it (same KEK) has the same policy, signing keys and audit trail.
func TestBackupRestorePostgres(t *testing.T) {
	dsn, schema := pgSchema(t)
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	cfg := replayConfig(t, "aad")
	cfg.Store, cfg.StoreSchema, cfg.KeyEncryption = dsn, schema, sharedKEKFile(t, schema)
	r := start(t, cfg)
	changeSomething(t, r)
	want := stateOf(t, r)

	dump := filepath.Join(t.TempDir(), "maat.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--schema="+schema, "--file="+dump, dsn).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	r.stop(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	if out, err := exec.Command("pg_restore", "--dbname="+dsn, "--exit-on-error", dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, strings.TrimSpace(string(out)))
	}

	restored := replayConfig(t, "aad")
	restored.Store, restored.StoreSchema, restored.KeyEncryption = dsn, schema, cfg.KeyEncryption
	r2 := start(t, restored)
	sameState(t, stateOf(t, r2), want)
}
