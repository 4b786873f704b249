package azattest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Signer is a key that signs tokens: an entry of the service's /certs JWKS, a
// policy signer (x-ms-policy-signer) or a policy management certificate.
type Signer struct {
	// KeyID is the JWK "kid" ("" if the JWK has none).
	KeyID string
	// Certificates is the JWK's "x5c" chain, leaf first (may be empty for a
	// JWK that carries only a raw key).
	Certificates []*x509.Certificate
	// PublicKey is the verification key: the leaf certificate's key, or the
	// key in the JWK's "n"/"e" (RSA) or "crv"/"x"/"y" (EC P-256) members.
	PublicKey crypto.PublicKey
}

// jsonWebKey is the subset of RFC 7517 members MAA uses.
type jsonWebKey struct {
	Kty string   `json:"kty,omitempty"`
	Kid string   `json:"kid,omitempty"`
	Alg string   `json:"alg,omitempty"`
	Use string   `json:"use,omitempty"`
	X5C []string `json:"x5c,omitempty"`
	N   string   `json:"n,omitempty"`
	E   string   `json:"e,omitempty"`
	Crv string   `json:"crv,omitempty"`
	X   string   `json:"x,omitempty"`
	Y   string   `json:"y,omitempty"`
}

// ParseSigners parses a JWK Set ({"keys":[…]}), as served by /certs or carried
// in x-ms-policy-certificates. Keys that cannot be used for verification
// (unknown kty, undecodable certificates) are skipped: they widen nothing. It
// returns an error if jwks is not a JWK Set or no key is usable.
func ParseSigners(jwks []byte) ([]Signer, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("azattest: JWK set: %w", err)
	}
	var out []Signer
	var firstErr error
	for _, raw := range set.Keys {
		s, err := parseJWK(raw)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		if firstErr == nil {
			firstErr = errors.New("no keys")
		}
		return nil, fmt.Errorf("azattest: JWK set has no usable key: %w", firstErr)
	}
	return out, nil
}

func parseJWK(raw []byte) (Signer, error) {
	var k jsonWebKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return Signer{}, fmt.Errorf("azattest: JWK: %w", err)
	}
	s := Signer{KeyID: k.Kid}
	if len(k.X5C) > 0 {
		certs, err := parseX5C(k.X5C)
		if err != nil {
			return Signer{}, err
		}
		s.Certificates = certs
		s.PublicKey = certs[0].PublicKey
	}
	var jwkKey crypto.PublicKey
	switch {
	case k.N != "" || k.E != "":
		n, err1 := b64Decode(k.N)
		e, err2 := b64Decode(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return Signer{}, errors.New("azattest: JWK: bad RSA n/e")
		}
		jwkKey = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case k.X != "" || k.Y != "":
		if k.Crv != "P-256" {
			return Signer{}, fmt.Errorf("azattest: JWK: unsupported curve %q", k.Crv)
		}
		x, err1 := b64Decode(k.X)
		y, err2 := b64Decode(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return Signer{}, errors.New("azattest: JWK: bad EC x/y")
		}
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if _, err := pub.ECDH(); err != nil { // rejects points not on the curve
			return Signer{}, errors.New("azattest: JWK: EC point not on P-256")
		}
		jwkKey = pub
	}
	switch {
	case s.PublicKey == nil && jwkKey == nil:
		return Signer{}, errors.New("azattest: JWK has neither x5c nor a public key")
	case s.PublicKey == nil:
		s.PublicKey = jwkKey
	case jwkKey != nil:
		if eq, ok := s.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(jwkKey) {
			return Signer{}, errors.New("azattest: JWK key does not match its x5c certificate")
		}
	}
	switch pk := s.PublicKey.(type) {
	case *rsa.PublicKey:
		// MAA's 2020 signing keys were RSA-1024; smaller keys are refused
		// (crypto/rsa would refuse to verify with them anyway).
		if pk.N.BitLen() < 1024 {
			return Signer{}, fmt.Errorf("azattest: JWK: RSA key of %d bits is too small", pk.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return Signer{}, errors.New("azattest: JWK: only P-256 EC keys are supported")
		}
	default:
		return Signer{}, fmt.Errorf("azattest: JWK: unsupported key type %T", s.PublicKey)
	}
	return s, nil
}

// toJWK renders a certificate as MAA's policy-certificate JWK: kty and x5c.
func certJWK(cert *x509.Certificate) jsonWebKey {
	kty := "RSA"
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
		kty = "EC"
	}
	return jsonWebKey{Kty: kty, X5C: []string{base64.StdEncoding.EncodeToString(cert.Raw)}}
}
