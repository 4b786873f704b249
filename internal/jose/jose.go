// Package jose produces and checks the JSON Web Signatures Maat exchanges
// with MAA clients: compact JWS tokens the server signs (RS256, header
// {"alg","jku","kid","typ"} in MAA's order), unsecured (alg "none") tokens
// for draft-policy results and unsigned policies, JWK Sets for /certs, and
// the verification of incoming policy and certificate JWS with a strict
// algorithm allow-list.
//
// It is written on the standard library rather than a JOSE library because
// MAA compatibility needs exact control of header bytes (member order, the
// "RSA256" alias some Microsoft clients send, keys carried in x5c or jwk) that
// general-purpose libraries reject or normalise.
package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unsafe"

	"github.com/maat-attest/maat/internal/jsonstrict"
)

// Algorithm names used on the wire.
const (
	AlgNone  = "none"
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
	AlgES256 = "ES256"
	AlgES384 = "ES384"
	// AlgRSA256 is not a registered JOSE algorithm: Microsoft's 2020 .NET
	// SDK and MAA's own documentation label RS256 signatures "RSA256", and MAA
	// accepts them. We accept it as an alias of RS256 on input only.
	AlgRSA256 = "RSA256"
)

// Limits on untrusted input, checked before any decoding.
const (
	// MaxCompactLen bounds a compact JWS accepted for parsing.
	MaxCompactLen = 1 << 20
	// MaxX5C bounds the number of certificates in an x5c header.
	MaxX5C = 10
)

// Errors returned (wrapped) by Parse and Verify.
var (
	ErrMalformed        = errors.New("jose: malformed JWS")
	ErrUnsupportedAlg   = errors.New("jose: unsupported signature algorithm")
	ErrBadSignature     = errors.New("jose: signature verification failed")
	ErrUnsecured        = errors.New("jose: token is unsecured (alg none)")
	ErrNoKey            = errors.New("jose: no verification key in the JWS header")
	ErrTooLarge         = errors.New("jose: JWS too large")
	ErrUnexpectedSigner = errors.New("jose: JWS signature present on an unsecured token")
)

// Header is a JOSE header. Field order is MAA's (alphabetical), so the
// encoding of the headers Maat signs is byte-for-byte MAA's shape.
type Header struct {
	Alg string   `json:"alg"`
	JKU string   `json:"jku,omitempty"`
	JWK *JWK     `json:"jwk,omitempty"`
	KID string   `json:"kid,omitempty"`
	Typ string   `json:"typ,omitempty"`
	X5C []string `json:"x5c,omitempty"`
	X5T string   `json:"x5t,omitempty"`
	// Crit lists extensions a verifier must understand; Maat understands
	// none, so callers reject a JWS that has it.
	Crit json.RawMessage `json:"crit,omitempty"`
}

// JWK is the subset of RFC 7517 members MAA uses. /certs entries carry only
// x5c, kid and kty, in that order, as MAA serves them.
type JWK struct {
	X5C []string `json:"x5c,omitempty"`
	KID string   `json:"kid,omitempty"`
	KTY string   `json:"kty"`
	Alg string   `json:"alg,omitempty"`
	Use string   `json:"use,omitempty"`
	N   string   `json:"n,omitempty"`
	E   string   `json:"e,omitempty"`
	Crv string   `json:"crv,omitempty"`
	X   string   `json:"x,omitempty"`
	Y   string   `json:"y,omitempty"`
}

// JWKSet is an RFC 7517 JWK Set.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// B64 is unpadded base64url, the JWS encoding.
var B64 = base64.RawURLEncoding

