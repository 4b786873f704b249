package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// rawJWK is the subset of RFC 7517 members PublicKeyFromJWK reads.
type rawJWK struct {
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// PublicKeyFromJWK returns the public key of an RSA (2048 to 8192 bits) or EC
// (P-256, P-384, P-521) JWK. It returns an error for other keys, malformed
// members, points off the curve, and JWKs carrying private members.
func PublicKeyFromJWK(raw []byte) (crypto.PublicKey, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing JWK")
	}
	var k rawJWK
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	if k.D != "" {
		return nil, errors.New("JWK carries a private key")
	}
	switch k.Kty {
	case "RSA":
		n, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
		if err != nil || len(n) == 0 || len(n) > 1024 {
			return nil, errors.New("JWK: bad RSA modulus")
		}
		e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("JWK: bad RSA exponent")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if bits := pub.N.BitLen(); bits < 2048 || bits > 8192 {
			return nil, fmt.Errorf("JWK: RSA key of %d bits (want 2048 to 8192)", bits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("JWK: bad RSA exponent")
		}
		return pub, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("JWK: unsupported curve %q", k.Crv)
		}
		x, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.X, "="))
		y, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.Y, "="))
		if err1 != nil || err2 != nil || len(x) > 66 || len(y) > 66 {
			return nil, errors.New("JWK: bad EC coordinates")
		}
		pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !curve.IsOnCurve(pub.X, pub.Y) {
			return nil, errors.New("JWK: EC point not on curve")
		}
		return pub, nil
	}
	return nil, fmt.Errorf("JWK: unsupported kty %q", k.Kty)
}

// PublicJWK returns the public JWK of an RSA or ECDSA key as a map, the shape
// a token's "cnf" claim embeds ({"jwk": PublicJWK(key)}). It returns nil for
// other key types.
func PublicJWK(pub crypto.PublicKey) map[string]any {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{
			"kty": "RSA",
			"n":   base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		}
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		return map[string]any{
			"kty": "EC",
			"crv": k.Curve.Params().Name,
			"x":   base64.RawURLEncoding.EncodeToString(k.X.FillBytes(make([]byte, size))),
			"y":   base64.RawURLEncoding.EncodeToString(k.Y.FillBytes(make([]byte, size))),
		}
	}
	return nil
}
