package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

type testCert struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

func newTestCert(t *testing.T, cn string, notAfter time.Time) testCert {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	c, _ := x509.ParseCertificate(der)
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		cert:    c,
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTLSReloadUnderLoad replaces the certificate and key files (key first,
// in place, so for a moment they do not match) while clients hammer the
// HTTPS listener over kept-alive and fresh connections: no request fails,
// new handshakes see the new certificate, the expiry metric follows it, and
// SIGHUP forces a reload.
func TestTLSReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	oldCert := newTestCert(t, "maat old", time.Now().Add(30*24*time.Hour))
	newCert := newTestCert(t, "maat new", time.Now().Add(90*24*time.Hour))
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certPath, oldCert.certPEM, 0o644)
	os.WriteFile(keyPath, oldCert.keyPEM, 0o600)

	cfg := testConfig(t.TempDir())
	cfg.TLSCert, cfg.TLSKey = certPath, keyPath
	cfg.MetricsAddr = "127.0.0.1:0"
	var logs syncBuffer
	a, err := NewWithOptions(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	pool := x509.NewCertPool()
	pool.AddCert(oldCert.cert)
	pool.AddCert(newCert.cert)
	url := "https://" + a.HTTPSAddr() + "/certs"
	client := func(keepAlive bool) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: !keepAlive}}
	}
	servedCN := func() (string, error) {
		resp, err := client(false).Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	if cn, err := servedCN(); err != nil || cn != "maat old" {
		t.Fatalf("before the reload: %q, %v", cn, err)
	}

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(i%2 == 0) // half reuse connections, half handshake every time
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	// Key first, in place: until the certificate follows, the pair does
	// not match and the old certificate must stay in service.
	if err := os.WriteFile(keyPath, newCert.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := os.WriteFile(certPath, newCert.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		cn, err := servedCN()
		if err == nil && cn == "maat new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new handshakes still see %q (%v) 15 s after the replacement", cn, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the reload; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	t.Logf("%d requests, none failed, during the certificate replacement", ok.Load())
	if !strings.Contains(logs.String(), "TLS certificate reloaded") || !strings.Contains(logs.String(), "TLS certificate reload failed") {
		t.Errorf("logs lack the reload (and the mismatch in between):\n%s", logs.String())
	}

	resp, err := http.Get("http://" + a.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("maat_tls_certificate_expiry_timestamp_seconds %g", float64(newCert.cert.NotAfter.Unix())); !strings.Contains(string(b), want) {
		t.Errorf("metrics lack %q", want)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "SIGHUP: reloading"); {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the certificate")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
