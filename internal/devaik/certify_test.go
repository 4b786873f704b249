//go:build simulator

package devaik

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

func TestCertifyChainsToRoot(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := Certify(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := Root()
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for _, at := range []time.Time{time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), time.Now()} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("at %s: %v", at, err)
		}
	}
	// Another root does not validate it.
	other := x509.NewCertPool()
	if _, err := c.Verify(x509.VerifyOptions{Roots: other, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Fatal("validated without the dev root")
	}
}
