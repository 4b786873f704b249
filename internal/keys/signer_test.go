package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/store"
)

// backends returns every backend compiled into this test binary; the
// OpenSSL build runs every test below against both.
func backends(t testing.TB) []Backend {
	t.Helper()
	var out []Backend
	for _, name := range SignerBackends() {
		b, err := NewBackend(name, nil)
		if err != nil {
			t.Fatalf("NewBackend(%q): %v", name, err)
		}
		out = append(out, b)
	}
	return out
}

func TestSignerBackendsAndNewBackend(t *testing.T) {
	names := SignerBackends()
	if names[0] != BackendGo {
		t.Fatalf("SignerBackends = %v, want go first", names)
	}
	auto, err := NewBackend(BackendAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := names[len(names)-1]; auto.Name() != want {
		t.Fatalf("auto = %s, want %s (compiled in: %v)", auto.Name(), want, names)
	}
	if _, err := NewBackend("boringssl", nil); err == nil {
		t.Fatal("unknown backend accepted")
	}
	_, err = NewBackend(BackendOpenSSL, nil)
	if slices.Contains(names, BackendOpenSSL) != (err == nil) {
		t.Fatalf("openssl compiled in %v, NewBackend(openssl) err %v", slices.Contains(names, BackendOpenSSL), err)
	}
	if err != nil && !errors.Is(err, ErrBackendUnavailable) {
		t.Fatalf("err %v, want ErrBackendUnavailable", err)
	}
}

// TestSignaturesByteIdentical signs many payloads with many keys through
// every backend: RSASSA-PKCS1-v1_5 is deterministic, so each signature must
// equal Go's rsa.SignPKCS1v15 byte for byte and verify with
// rsa.VerifyPKCS1v15.
func TestSignaturesByteIdentical(t *testing.T) {
	bs := backends(t)
	rng := mrand.New(mrand.NewPCG(1, 2))
	nKeys := 6
	if testing.Short() {
		nKeys = 2
	}
	for i := range nKeys {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		signers := make([]KeySigner, len(bs))
		for j, b := range bs {
			if signers[j], err = b.Load(priv); err != nil {
				t.Fatalf("key %d: %s Load: %v", i, b.Name(), err)
			}
			defer signers[j].Close()
		}
		for p := range 60 {
			payload := make([]byte, rng.IntN(3000))
			for k := range payload {
				payload[k] = byte(rng.Uint32())
			}
			d := sha256.Sum256(payload)
			want, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
			if err != nil {
				t.Fatal(err)
			}
			for j, s := range signers {
				got, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					t.Fatalf("key %d payload %d %s: %v", i, p, bs[j].Name(), err)
				}
				if string(got) != string(want) {
					t.Fatalf("key %d payload %d: %s signature differs from Go's", i, p, bs[j].Name())
				}
				if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d[:], got); err != nil {
					t.Fatalf("key %d payload %d %s: %v", i, p, bs[j].Name(), err)
				}
			}
		}
		// SHA-384/512 prehashes too, since crypto.Signer callers may pick them.
		d := sha512.Sum512([]byte("payload"))
		want, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA512, d[:])
		for j, s := range signers {
			got, err := s.Sign(rand.Reader, d[:], crypto.SHA512)
			if err != nil || string(got) != string(want) {
				t.Fatalf("%s SHA-512: err %v, identical %v", bs[j].Name(), err, string(got) == string(want))
			}
		}
	}
}

