package attestation

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

const unsecuredHeader = "eyJhbGciOiJub25lIn0" // base64url({"alg":"none"})

// MaxPolicyJWSBytes bounds a policy or certificate JWS before parsing.
const MaxPolicyJWSBytes = 256 << 10

// unsecuredPolicyJWS returns MAA's unsecured policy JWS for text:
// {"alg":"none"} . {"AttestationPolicy": base64url(text)} . (empty).
func unsecuredPolicyJWS(text string) (string, error) {
	payload, err := json.Marshal(map[string]string{"AttestationPolicy": jose.B64.EncodeToString([]byte(text))})
	if err != nil {
		return "", err
	}
	return unsecuredHeader + "." + jose.B64.EncodeToString(payload) + ".", nil
}

func parseJWS(s string) (*jose.JWS, error) {
	if s == "" {
		return nil, maaerr.New(maaerr.InvalidOperation, "Malformed JWT: the request body is empty.")
	}
	j, err := jose.Parse(s)
	if dup := duplicateErr(err, "JWS header"); dup != nil {
		return nil, dup
	}
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed JWT: %s", strings.TrimPrefix(err.Error(), "jose: malformed JWS: "))
	}
	return j, nil
}

// duplicateErr turns a *jsonstrict.DuplicateError into MAA's
// InvalidParameter naming the member; other errors give nil.
func duplicateErr(err error, what string) error {
	var dup *jsonstrict.DuplicateError
	if !errors.As(err, &dup) {
		return nil
	}
	name := dup.Name
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return maaerr.New(maaerr.InvalidParameter, "The %s is ambiguous: the member %q appears more than once (names are matched case-insensitively); send it once.", what, name)
}

// SignerJWK is the JWK MAA reports for a policy signer
// (x-ms-policy-signer): {"alg":"RS256","kty":"RSA","use":"sig","x5c":[…]}.
func SignerJWK(cert *x509.Certificate) map[string]any {
	kty, alg := "RSA", "RS256"
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		kty, alg = "EC", "ES256"
	}
	return map[string]any{"alg": alg, "kty": kty, "use": "sig", "x5c": []string{base64.StdEncoding.EncodeToString(cert.Raw)}}
}

// TokenHash is x-ms-policy-token-hash: base64url(SHA-256(JWS as sent)).
func TokenHash(jws string) string {
	h := sha256.Sum256([]byte(jws))
	return jose.B64.EncodeToString(h[:])
}

// CertificateJWK is how MAA lists a policy-management certificate:
// {"alg":"RS256","kty":"RSA","use":"sig","x5c":[…]} (ES256/EC for an EC key).
func CertificateJWK(der []byte) map[string]any {
	if c, err := x509.ParseCertificate(der); err == nil {
		return SignerJWK(c)
	}
	return map[string]any{"alg": "RS256", "kty": "RSA", "use": "sig", "x5c": []string{base64.StdEncoding.EncodeToString(der)}}
}

// HexThumbprint is MAA's x-ms-certificate-thumbprint: uppercase hex SHA-1 of
// the DER certificate.
func HexThumbprint(der []byte) string {
	h := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}
