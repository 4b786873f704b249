//go:build unix

package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/maat-attest/maat/internal/store"
)

// TestFilesOwnerOnly: the database and its -wal and -shm files are created
// 0600 even under a permissive umask, and an existing 0644 database (made
// by an older Maat) is restricted when opened.
func TestFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "maat.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateInstance(ctx, store.Instance{ID: "default", Issuer: "https://x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v (the store is open in WAL mode, so it should exist)", p, err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), perm)
		}
	}
	s.Close()

	legacy := filepath.Join(dir, "legacy.db")
	if err := os.WriteFile(legacy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(legacy, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, legacy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, _ := os.Stat(legacy); st.Mode().Perm() != 0o600 {
		t.Fatalf("an existing 0644 database stays %04o after Open, want 0600", st.Mode().Perm())
	}
}
