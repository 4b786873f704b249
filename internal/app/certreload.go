package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// certReloader serves the HTTPS certificate and replaces it, without
// dropping connections, when its files change (polled) or on SIGHUP: new
// handshakes get the new certificate, established connections keep theirs.
// A pair that does not load (a half-written file, a key that does not match
// yet) is logged and the previous certificate kept until the next attempt.
type certReloader struct {
	certPath, keyPath string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serialises reloads
	seen [32]byte   // SHA-256 of the file contents last loaded
}

// newCertReloader loads the pair once; it returns the error of the first
// load (the server does not start without a certificate).
func newCertReloader(certPath, keyPath string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certPath: certPath, keyPath: keyPath, log: log}
	if _, err := r.reload(false); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

func (r *certReloader) current() *tls.Certificate { return r.cur.Load() }

// notAfter is the expiry of the certificate being served.
func (r *certReloader) notAfter() (time.Time, bool) {
	c := r.cur.Load()
	if c == nil || c.Leaf == nil {
		return time.Time{}, false
	}
	return c.Leaf.NotAfter, true
}

// reload loads the files when their contents changed since the last load
// (always when force). It reports whether a new certificate is served.
func (r *certReloader) reload(force bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.certPath)
	if err != nil {
		return false, fmt.Errorf("tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyPath)
	if err != nil {
		return false, fmt.Errorf("tls-key: %w", err)
	}
	sum := sha256.Sum256(append(append(bytes.Clone(certPEM), 0), keyPEM...))
	if !force && sum == r.seen && r.cur.Load() != nil {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("tls-cert/tls-key: %w", err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return false, fmt.Errorf("tls-cert: %w", err)
		}
	}
	r.seen = sum
	prev := r.cur.Swap(&pair)
	if prev != nil {
		fp := sha256.Sum256(pair.Certificate[0])
		r.log.Info("TLS certificate reloaded", "sha256_fingerprint", fingerprint(fp[:]), "subject", pair.Leaf.Subject.String(),
			"not_after", pair.Leaf.NotAfter.Format(time.RFC3339), "days_to_expiry", int(time.Until(pair.Leaf.NotAfter).Hours()/24))
	}
	return true, nil
}

// watch reloads on SIGHUP and whenever the files change, polling every
// interval, until ctx ends.
func (r *certReloader) watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			force = true
			r.log.Info("SIGHUP: reloading the TLS certificate", "tls_cert", r.certPath)
		}
		if _, err := r.reload(force); err != nil {
			// Logged once per distinct failure: a replacement in progress
			// fails for a tick or two.
			if err.Error() != lastErr {
				r.log.Warn("TLS certificate reload failed; serving the previous certificate", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
	}
}
