package keys

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateInstance(context.Background(), store.Instance{ID: "i", Issuer: "https://maat.example", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateMatchesMAAShape(t *testing.T) {
	k, err := Generate("https://maat.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k.Cert.Subject.CommonName != "https://maat.example" || k.Cert.Issuer.CommonName != "https://maat.example" {
		t.Fatalf("subject/issuer %v / %v", k.Cert.Subject, k.Cert.Issuer)
	}
	if k.Cert.PublicKey.(interface{ Size() int }).Size() != 256 {
		t.Fatal("not RSA-2048")
	}
	if err := k.Cert.CheckSignature(k.Cert.SignatureAlgorithm, k.Cert.RawTBSCertificate, k.Cert.Signature); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	if k.KID != KID(k.Cert) || len(k.KID) != 44 {
		t.Fatalf("kid %q", k.KID)
	}
}

// TestKIDMatchesMAA derives the kid of a real MAA signing certificate and
// compares it with the kid MAA served for it.
func TestKIDMatchesMAA(t *testing.T) {
	b, err := os.ReadFile("testdata/maa-signing-cert-cplarryoattestationaad.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := KID(cert), "XxRc2vLh1E5FrsNawnRH3PzuFgqg3q7NvCdnjoJHBGE="; got != want {
		t.Fatalf("KID = %s, MAA served %s", got, want)
	}
}

func TestManagerLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	m := NewManager(s, "i", nil, nil, nil)
	if _, err := m.Active(); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("Active before load = %v", err)
	}
	created, err := m.EnsureActive(ctx, "https://maat.example")
	if err != nil || !created {
		t.Fatalf("EnsureActive = %v, %v", created, err)
	}
	first, _ := m.Active()
	// A second manager (another replica or a restart) sees the same key and creates none.
	m2 := NewManager(s, "i", nil, nil, nil)
	if created, err := m2.EnsureActive(ctx, "https://maat.example"); err != nil || created {
		t.Fatalf("second EnsureActive = %v, %v", created, err)
	}
	if a2, _ := m2.Active(); a2.KID != first.KID {
		t.Fatal("second manager loaded another key")
	}
	rotated, err := m.Rotate(ctx, "https://maat.example")
	if err != nil {
		t.Fatal(err)
	}
	set := m.Current()
	if set.Active.KID != rotated.KID || len(set.Published) != 2 || set.Published[1].KID != first.KID {
		t.Fatalf("after rotate: %+v", set)
	}
	if jw := set.JWKS(); len(jw.Keys) != 2 || jw.Keys[0].KID != rotated.KID {
		t.Fatalf("JWKS %+v", jw)
	}
	if err := m.Retire(ctx, rotated.KID); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("retire active = %v", err)
	}
	if err := m.Retire(ctx, first.KID); err != nil {
		t.Fatal(err)
	}
	if len(m.Current().Published) != 1 {
		t.Fatalf("retired key still published")
	}
	list, _ := m.List(ctx)
	for _, k := range list {
		if k.PrivateKey != nil {
			t.Fatal("List leaks private keys")
		}
	}
}

func TestSealedKeys(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	kek := bytes.Repeat([]byte{7}, 32)
	sealer, err := NewAESGCMSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(s, "i", sealer, nil, nil)
	if _, err := m.EnsureActive(ctx, "https://maat.example"); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.ListSigningKeys(ctx, "i")
	if !bytes.HasPrefix(rows[0].PrivateKey, gcmV2Prefix) || bytes.Contains(rows[0].PrivateKey, []byte{0x30, 0x82}) && bytes.Index(rows[0].PrivateKey, []byte{0x30, 0x82}) < len(gcmV2Prefix)+12 {
		t.Fatal("private key not sealed at rest")
	}
	// Without the key, or with the wrong one, the keys cannot be loaded.
	if err := NewManager(s, "i", nil, nil, nil).Reload(ctx); !errors.Is(err, ErrSealed) {
		t.Fatalf("Reload without KEK = %v, want ErrSealed", err)
	}
	wrong, _ := NewAESGCMSealer(bytes.Repeat([]byte{8}, 32))
	if err := NewManager(s, "i", wrong, nil, nil).Reload(ctx); err == nil {
		t.Fatal("Reload with the wrong KEK succeeded")
	}
	if err := NewManager(s, "i", sealer, nil, nil).Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAESGCMSealer([]byte("short")); err == nil {
		t.Fatal("short KEK accepted")
	}
}
