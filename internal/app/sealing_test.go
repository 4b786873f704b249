package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/postgres"
	"github.com/maat-attest/maat/internal/store/sqlite"
)

// storedKeys opens the SQLite database of a stopped server and returns its
// signing keys, private parts as stored.
func storedKeys(t *testing.T, dir string) []store.SigningKey {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "maat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := st.ListSigningKeys(context.Background(), InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func requireSealed(t *testing.T, ks []store.SigningKey) {
	t.Helper()
	if len(ks) == 0 {
		t.Fatal("no signing key stored")
	}
	for _, k := range ks {
		if keys.IsPlaintext(k.PrivateKey) || !bytes.HasPrefix(k.PrivateKey, []byte("aes256gcm-v2:")) {
			t.Errorf("key %s is stored as %q…, want sealed (aes256gcm-v2)", k.KID, k.PrivateKey[:min(14, len(k.PrivateKey))])
		}
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestFreshInstanceSealsKeys: a first start on SQLite with no KEK
// configured generates one (0600) in the data directory, seals the signing
// key under it, and keeps the database files 0600, even in a data directory
// the operator made 0755.
func TestFreshInstanceSealsKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	r := start(t, testConfig(dir))
	if runtime.GOOS != "windows" {
		for _, f := range []string{"maat.db", "maat.db-wal", "maat.db-shm", GeneratedKEKFile} {
			if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
				t.Errorf("%s has mode %04o, want 0600", f, m)
			}
		}
	}
	r.stop(t)
	requireSealed(t, storedKeys(t, dir))
	// The server restarts on its generated key and signs with the same key.
	kek, _ := os.ReadFile(filepath.Join(dir, GeneratedKEKFile))
	r = start(t, testConfig(dir))
	kid := r.app.Keys().Current().Active.KID
	r.stop(t)
	if again, _ := os.ReadFile(filepath.Join(dir, GeneratedKEKFile)); !bytes.Equal(kek, again) {
		t.Fatal("the generated key-encryption key changed on restart")
	}
	if ks := storedKeys(t, dir); len(ks) != 1 || ks[0].KID != kid {
		t.Fatalf("after restart: %d keys, want the one key %s", len(ks), kid)
	}
}

// TestUpgradeResealsPlainKeys is the upgrade from a Maat that stored keys
// in plaintext: the data directory holds a plain key; a start with a
// configured KEK seals it (same kid, still signing), and so does a start
// with the generated KEK.
func TestUpgradeResealsPlainKeys(t *testing.T) {
	for _, configured := range []bool{true, false} {
		dir := t.TempDir()
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "maat.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateInstance(ctx, store.Instance{ID: InstanceID, Issuer: "https://maat.upgrade.example", Mode: store.ModeAAD}); err != nil {
			t.Fatal(err)
		}
		old := keys.NewManager(st, InstanceID, keys.PlainSealer{}, nil, nil)
		if _, err := old.EnsureActive(ctx, "https://maat.upgrade.example"); err != nil {
			t.Fatal(err)
		}
		oldKID := old.Current().Active.KID
		st.Close()
		if ks := storedKeys(t, dir); !keys.IsPlaintext(ks[0].PrivateKey) {
			t.Fatal("setup: the old key is not plaintext")
		}

		cfg := testConfig(dir)
		cfg.Issuer = "https://maat.upgrade.example"
		if configured {
			cfg.KeyEncryption = filepath.Join(t.TempDir(), "kek")
			if err := keys.GenerateKeyEncryptionKeyFile(cfg.KeyEncryption); err != nil {
				t.Fatal(err)
			}
		}
		r := start(t, cfg)
		var set jose.JWKSet
		getJSON(t, http.DefaultClient, "http://"+r.app.HTTPAddr()+"/certs", &set)
		r.stop(t)
		if got := kids(set); len(got) != 1 || got[0] != oldKID {
			t.Fatalf("configured=%v: /certs lists %v, want the upgraded key %s", configured, got, oldKID)
		}
		ks := storedKeys(t, dir)
		requireSealed(t, ks)
		if _, err := os.Stat(filepath.Join(dir, GeneratedKEKFile)); configured == (err == nil) {
			t.Errorf("configured=%v: generated KEK file present = %v", configured, err == nil)
		}
	}
}

// TestKEKFilePermissions: a KEK file its group or others can read is
// refused at start, with advice; the override accepts it.
func TestKEKFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	kek := filepath.Join(t.TempDir(), "kek")
	if err := keys.GenerateKeyEncryptionKeyFile(kek); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kek, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.KeyEncryption = kek
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		a.Close()
		t.Fatal("a 0644 key-encryption key file was accepted")
	}
	if !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("error %q does not say what is wrong and how to fix it", err)
	}
	cfg.AllowInsecureKeyFilePermissions = true
	start(t, cfg).stop(t)
}

// TestPostgresNeedsKEK: a shared PostgreSQL store without a KEK refuses to
// start unless allow-plaintext-keys opts out, which is logged as a warning.
func TestPostgresNeedsKEK(t *testing.T) {
	dsn, schema := pgSchema(t)
	cfg := replicaConfig(t, dsn, schema)
	cfg.KeyEncryption = ""
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		a.Close()
		t.Fatal("PostgreSQL store without a key-encryption key started")
	}
	if !strings.Contains(err.Error(), "key-encryption-key-file") || !strings.Contains(err.Error(), "allow-plaintext-keys") {
		t.Fatalf("error %q does not name the fix", err)
	}
	// The refusal comes from configuration validation, before the store is touched,
	// and Sealer refuses on its own too (for `maat keys`).
	if _, err := Sealer(cfg, nil); err == nil {
		t.Fatal("Sealer accepted a PostgreSQL store without a KEK")
	}

	cfg.AllowPlaintextKeys = true
	var logs bytes.Buffer
	a, err = New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard)
	if err != nil {
		t.Fatalf("opted-out start: %v", err)
	}
	a.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "UNENCRYPTED") {
		t.Fatalf("the opt-out was not logged loudly:\n%s", logs.String())
	}

	// With a KEK, the plaintext key left by the opted-out run is sealed.
	cfg.AllowPlaintextKeys = false
	cfg.KeyEncryption = sharedKEKFile(t, schema)
	start(t, cfg).stop(t)
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks, err := st.ListSigningKeys(context.Background(), InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	requireSealed(t, ks)
}
