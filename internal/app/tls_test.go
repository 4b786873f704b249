package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// handshake dials the server's HTTPS listener with cfg (trusting the dev
// certificate) and returns the handshake's error and negotiated state.
func handshake(t *testing.T, r *running, dir string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	return handshakeTrusting(t, r, filepath.Join(dir, "dev-tls-cert.pem"), cfg)
}

func handshakeTrusting(t *testing.T, r *running, certFile string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	cfg.RootCAs, cfg.ServerName = pool, "localhost"
	c, err := tls.Dial("tcp", r.app.HTTPSAddr(), cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// TestTLSSuites: TLS 1.2 clients get ECDHE with an AEAD or nothing: a
// client offering only a CBC suite fails the handshake; TLS 1.3 works.
func TestTLSSuites(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	if _, err := handshake(t, r, dir, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
		t.Fatal("a TLS 1.2 client offering only CBC-SHA1 suites completed the handshake")
	}
	if _, err := handshake(t, r, dir, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}); err == nil {
		t.Fatal("a TLS 1.2 client offering only a CBC-SHA256 suite completed the handshake")
	}
	st, err := handshake(t, r, dir, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}})
	if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("TLS 1.2 ECDHE-GCM: %v, version %x suite %x", err, st.Version, st.CipherSuite)
	}
	if st, err := handshake(t, r, dir, &tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("default client: %v, version %x", err, st.Version)
	}
	r.stop(t)
}

// TestTLSMinVersion13 refuses a client that speaks at most TLS 1.2.
func TestTLSMinVersion13(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.TLSMinVersion = "1.3"
	r := start(t, cfg)
	if _, err := handshake(t, r, dir, &tls.Config{MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("tls-min-version 1.3 accepted a TLS 1.2 client")
	}
	if st, err := handshake(t, r, dir, &tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3 client: %v, version %x", err, st.Version)
	}
	r.stop(t)
}

// TestTLSSuitesRSA repeats the suite check with an RSA server certificate,
// for which the ECDHE-RSA CBC suites would otherwise be negotiable: a client
// offering only TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA fails the handshake.
func TestTLSSuitesRSA(t *testing.T) {
	dir := t.TempDir()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir)
	cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "rsa.key")
	os.WriteFile(cfg.TLSCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(cfg.TLSKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), 0o600)
	r := start(t, cfg)
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA} {
		if _, err := handshakeTrusting(t, r, cfg.TLSCert, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}); err == nil {
			t.Errorf("a TLS 1.2 client offering only %s completed the handshake", tls.CipherSuiteName(suite))
		}
	}
	st, err := handshakeTrusting(t, r, cfg.TLSCert, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}})
	if err != nil || st.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Fatalf("TLS 1.2 ECDHE-RSA-GCM: %v, suite %x", err, st.CipherSuite)
	}
	r.stop(t)
}
