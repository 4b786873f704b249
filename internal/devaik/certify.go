//go:build simulator

package devaik

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"fmt"
	"math/big"
)

// The CA key is only linked into builds with the simulator: it certifies
// simulated AIKs and nothing else needs it.
//
//go:embed ca-key.pem
var caKeyPEM []byte

// Certify returns a DER certificate, issued by the development AIK CA, for
// the attestation key aik. Its validity is the CA's, so a dev server whose
// evidence clock replays a past date still accepts it. It returns an error
// if the embedded key is damaged or signing fails.
func Certify(aik crypto.PublicKey) ([]byte, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(caKeyPEM)
	if blk == nil {
		return nil, fmt.Errorf("devaik: embedded CA key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devaik: embedded CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("devaik: embedded CA key is a %T", k)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Maat TPM simulator AIK (development only)", Organization: []string{"Maat development"}},
		NotBefore:    root.NotBefore,
		NotAfter:     root.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, root, aik, signer)
}
