// Package devaik is the development AIK CA: a certificate authority whose
// private key is public (it ships in this repository), which `maat attest
// tpm --simulator` uses to certify the simulator's attestation keys and
// which only a `maat serve --dev` server trusts. It lets the TPM simulator
// pass MAA's default require_valid_aik_cert on a development server, and
// is visible as such: the CA's name says it is not a TPM manufacturer, and
// a dev server's tokens name the AIK root that validated (x-maat-tpm-aik-root).
//
// A production server never trusts it: AIK roots come only from
// tpm-aik-root there.
package devaik

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
)

//go:embed ca.pem
var caPEM []byte

// Root returns the development AIK CA certificate. It returns an error only
// if the embedded certificate is damaged.
func Root() (*x509.Certificate, error) {
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		return nil, fmt.Errorf("devaik: embedded CA is not PEM")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// RootPEM returns the development AIK CA certificate as PEM, e.g. for a
// non-dev server's tpm-aik-root in a test environment.
func RootPEM() []byte { return append([]byte(nil), caPEM...) }
