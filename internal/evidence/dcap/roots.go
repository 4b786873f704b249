package dcap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
	"sync"
)

//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// IntelRootName is the Name of the production trust root.
const IntelRootName = "Intel SGX Root CA"

// TrustRoot is a trust anchor, pinned by its public key: a chain whose root
// certificate carries the same SubjectPublicKeyInfo chains to it, whatever
// the root certificate's validity (Intel re-issued its root with the same
// key and serial and a different validity).
type TrustRoot struct {
	// Name identifies the root in results (Result.Root).
	Name string
	// Cert is the root certificate; only its public key is pinned.
	Cert *x509.Certificate
}

var intelRoot = sync.OnceValue(func() TrustRoot {
	r, err := NewTrustRoot(IntelRootName, intelRootPEM)
	if err != nil {
		panic("dcap: embedded Intel root: " + err.Error())
	}
	return r
})

// IntelRoot returns the production Intel SGX Root CA (public key 04 0ba9c4c0…).
func IntelRoot() TrustRoot { return intelRoot() }

// NewTrustRoot parses a PEM or DER root certificate with an ECDSA P-256 key.
// It returns an error when b holds no such certificate.
func NewTrustRoot(name string, b []byte) (TrustRoot, error) {
	der := b
	if blk, _ := pem.Decode(bytes.TrimSpace(b)); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return TrustRoot{}, fmt.Errorf("dcap: trust root PEM block is %q", blk.Type)
		}
		der = blk.Bytes
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return TrustRoot{}, fmt.Errorf("dcap: trust root: %w", err)
	}
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return TrustRoot{}, fmt.Errorf("dcap: trust root key is not ECDSA P-256")
	}
	if name == "" {
		name = c.Subject.CommonName
	}
	return TrustRoot{Name: name, Cert: c}, nil
}