// TestPSS covers TPM's PS256 (and PSS with the maximal salt): PSS is
// randomised, so the check is that Go verifies each backend's signature.
func TestPSS(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends(t) {
		s, err := b.Load(priv)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, 20} {
			d := sha256.Sum256([]byte(fmt.Sprint("pss", salt)))
			opts := &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}
			sig, err := s.Sign(rand.Reader, d[:], opts)
			if err != nil {
				t.Fatalf("%s salt %d: %v", b.Name(), salt, err)
			}
			vopts := &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}
			if salt == rsa.PSSSaltLengthAuto {
				vopts.SaltLength = 256 - 32 - 2 // the maximum Go's signer uses for Auto
			}
			if err := rsa.VerifyPSS(&priv.PublicKey, crypto.SHA256, d[:], sig, vopts); err != nil {
				t.Fatalf("%s salt %d: %v", b.Name(), salt, err)
			}
		}
		// The TPM request JWS path: jose PS256 through the backend signer.
		compact, err := jose.SignPayload(jose.Header{Alg: jose.AlgPS256, Typ: "attReqV2"}, []byte(`{"x":1}`), s)
		if err != nil {
			t.Fatal(err)
		}
		j, err := jose.Parse(compact)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Verify(&priv.PublicKey); err != nil {
			t.Fatalf("%s PS256 JWS: %v", b.Name(), err)
		}
	}
}

func TestSignerRejects(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, b := range backends(t) {
		if _, err := b.Load(ek); err == nil {
			t.Fatalf("%s loaded an ECDSA key", b.Name())
		}
		s, err := b.Load(priv)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(nil)
		for name, call := range map[string]func() ([]byte, error){
			"short digest": func() ([]byte, error) { return s.Sign(rand.Reader, d[:31], crypto.SHA256) },
			"no hash":      func() ([]byte, error) { return s.Sign(rand.Reader, d[:], crypto.Hash(0)) },
			"SHA-1":        func() ([]byte, error) { return s.Sign(rand.Reader, d[:20], crypto.SHA1) },
			"bad PSS salt": func() ([]byte, error) {
				return s.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: -7, Hash: crypto.SHA256})
			},
		} {
			if _, err := call(); err == nil {
				t.Fatalf("%s: %s accepted", b.Name(), name)
			}
		}
		s.Close()
		s.Close() // idempotent
		if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); !errors.Is(err, ErrSignerClosed) {
			t.Fatalf("%s: sign after Close: %v, want ErrSignerClosed", b.Name(), err)
		}
	}
}

func managerWith(t *testing.T, b Backend) *Manager {
	t.Helper()
	m := NewManagerWithBackend(newStore(t), "i", nil, nil, nil, b)
	t.Cleanup(m.Close)
	if _, err := m.EnsureActive(context.Background(), "https://maat.example"); err != nil {
		t.Fatal(err)
	}
	return m
}

func signWith(t testing.TB, k *Key, msg string) ([]byte, error) {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	sig, err := k.TokenSigner().Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	want, _ := rsa.SignPKCS1v15(nil, k.Signer.(*rsa.PrivateKey), crypto.SHA256, d[:])
	if string(sig) != string(want) {
		return nil, errors.New("signature differs from Go's")
	}
	return sig, rsa.VerifyPKCS1v15(k.Cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig)
}

// TestManagerRotationAndRetirement: the backend's key lives exactly as long
// as some key set holding it is current or acquired.
func TestManagerRotationAndRetirement(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.Name(), func(t *testing.T) {
			m := managerWith(t, b)
			if m.Backend() != b.Name() {
				t.Fatalf("Backend() = %s", m.Backend())
			}
			k1, release, err := m.Acquire()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := signWith(t, k1, "before rotation"); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Rotate(ctx, "https://maat.example"); err != nil {
				t.Fatal(err)
			}
			// In flight across the rotation: still signs.
			if _, err := signWith(t, k1, "in flight"); err != nil {
				t.Fatalf("acquired key after rotation: %v", err)
			}
			release()
			if _, err := signWith(t, k1, "after release"); !errors.Is(err, ErrSignerClosed) {
				t.Fatalf("old set's key after release: %v, want ErrSignerClosed", err)
			}
			k2, release, err := m.Acquire()
			if err != nil {
				t.Fatal(err)
			}
			release()
			if k2.KID == k1.KID {
				t.Fatal("rotation kept the kid")
			}
			if _, err := signWith(t, k2, "rotated"); err != nil {
				t.Fatal(err)
			}
			// The previous key stays published, with a working signer of its
			// own in the new set (a fresh load, not k1's closed one).
			cur := m.Current()
			if len(cur.Published) != 2 || cur.Published[1].KID != k1.KID {
				t.Fatalf("published %d keys", len(cur.Published))
			}
			if _, err := signWith(t, cur.Published[1], "published"); err != nil {
				t.Fatal(err)
			}
			old := cur.Published[1]
			if err := m.Retire(ctx, k1.KID); err != nil {
				t.Fatal(err)
			}
			if _, err := signWith(t, old, "retired"); !errors.Is(err, ErrSignerClosed) {
				t.Fatalf("retired key: %v, want ErrSignerClosed", err)
			}
			for _, k := range m.Current().Published {
				if k.KID == k1.KID {
					t.Fatal("retired key still published")
				}
			}
			m.Close()
			if _, _, err := m.Acquire(); !errors.Is(err, ErrNoActiveKey) {
				t.Fatalf("Acquire after Close: %v", err)
			}
			if _, err := signWith(t, k2, "closed"); !errors.Is(err, ErrSignerClosed) {
				t.Fatalf("after Manager.Close: %v", err)
			}
			if err := m.Reload(ctx); err == nil {
				t.Fatal("Reload after Close succeeded")
			}
		})
	}
}