// DecodeB64Loose decodes base64url with or without padding, and standard
// base64, as real MAA clients send all three. It returns an error for
// anything else.
func DecodeB64Loose(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	trimmed := strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(trimmed); err == nil {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.DecodeString(trimmed); err == nil {
		return b, nil
	}
	return nil, errors.New("invalid base64 or base64url data")
}

// DecodeB64LooseBytes is DecodeB64Loose for bytes (a JSON string's
// contents), decoding into one new buffer without converting to a string.
func DecodeB64LooseBytes(b []byte) ([]byte, error) {
	b = bytes.TrimRight(bytes.TrimSpace(b), "=")
	dst := make([]byte, base64.RawURLEncoding.DecodedLen(len(b)))
	if n, err := base64.RawURLEncoding.Decode(dst, b); err == nil {
		return dst[:n], nil
	}
	if n, err := base64.RawStdEncoding.Decode(dst, b); err == nil {
		return dst[:n], nil
	}
	return nil, errors.New("invalid base64 or base64url data")
}

// CertJWK returns the JWK MAA publishes for a certificate chain: kty from
// the leaf key, kid, and x5c as standard base64 DER.
func CertJWK(kid string, chain ...*x509.Certificate) JWK {
	j := JWK{KID: kid, KTY: "RSA"}
	if len(chain) > 0 {
		if _, ok := chain[0].PublicKey.(*ecdsa.PublicKey); ok {
			j.KTY = "EC"
		}
	}
	for _, c := range chain {
		j.X5C = append(j.X5C, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return j
}

// Sign returns the compact JWS of claims under header, signed by key. The
// header's Alg selects the algorithm (RS256, PS256, ES256). claims is
// marshalled with encoding/json (a map marshals with sorted keys, as MAA's
// tokens are). It returns an error for an unsupported algorithm or key.
func Sign(header Header, claims any, key crypto.Signer) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jose: marshal claims: %w", err)
	}
	return SignPayload(header, payload, key)
}

// SignPayload is Sign for an already-encoded payload (possibly empty, as in
// MAA's policy-reset JWS).
func SignPayload(header Header, payload []byte, key crypto.Signer) (string, error) {
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("jose: marshal header: %w", err)
	}
	// One buffer holds header.payload, then .signature: sized for the
	// whole token so that nothing is copied again (tokens are ~5 kB and
	// issued once per attestation).
	n := B64.EncodedLen(len(hb)) + 1 + B64.EncodedLen(len(payload)) + 1 + B64.EncodedLen(signatureSize(key))
	buf := make([]byte, 0, n)
	buf = B64.AppendEncode(buf, hb)
	buf = append(buf, '.')
	buf = B64.AppendEncode(buf, payload)
	sig, err := signBytes(header.Alg, key, buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = B64.AppendEncode(buf, sig)
	// buf is never written again: the string may share its memory.
	return unsafe.String(unsafe.SliceData(buf), len(buf)), nil
}

// signatureSize is the length of key's JWS signature (RSA: the modulus
// size; ECDSA: twice the coordinate size), or 0 when unknown.
func signatureSize(key crypto.Signer) int {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		return pub.Size()
	case *ecdsa.PublicKey:
		return 2 * ((pub.Curve.Params().BitSize + 7) / 8)
	}
	return 0
}

// Unsecured returns an unsecured compact JWS (empty signature) of claims
// under header, whose Alg is forced to "none". MAA returns such tokens for
// draft-policy attestations and uses them for unsigned policies.
func Unsecured(header Header, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jose: marshal claims: %w", err)
	}
	return UnsecuredPayload(header, payload)
}

// UnsecuredPayload is Unsecured for an already-encoded payload.
func UnsecuredPayload(header Header, payload []byte) (string, error) {
	header.Alg = AlgNone
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("jose: marshal header: %w", err)
	}
	return B64.EncodeToString(hb) + "." + B64.EncodeToString(payload) + ".", nil
}

func signBytes(alg string, key crypto.Signer, input []byte) ([]byte, error) {
	switch alg {
	case AlgRS256, AlgPS256:
		if _, ok := key.Public().(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: %s needs an RSA key", ErrUnsupportedAlg, alg)
		}
		d := sha256.Sum256(input)
		var opts crypto.SignerOpts = crypto.SHA256
		if alg == AlgPS256 {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		}
		return key.Sign(rand.Reader, d[:], opts)
	case AlgES256:
		pub, ok := key.Public().(*ecdsa.PublicKey)
		if !ok || pub.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("%w: ES256 needs a P-256 key", ErrUnsupportedAlg)
		}
		d := sha256.Sum256(input)
		der, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return ecdsaDERToRaw(der, 32)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
}

