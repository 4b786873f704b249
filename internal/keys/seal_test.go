package keys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
)

func testSealer(t testing.TB, fill byte) *AESGCMSealer {
	t.Helper()
	s, err := NewAESGCMSealer(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sealV1 seals p the way Maat did before kid and instance were bound: the
// additional data is the prefix alone.
func sealV1(t testing.TB, kek, p []byte) []byte {
	t.Helper()
	block, _ := aes.NewCipher(kek)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(append(bytes.Clone(gcmV1Prefix), nonce...), nonce, p, gcmV1Prefix)
}

func privateKeys(t *testing.T, s store.Store, inst string) map[string][]byte {
	t.Helper()
	rows, err := s.ListSigningKeys(context.Background(), inst)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, r := range rows {
		out[r.KID] = r.PrivateKey
	}
	return out
}

func TestSealBindsInstanceAndKID(t *testing.T) {
	s := testSealer(t, 7)
	b := Binding{InstanceID: "i", KID: "k"}
	sealed, err := s.Seal([]byte("secret"), b)
	if err != nil {
		t.Fatal(err)
	}
	if p, stale, err := s.Open(sealed, b); err != nil || stale || string(p) != "secret" {
		t.Fatalf("Open = %q, %v, %v", p, stale, err)
	}
	for _, other := range []Binding{{"i", "k2"}, {"j", "k"}, {"ik", ""}, {"", "ik"}} {
		if _, _, err := s.Open(sealed, other); err == nil {
			t.Errorf("a key sealed for %+v opens as %+v", b, other)
		}
	}
	if _, _, err := testSealer(t, 8).Open(sealed, b); err == nil {
		t.Error("opens under another key-encryption key")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, _, err := s.Open(bad, b); err == nil {
			t.Fatalf("a flipped bit at %d still opens", i)
		}
	}
	if _, _, err := s.Open(sealed[:len(gcmV2Prefix)+5], b); err == nil {
		t.Error("a truncated blob opens")
	}
	// Older forms open and are reported stale.
	if p, stale, err := s.Open([]byte("plain:abc"), b); err != nil || !stale || string(p) != "abc" {
		t.Errorf("plain key: %q, %v, %v", p, stale, err)
	}
	v1 := sealV1(t, bytes.Repeat([]byte{7}, 32), []byte("old"))
	if p, stale, err := s.Open(v1, b); err != nil || !stale || string(p) != "old" {
		t.Errorf("v1 key: %q, %v, %v", p, stale, err)
	}
	if _, _, err := (PlainSealer{}).Open(sealed, b); !errors.Is(err, ErrSealed) {
		t.Errorf("PlainSealer on a sealed key = %v, want ErrSealed", err)
	}
}

// TestUpgradeReseals is the upgrade path: a store written by an older Maat
// holds a plaintext key and a key sealed without binding; with a KEK the
// Manager re-seals both (one of them retired) in the bound form, and the
// same keys load afterwards.
func TestUpgradeReseals(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	old := NewManager(s, "i", PlainSealer{}, nil, nil)
	if _, err := old.EnsureActive(ctx, "https://maat.example"); err != nil {
		t.Fatal(err)
	}
	first, _ := old.Active()
	rotated, err := old.Rotate(ctx, "https://maat.example")
	if err != nil {
		t.Fatal(err)
	}
	// A third key sealed the v1 way, then retired.
	k3, _ := Generate("https://maat.example", first.Cert.NotBefore)
	der, _ := x509.MarshalPKCS8PrivateKey(k3.Signer)
	kek := bytes.Repeat([]byte{7}, 32)
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: k3.KID, PrivateKey: sealV1(t, kek, der), CertDER: k3.Cert.Raw}, store.AddKeyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireSigningKey(ctx, "i", k3.KID); err != nil {
		t.Fatal(err)
	}
	if n := len(privateKeys(t, s, "i")); n != 3 {
		t.Fatalf("%d keys stored", n)
	}

	m := NewManager(s, "i", testSealer(t, 7), nil, nil)
	n, err := m.Reseal(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Reseal = %d, %v; want 3 keys re-sealed", n, err)
	}
	for kid, p := range privateKeys(t, s, "i") {
		if !bytes.HasPrefix(p, gcmV2Prefix) {
			t.Errorf("key %s stored as %q…, want sealed v2", kid, p[:min(len(p), 14)])
		}
	}
	if n, err := m.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want nothing to do", n, err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := m.Active(); a.KID != rotated.KID || len(m.Current().Published) != 2 {
		t.Fatalf("after reseal: active %s, %d published", a.KID, len(m.Current().Published))
	}
	// The plaintext sealer can no longer read them.
	if err := NewManager(s, "i", PlainSealer{}, nil, nil).Reload(ctx); !errors.Is(err, ErrSealed) {
		t.Fatalf("plain Reload after reseal = %v, want ErrSealed", err)
	}
	// A wrong KEK refuses to reseal and changes nothing.
	before := privateKeys(t, s, "i")
	if _, err := NewManager(s, "i", testSealer(t, 9), nil, nil).Reseal(ctx); err == nil {
		t.Fatal("Reseal with a wrong KEK succeeded")
	}
	for kid, p := range privateKeys(t, s, "i") {
		if !bytes.Equal(p, before[kid]) {
			t.Fatalf("key %s changed by a refused reseal", kid)
		}
	}
}