// TestManagerConcurrentRotation signs from several goroutines while keys
// are rotated and retired underneath: no sign may fail or differ from Go's.
// Run with -race.
func TestManagerConcurrentRotation(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.Name(), func(t *testing.T) {
			m := managerWith(t, b)
			var stop atomic.Bool
			var signs atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			for g := range 4 {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						k, release, err := m.Acquire()
						if err != nil {
							errc <- err
							return
						}
						_, err = signWith(t, k, fmt.Sprint(g, i))
						release()
						if err != nil {
							errc <- fmt.Errorf("goroutine %d sign %d (kid %s): %w", g, i, k.KID, err)
							return
						}
						signs.Add(1)
					}
				})
			}
			for range 4 {
				prev, _ := m.Active()
				if _, err := m.Rotate(ctx, "https://maat.example"); err != nil {
					t.Fatal(err)
				}
				if err := m.Retire(ctx, prev.KID); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			stop.Store(true)
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			if signs.Load() == 0 {
				t.Fatal("no signatures made")
			}
			ks, _ := m.List(ctx)
			retired := 0
			for _, k := range ks {
				if k.State == store.KeyRetired {
					retired++
				}
			}
			if retired != 4 {
				t.Fatalf("%d retired keys, want 4", retired)
			}
		})
	}
}

// BenchmarkSign is one RS256 signature per backend (and Go's rsa.SignPKCS1v15
// directly, the baseline the Go backend wraps):
//
//	go test -tags openssl -run '^$' -bench Sign ./internal/keys
func BenchmarkSign(b *testing.B) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("token"))
	b.Run("rsa.SignPKCS1v15", func(b *testing.B) {
		c0 := cpuTime()
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
	})
	var loaded []KeySigner
	for _, be := range backends(b) {
		s, err := be.Load(priv)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		loaded = append(loaded, s)
		b.Run(be.Name(), func(b *testing.B) {
			b.ReportAllocs()
			c0 := cpuTime()
			for b.Loop() {
				if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
	if len(loaded) == 2 {
		// Interleaved Go and OpenSSL signatures: a same-run ratio that
		// survives load from other processes.
		b.Run("interleaved", func(b *testing.B) {
			var tg, to time.Duration
			for b.Loop() {
				t0 := time.Now()
				_, _ = loaded[0].Sign(rand.Reader, d[:], crypto.SHA256)
				t1 := time.Now()
				_, _ = loaded[1].Sign(rand.Reader, d[:], crypto.SHA256)
				to += time.Since(t1)
				tg += t1.Sub(t0)
			}
			b.ReportMetric(float64(tg)/float64(b.N), "go-ns/op")
			b.ReportMetric(float64(to)/float64(b.N), "openssl-ns/op")
			b.ReportMetric(float64(tg)/float64(to), "go/openssl")
		})
	}
}

// cpuTime is this process's user+system CPU time. On a shared machine a
// benchmark's CPU per op is steadier than its wall time per op, so the
// benchmarks report both (cpu-ns/op).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
