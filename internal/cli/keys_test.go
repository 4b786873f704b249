package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
)

// TestKeysRotateKEK: on a data directory whose keys are sealed under the
// generated KEK, `maat keys generate-kek` writes a 0600 key and `maat keys
// rotate-kek --new-key-file` re-seals every key under it; afterwards the new
// key opens them and the generated one no longer does.
func TestKeysRotateKEK(t *testing.T) {
	t.Setenv("MAAT_KEY_ENCRYPTION_KEY_FILE", "")
	t.Setenv("MAAT_STORE", "")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "maat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateInstance(ctx, store.Instance{ID: app.InstanceID, Issuer: "https://maat.cli.example", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, _, err := runCmd(t, NewRootCommand(), "keys", "rotate", "--data", dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, NewRootCommand(), "keys", "rotate", "--data", dir); err != nil {
		t.Fatal(err)
	}
	oldKEK := filepath.Join(dir, app.GeneratedKEKFile)

	newKEK := filepath.Join(t.TempDir(), "new.kek")
	if _, _, err := runCmd(t, NewRootCommand(), "keys", "generate-kek", newKEK); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(newKEK); st.Mode().Perm() != 0o600 {
		t.Fatalf("generated KEK has mode %04o", st.Mode().Perm())
	}
	if _, _, err := runCmd(t, NewRootCommand(), "keys", "generate-kek", newKEK); err == nil {
		t.Fatal("generate-kek overwrote an existing key")
	}
	if _, _, err := runCmd(t, NewRootCommand(), "keys", "rotate-kek", "--data", dir); err == nil || !strings.Contains(err.Error(), "--new-key-file") {
		t.Fatalf("rotate-kek without --new-key-file = %v", err)
	}
	out, _, err := runCmd(t, NewRootCommand(), "keys", "rotate-kek", "--data", dir, "--new-key-file", newKEK)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "re-sealed 2 signing keys") {
		t.Fatalf("rotate-kek said %q", out)
	}

	st, err = sqlite.Open(ctx, filepath.Join(dir, "maat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sealerFor := func(path string) keys.Sealer {
		k, err := keys.LoadKeyEncryptionKey(path, keys.KeyFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := keys.NewAESGCMSealer(k)
		return s
	}
	if err := keys.NewManager(st, app.InstanceID, sealerFor(newKEK), nil, nil).Reload(ctx); err != nil {
		t.Fatalf("the new KEK does not open the keys: %v", err)
	}
	if err := keys.NewManager(st, app.InstanceID, sealerFor(oldKEK), nil, nil).Reload(ctx); err == nil {
		t.Fatal("the old KEK still opens the keys")
	}
	// `maat keys` with the new key configured works; with the old one it fails.
	if out, _, err := runCmd(t, NewRootCommand(), "keys", "list", "--data", dir, "--key-encryption-key-file", newKEK); err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("keys list with the new KEK: %v %q", err, out)
	}
	if err := os.Chmod(newKEK, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, NewRootCommand(), "keys", "rotate", "--data", dir, "--key-encryption-key-file", newKEK); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("keys with a 0644 KEK = %v, want refused", err)
	}
}