// TestSwappedRowsRefused: a sealed private key moved into another
// instance's row no longer opens (the instance is bound).
func TestSwappedRowsRefused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.CreateInstance(ctx, store.Instance{ID: "j", Issuer: "https://other.example", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	sealer := testSealer(t, 7)
	m := NewManager(s, "i", sealer, nil, nil)
	if _, err := m.EnsureActive(ctx, "https://maat.example"); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.ListSigningKeys(ctx, "i")
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "j", KID: rows[0].KID, PrivateKey: rows[0].PrivateKey, CertDER: rows[0].CertDER}, store.AddKeyOptions{Activate: true}); err != nil {
		t.Fatal(err)
	}
	if err := NewManager(s, "j", sealer, nil, nil).Reload(ctx); err == nil {
		t.Fatal("a key sealed for instance i loads as instance j's")
	}
}

func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	oldS, newS := testSealer(t, 1), testSealer(t, 2)
	m := NewManager(s, "i", oldS, nil, nil)
	if _, err := m.EnsureActive(ctx, "https://maat.example"); err != nil {
		t.Fatal(err)
	}
	k2, err := m.Rotate(ctx, "https://maat.example")
	if err != nil {
		t.Fatal(err)
	}
	first := m.Current().Published[1].KID
	if err := m.Retire(ctx, first); err != nil {
		t.Fatal(err)
	}
	g0, _ := s.Generation(ctx, "i")
	if n, err := m.RotateKEK(ctx, newS); err != nil || n != 2 {
		t.Fatalf("RotateKEK = %d, %v; want both keys (one retired) re-sealed", n, err)
	}
	if g1, _ := s.Generation(ctx, "i"); g1 != g0 {
		t.Fatalf("KEK rotation moved the generation")
	}
	if err := NewManager(s, "i", oldS, nil, nil).Reload(ctx); err == nil {
		t.Fatal("the old KEK still opens the keys")
	}
	m2 := NewManager(s, "i", newS, nil, nil)
	if err := m2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := m2.Active(); a.KID != k2.KID {
		t.Fatal("another key is active after the KEK rotation")
	}
	for kid, p := range privateKeys(t, s, "i") {
		if _, _, err := newS.Open(p, Binding{"i", kid}); err != nil {
			t.Fatalf("key %s (retired ones included) does not open with the new KEK: %v", kid, err)
		}
	}
	// Rotating again from the old KEK fails and changes nothing.
	before := privateKeys(t, s, "i")
	if _, err := m.RotateKEK(ctx, testSealer(t, 3)); err == nil {
		t.Fatal("rotation from a KEK that no longer opens the keys succeeded")
	}
	for kid, p := range privateKeys(t, s, "i") {
		if !bytes.Equal(p, before[kid]) {
			t.Fatalf("key %s changed by a refused rotation", kid)
		}
	}
}

func TestKeyEncryptionKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	created, err := EnsureKeyEncryptionKeyFile(path)
	if err != nil || !created {
		t.Fatalf("EnsureKeyEncryptionKeyFile = %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	k1, err := LoadKeyEncryptionKey(path, KeyFileOptions{})
	if err != nil || len(k1) != 32 {
		t.Fatalf("Load = %x, %v", k1, err)
	}
	if created, err := EnsureKeyEncryptionKeyFile(path); err != nil || created {
		t.Fatalf("second Ensure = %v, %v; want the existing key kept", created, err)
	}
	if k2, _ := LoadKeyEncryptionKey(path, KeyFileOptions{}); !bytes.Equal(k1, k2) {
		t.Fatal("the key changed")
	}
	if err := GenerateKeyEncryptionKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Generate over an existing key = %v, want ErrExist", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	if runtime.GOOS == "windows" {
		return // no Unix permissions to check
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyEncryptionKey(path, KeyFileOptions{})
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a %04o key file: %v, want refused with advice", mode, err)
		}
		if _, err := LoadKeyEncryptionKey(path, KeyFileOptions{AllowInsecurePermissions: true}); err != nil {
			t.Errorf("a %04o key file with the override: %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyEncryptionKey(path, KeyFileOptions{}); err != nil {
		t.Errorf("a 0400 key file: %v", err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abcd"), 0o600)
	if _, err := LoadKeyEncryptionKey(short, KeyFileOptions{}); err == nil {
		t.Error("a 2-byte key accepted")
	}
}

// FuzzOpen: opening any stored bytes never panics, is deterministic, and
// succeeds only for the forms Seal writes (then not stale) or the older
// forms (then stale).
func FuzzOpen(f *testing.F) {
	s := testSealer(f, 7)
	b := Binding{InstanceID: "i", KID: "k"}
	v2, _ := s.Seal([]byte("pkcs8"), b)
	f.Add(v2)
	f.Add(sealV1(f, bytes.Repeat([]byte{7}, 32), []byte("pkcs8")))
	f.Add([]byte("plain:pkcs8"))
	f.Add([]byte("aes256gcm-v2:short"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		in := bytes.Clone(blob)
		p1, st1, err1 := s.Open(blob, b)
		p2, st2, err2 := s.Open(blob, b)
		if !bytes.Equal(in, blob) {
			t.Fatal("Open modified its input")
		}
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(p1, p2) || st1 != st2 {
			t.Fatal("nondeterministic")
		}
		if err1 == nil && st1 != !bytes.HasPrefix(blob, gcmV2Prefix) {
			t.Fatalf("stale=%v for %q…", st1, blob[:min(len(blob), 14)])
		}
		pp, _, perr := PlainSealer{}.Open(blob, b)
		if perr == nil && !bytes.Equal(pp, blob[len(plainPrefix):]) {
			t.Fatal("PlainSealer returned other bytes than it stored")
		}
	})
}

// BenchmarkOpen measures unsealing one RSA-2048 PKCS#8 key (done once per
// key at start and on every key reload, never per token).
func BenchmarkOpen(b *testing.B) {
	k, _ := Generate("https://maat.example", time.Now())
	der, _ := x509.MarshalPKCS8PrivateKey(k.Signer)
	s := testSealer(b, 7)
	bind := Binding{InstanceID: "default", KID: k.KID}
	sealed, _ := s.Seal(der, bind)
	b.SetBytes(int64(len(der)))
	for b.Loop() {
		if _, _, err := s.Open(sealed, bind); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReload measures loading an instance's two keys from SQLite,
// unsealing and parsing them (the work pollChanges does after a change).
func BenchmarkReload(b *testing.B) {
	for _, name := range []string{"plain", "sealed"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "k.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			st.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "https://maat.example", Mode: store.ModeAAD})
			var sealer Sealer = PlainSealer{}
			if name == "sealed" {
				sealer = testSealer(b, 7)
			}
			m := NewManager(st, "i", sealer, nil, nil)
			m.EnsureActive(ctx, "https://maat.example")
			m.Rotate(ctx, "https://maat.example")
			for b.Loop() {
				if err := m.Reload(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