// JWS is a parsed compact JWS. Nothing in it is trusted until Verify
// succeeds.
type JWS struct {
	Raw          string
	Header       Header
	RawHeader    []byte
	Payload      []byte
	Signature    []byte
	signingInput string
}

// Parse splits and decodes a compact JWS: three base64url parts, a JSON
// header with an "alg". It checks structure only; it returns ErrTooLarge or
// ErrMalformed (wrapped, with the reason) on bad input.
func Parse(compact string) (*JWS, error) { return ParseLimit(compact, MaxCompactLen) }

// ParseLimit is Parse with another size bound, for JWS that legitimately
// carry more than MaxCompactLen (TPM requests with event logs).
func ParseLimit(compact string, limit int) (*JWS, error) {
	if len(compact) > limit {
		return nil, fmt.Errorf("%w (%d bytes, limit %d)", ErrTooLarge, len(compact), limit)
	}
	compact = strings.TrimSpace(compact)
	first := strings.IndexByte(compact, '.')
	if first < 0 {
		return nil, fmt.Errorf("%w: could not find the first period in the token", ErrMalformed)
	}
	second := strings.IndexByte(compact[first+1:], '.')
	if second < 0 {
		return nil, fmt.Errorf("%w: could not find the second period in the token", ErrMalformed)
	}
	second += first + 1
	if strings.IndexByte(compact[second+1:], '.') >= 0 {
		return nil, fmt.Errorf("%w: too many periods (JWE and JSON serialisations are not supported)", ErrMalformed)
	}
	j := &JWS{Raw: compact, signingInput: compact[:second]}
	var err error
	if j.RawHeader, err = B64.DecodeString(compact[:first]); err != nil {
		return nil, fmt.Errorf("%w: header is not base64url: %v", ErrMalformed, err)
	}
	if j.Payload, err = B64.DecodeString(compact[first+1 : second]); err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url: %v", ErrMalformed, err)
	}
	if j.Signature, err = B64.DecodeString(compact[second+1:]); err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url: %v", ErrMalformed, err)
	}
	// The header is decoded into a struct, whose field matching ignores
	// case: a member given twice (in any case) would have two meanings.
	if err := jsonstrict.Check(j.RawHeader, true, 16); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j.RawHeader))
	if err := dec.Decode(&j.Header); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object: %v", ErrMalformed, err)
	}
	if j.Header.Alg == "" {
		return nil, fmt.Errorf("%w: header has no \"alg\"", ErrMalformed)
	}
	if len(j.Header.X5C) > MaxX5C || (j.Header.JWK != nil && len(j.Header.JWK.X5C) > MaxX5C) {
		return nil, fmt.Errorf("%w: x5c chain longer than %d certificates", ErrMalformed, MaxX5C)
	}
	return j, nil
}

// Alg returns the header's algorithm with the RSA256 alias resolved.
func (j *JWS) Alg() string {
	if j.Header.Alg == AlgRSA256 {
		return AlgRS256
	}
	return j.Header.Alg
}

// Unsecured reports whether the JWS claims alg "none".
func (j *JWS) Unsecured() bool { return strings.EqualFold(j.Header.Alg, AlgNone) }

// CheckUnsecured returns nil when the JWS is a well-formed unsecured token
// (alg none, empty signature), ErrUnexpectedSigner when it carries a
// signature, and ErrUnsupportedAlg (wrapped) when it is not alg none.
func (j *JWS) CheckUnsecured() error {
	if !j.Unsecured() {
		return fmt.Errorf("%w: expected an unsecured token, got alg %q", ErrUnsupportedAlg, j.Header.Alg)
	}
	if len(j.Signature) != 0 {
		return ErrUnexpectedSigner
	}
	return nil
}

