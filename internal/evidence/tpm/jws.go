package tpm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// JWS header types of the request.
const (
	TypRequestV1 = "attReq"
	TypRequestV2 = "attReqV2"
)

type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

type compactJWS struct {
	header       jwsHeader
	payload      []byte
	signingInput []byte
	signature    []byte
}

// parseCompactJWS splits and decodes a compact JWS. It checks structure only.
func parseCompactJWS(s string) (*compactJWS, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("request is not a compact JWS (want 3 parts)")
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("JWS header: %w", err)
	}
	var hdr jwsHeader
	if err := json.Unmarshal(h, &hdr); err != nil {
		return nil, fmt.Errorf("JWS header: %w", err)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("JWS payload: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("JWS signature: %w", err)
	}
	return &compactJWS{header: hdr, payload: p, signingInput: []byte(parts[0] + "." + parts[1]), signature: sig}, nil
}

// verifyPS256 checks the JWS signature with pub (RSASSA-PSS, SHA-256; the
// salt length is not fixed by RFC 7518 verifiers in practice, so any salt
// length is accepted).
func (j *compactJWS) verifyPS256(pub crypto.PublicKey) error {
	rp, ok := pub.(*rsa.PublicKey)
	if !ok {
		return errors.New("PS256 needs an RSA request key")
	}
	d := sha256.Sum256(j.signingInput)
	return rsa.VerifyPSS(rp, crypto.SHA256, d[:], j.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
}

// SignRequest returns the compact JWS (alg PS256, typ attReqV2) of payload
// signed with key, as a client builds a Request message. It fails only when
// signing fails.
func SignRequest(payload []byte, key *rsa.PrivateKey) (string, error) {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"PS256","typ":"attReqV2"}`))
	in := h + "." + base64.RawURLEncoding.EncodeToString(payload)
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", err
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// jwk is the subset of RFC 7517 we read.
type jwk struct {
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// parseJWK returns the public key of an RSA (2048 to 8192 bits) or EC (P-256,
// P-384, P-521) JWK. It rejects JWKs carrying private members.
func parseJWK(raw []byte) (crypto.PublicKey, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing JWK")
	}
	var k jwk
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

// JWKOf returns the public JWK of an RSA or ECDSA key as a map, the shape a
// token's "cnf" claim embeds ({"jwk": JWKOf(key)}). It returns nil for other
// key types.
func JWKOf(pub crypto.PublicKey) map[string]any {
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

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
