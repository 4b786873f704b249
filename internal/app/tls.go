package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tlsConfig loads the configured certificate, or in dev mode generates (once)
// a self-signed one in the data directory. It returns the SHA-256 fingerprint
// of the leaf and the certificate path.
func (a *App) tlsConfig() (*tls.Config, string, string, error) {
	certPath, keyPath := a.cfg.TLSCert, a.cfg.TLSKey
	if certPath == "" && a.cfg.Dev {
		certPath = filepath.Join(a.cfg.DataDir, "dev-tls-cert.pem")
		keyPath = filepath.Join(a.cfg.DataDir, "dev-tls-key.pem")
		if err := ensureDevCert(certPath, keyPath, a.inst.issuer); err != nil {
			return nil, "", "", fmt.Errorf("dev TLS certificate: %w", err)
		}
	}
	certs, err := newCertReloader(certPath, keyPath, a.log)
	if err != nil {
		return nil, "", "", err
	}
	a.certs = certs // hot reload: certreload.go
	sum := sha256.Sum256(certs.current().Certificate[0])
	return serverTLSConfig(a.cfg.TLSMinVersion, certs.getCertificate), fingerprint(sum[:]), certPath, nil
}

// tls12Suites are the TLS 1.2 cipher suites the server accepts: ECDHE key
// exchange (forward secrecy) with an AEAD, nothing with CBC, SHA-1 or RSA
// key transport. TLS 1.3 suites are all AEAD and not configurable.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverTLSConfig is the HTTPS listener's configuration; minVersion is the
// validated tls-min-version ("1.2" or "1.3").
func serverTLSConfig(minVersion string, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	v := uint16(tls.VersionTLS12)
	if minVersion == "1.3" {
		v = tls.VersionTLS13
	}
	return &tls.Config{
		MinVersion:     v,
		CipherSuites:   tls12Suites,
		GetCertificate: getCert,
	}
}

func fingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// ensureDevCert creates a self-signed ECDSA P-256 certificate for localhost,
// the loopback addresses and the issuer's host, unless both files exist.
func ensureDevCert(certPath, keyPath, issuer string) error {
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	if errC == nil && errK == nil {
		return nil
	}
	if !errors.Is(errC, os.ErrNotExist) && errC != nil {
		return errC
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "maat development server", Organization: []string{"Maat (development mode)"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if u, err := url.Parse(issuer); err == nil {
		if h := u.Hostname(); h != "" && h != "localhost" {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
