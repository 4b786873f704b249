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
