package azattest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// SigningKey is a policy signing (or, in isolated mode, policy management)
// key: the private key and the certificate the service knows it by. RSA keys
// sign with RS256 (what MAA uses); ECDSA P-256 keys with ES256.
type SigningKey struct {
	Signer      crypto.Signer
	Certificate *x509.Certificate
}

func (k *SigningKey) check() (string, error) {
	if k.Signer == nil || k.Certificate == nil {
		return "", errors.New("azattest: SigningKey needs both Signer and Certificate")
	}
	pub, ok := k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(k.Certificate.PublicKey) {
		return "", errors.New("azattest: SigningKey: the certificate's public key is not the signer's")
	}
	switch pk := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		if pk.Curve.Params().Name == "P-256" {
			return "ES256", nil
		}
	}
	return "", fmt.Errorf("azattest: SigningKey: unsupported key type %T", k.Signer.Public())
}

// createJWS builds a compact JWS over payload (nil: empty payload). With a nil
// key it is unsecured: header {"alg":"none"} and an empty signature. A signed
// header is {"alg":…,"x5c":[cert]} — the exact bytes other MAA SDKs send.
func createJWS(payload []byte, key *SigningKey) (*Token, error) {
	var hdr []byte
	if key == nil {
		hdr = []byte(`{"alg":"none"}`)
	} else {
		alg, err := key.check()
		if err != nil {
			return nil, err
		}
		hdr, err = json.Marshal(struct {
			Alg string   `json:"alg"`
			X5C []string `json:"x5c"`
		}{alg, []string{base64.StdEncoding.EncodeToString(key.Certificate.Raw)}})
		if err != nil {
			return nil, err
		}
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	sig := ""
	if key != nil {
		digest := sha256.Sum256([]byte(input))
		raw, err := key.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("azattest: signing: %w", err)
		}
		if _, ok := key.Signer.Public().(*ecdsa.PublicKey); ok {
			if raw, err = ecdsaASN1ToRaw(raw); err != nil {
				return nil, err
			}
		}
		sig = enc.EncodeToString(raw)
	}
	return ParseToken(input + "." + sig)
}

func ecdsaASN1ToRaw(der []byte) ([]byte, error) {
	var s struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &s); err != nil {
		return nil, fmt.Errorf("azattest: ECDSA signature: %w", err)
	}
	out := make([]byte, 64)
	s.R.FillBytes(out[:32])
	s.S.FillBytes(out[32:])
	return out, nil
}

// CreatePolicyToken returns the JWS that sets policy: payload
// {"AttestationPolicy": base64url(policy)}, signed with signingKey (RS256 and
// the certificate in x5c) or, if signingKey is nil, unsecured (alg none) as
// AAD-mode instances accept. The service's x-ms-policy-token-hash for this
// request will equal [PolicyTokenHash] of the token's String().
//
// It returns an error if the key is unusable or signing fails.
func CreatePolicyToken(policy string, signingKey *SigningKey) (*Token, error) {
	payload, err := json.Marshal(struct {
		P string `json:"AttestationPolicy"`
	}{base64.RawURLEncoding.EncodeToString([]byte(policy))})
	if err != nil {
		return nil, err
	}
	return createJWS(payload, signingKey)
}

// createResetToken returns the JWS with an empty payload that resets policy.
func createResetToken(signingKey *SigningKey) (*Token, error) {
	return createJWS(nil, signingKey)
}

// createCertificateToken returns the JWS that adds or removes a policy
// management certificate: payload {"policyCertificate":{"kty":…,"x5c":[…]}}.
func createCertificateToken(cert *x509.Certificate, signingKey SigningKey) (*Token, error) {
	if cert == nil {
		return nil, errors.New("azattest: certificate is nil")
	}
	payload, err := json.Marshal(struct {
		C jsonWebKey `json:"policyCertificate"`
	}{certJWK(cert)})
	if err != nil {
		return nil, err
	}
	return createJWS(payload, &signingKey)
}

// PolicyTokenHash returns SHA-256 of the policy JWS exactly as sent (its
// compact serialization): the value MAA returns, base64url-encoded, as
// x-ms-policy-token-hash, and [PolicyResult.TokenHash] decoded. Compare it
// to confirm the service received exactly your policy.
func PolicyTokenHash(policyToken string) []byte {
	h := sha256.Sum256([]byte(policyToken))
	return h[:]
}