// HeaderCertificates parses the certificate chain the header carries, in
// x5c or jwk.x5c (standard base64 DER; JSON escapes such as \u002B are
// handled by the JSON decoder). It returns ErrNoKey when there is none and
// ErrMalformed (wrapped) when a certificate does not parse.
func (j *JWS) HeaderCertificates() ([]*x509.Certificate, error) {
	x5c := j.Header.X5C
	if len(x5c) == 0 && j.Header.JWK != nil {
		x5c = j.Header.JWK.X5C
	}
	if len(x5c) == 0 {
		return nil, ErrNoKey
	}
	certs := make([]*x509.Certificate, 0, len(x5c))
	for i, s := range x5c {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if der, err = DecodeB64Loose(s); err != nil {
				return nil, fmt.Errorf("%w: x5c[%d] is not base64", ErrMalformed, i)
			}
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: x5c[%d]: %v", ErrMalformed, i, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// AllowedAlgs is the allow-list Verify applies: the asymmetric algorithms
// MAA clients use (RS256 and its RSA256 alias, PS256, ES256, ES384).
// Symmetric algorithms and "none" are never verified.
var AllowedAlgs = []string{AlgRS256, AlgPS256, AlgES256, AlgES384}

// Verify checks the JWS signature with pub under the header's algorithm,
// which must be on AllowedAlgs. It returns ErrUnsecured for alg none,
// ErrUnsupportedAlg for anything else off the list or a key of the wrong
// type, and ErrBadSignature when the signature does not verify.
func (j *JWS) Verify(pub crypto.PublicKey) error {
	alg := j.Alg()
	if j.Unsecured() {
		return ErrUnsecured
	}
	input := []byte(j.signingInput)
	switch alg {
	case AlgRS256, AlgPS256:
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s with a non-RSA key", ErrUnsupportedAlg, alg)
		}
		if rk.N.BitLen() < 1024 {
			return fmt.Errorf("%w: RSA key of %d bits is too small", ErrUnsupportedAlg, rk.N.BitLen())
		}
		d := sha256.Sum256(input)
		var err error
		if alg == AlgRS256 {
			err = rsa.VerifyPKCS1v15(rk, crypto.SHA256, d[:], j.Signature)
		} else {
			err = rsa.VerifyPSS(rk, crypto.SHA256, d[:], j.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256})
		}
		if err != nil {
			return ErrBadSignature
		}
		return nil
	case AlgES256, AlgES384:
		ek, ok := pub.(*ecdsa.PublicKey)
		size, bits := 32, 256
		if alg == AlgES384 {
			size, bits = 48, 384
		}
		if !ok || ek.Curve.Params().BitSize != bits {
			return fmt.Errorf("%w: %s with a key that is not P-%d", ErrUnsupportedAlg, alg, bits)
		}
		if len(j.Signature) != 2*size {
			return ErrBadSignature
		}
		var digest []byte
		if alg == AlgES256 {
			d := sha256.Sum256(input)
			digest = d[:]
		} else {
			d := sha512.Sum384(input)
			digest = d[:]
		}
		r := new(big.Int).SetBytes(j.Signature[:size])
		s := new(big.Int).SetBytes(j.Signature[size:])
		if !ecdsa.Verify(ek, digest, r, s) {
			return ErrBadSignature
		}
		return nil
	default:
		return fmt.Errorf("%w: %q", ErrUnsupportedAlg, j.Header.Alg)
	}
}

func ecdsaDERToRaw(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil {
		return nil, fmt.Errorf("jose: ecdsa signature: %w", err)
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

// X5T returns the x5t of a certificate: base64url SHA-1 of its DER (MAA's
// other thumbprint flavour, upper-hex SHA-1, is attestation.HexThumbprint).
func X5T(c *x509.Certificate) string {
	h := sha1.Sum(c.Raw)
	return B64.EncodeToString(h[:])
}
