//go:build openssl && cgo

package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestOpenSSLCompiledIn(t *testing.T) {
	b, err := NewBackend(BackendAuto, nil)
	if err != nil || b.Name() != BackendOpenSSL {
		t.Fatalf("auto in the openssl build = %v, %v; want openssl", b, err)
	}
}

// TestOpenSSLMalformedKey: whatever DER reaches libcrypto, the answer is a
// Go error carrying OpenSSL's reason, never a crash, and the DER is zeroed.
func TestOpenSSLMalformedKey(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := x509.MarshalPKCS8PrivateKey(priv)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := x509.MarshalPKCS8PrivateKey(ek)
	flipped := bytes.Clone(good)
	flipped[60] ^= 0xff // inside the modulus (CRT signing never reads d)
	cases := map[string]struct {
		der  []byte
		want string
	}{
		"empty":     {nil, "empty"},
		"garbage":   {[]byte("not a key at all"), "d2i_AutoPrivateKey"},
		"truncated": {bytes.Clone(good[:len(good)-40]), "d2i_AutoPrivateKey"},
		"trailing":  {append(bytes.Clone(good), 0, 0), "trailing"},
		"ECDSA":     {ec, "not RSA"},
		"flipped":   {flipped, ""},
	}
	for name, tc := range cases {
		s, err := loadOpenSSLDER(tc.der, &priv.PublicKey)
		if name == "flipped" {
			// A flipped bit may still parse (into a wrong key): the
			// backend's self-test is what refuses it; check that path.
			if err == nil {
				err = selfTest(s, &priv.PublicKey, nil)
				s.Close()
			}
			if err == nil {
				t.Fatal("flipped key signed correctly")
			}
			continue
		}
		if err == nil {
			s.Close()
			t.Fatalf("%s: loaded", name)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want %q in it", name, err, tc.want)
		}
		if tc.der != nil && !bytes.Equal(tc.der, make([]byte, len(tc.der))) {
			t.Fatalf("%s: DER not zeroed", name)
		}
	}
	der := bytes.Clone(good)
	s, err := loadOpenSSLDER(der, &priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !bytes.Equal(der, make([]byte, len(der))) {
		t.Fatal("loaded key's DER not zeroed")
	}
	d := sha256.Sum256([]byte("x"))
	got, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	want, _ := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:])
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("sign: %v", err)
	}
}

// TestOpenSSLRejectsMismatchedPublicKey: Load's self-test compares against
// Go's signature, so a signer whose OpenSSL key is not the Go key fails.
func TestOpenSSLSelfTestCatchesWrongKey(t *testing.T) {
	a, _ := rsa.GenerateKey(rand.Reader, 2048)
	b, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(a)
	s, err := loadOpenSSLDER(der, &b.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := selfTest(s, &b.PublicKey, nil); err == nil {
		t.Fatal("self-test passed with another key's public key")
	}
}

// FuzzOpenSSLLoadDER feeds arbitrary DER to libcrypto's key parser through
// the shim: an error or a key, never a crash, and the input zeroed.
func FuzzOpenSSLLoadDER(f *testing.F) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := x509.MarshalPKCS8PrivateKey(priv)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := x509.MarshalPKCS8PrivateKey(ek)
	for _, seed := range [][]byte{good, ec, x509.MarshalPKCS1PrivateKey(priv), good[:100], {0x30, 0x82, 0xff, 0xff}, {}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		in := bytes.Clone(der)
		s, err := loadOpenSSLDER(in, &priv.PublicKey)
		if !bytes.Equal(in, make([]byte, len(in))) {
			t.Fatal("DER not zeroed")
		}
		if err != nil {
			return
		}
		defer s.Close()
		d := sha256.Sum256(der)
		// A key OpenSSL accepted may be any RSA key; signing must not crash.
		_, _ = s.Sign(rand.Reader, d[:], crypto.SHA256)
	})
}

// BenchmarkOpenSSLContextPool: RS256 on a pooled, initialised EVP_PKEY_CTX
// against a fresh context per signature, interleaved in one loop.
//
//	go test -tags openssl -run '^$' -bench OpenSSLContextPool ./internal/keys
func BenchmarkOpenSSLContextPool(b *testing.B) {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	ks, err := OpenSSLBackend{}.Load(priv)
	if err != nil {
		b.Fatal(err)
	}
	defer ks.Close()
	s := ks.(*opensslSigner)
	d := sha256.Sum256([]byte("pool"))
	var tp, tf time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither gets the other's warm cache.
		var p, f []byte
		var err1, err2 error
		t0 := time.Now()
		if i%2 == 0 {
			p, err1 = s.Sign(rand.Reader, d[:], crypto.SHA256)
			t1 := time.Now()
			f, err2 = s.signUnpooled(d[:])
			tf += time.Since(t1)
			tp += t1.Sub(t0)
		} else {
			f, err2 = s.signUnpooled(d[:])
			t1 := time.Now()
			p, err1 = s.Sign(rand.Reader, d[:], crypto.SHA256)
			tp += time.Since(t1)
			tf += t1.Sub(t0)
		}
		if err1 != nil || err2 != nil || !bytes.Equal(p, f) {
			b.Fatalf("pooled %v, fresh %v, identical %v", err1, err2, bytes.Equal(p, f))
		}
	}
	b.ReportMetric(float64(tp)/float64(b.N), "pooled-ns/op")
	b.ReportMetric(float64(tf)/float64(b.N), "fresh-ns/op")
	b.ReportMetric(float64(tp)/float64(tf), "pooled/fresh")
}
