package app

import (
	"crypto/x509"
	"fmt"

	"github.com/maat-attest/maat/internal/devaik"
)

// devAIKRoots returns pool (nil for none) with the development AIK CA added,
// so that a --dev server accepts `maat attest tpm --simulator` under MAA's
// default require_valid_aik_cert. It says so at start; tokens whose AIK it
// validated carry x-maat-tpm-aik-root with the CA's name.
func (a *App) devAIKRoots(pool *x509.CertPool) (*x509.CertPool, error) {
	root, err := devaik.Root()
	if err != nil {
		return nil, err
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AddCert(root)
	fmt.Fprintf(a.out, "dev TPM AIK CA trusted: AIKs of `maat attest tpm --simulator` validate (token claim x-maat-tpm-aik-root: %q)\n", root.Subject.CommonName)
	a.log.Warn("DEVELOPMENT AIK CA: TPM attestation keys certified by the public development CA are trusted", "ca", root.Subject.CommonName)
	return pool, nil
}
