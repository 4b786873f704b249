package azattest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxTokenLength bounds the compact serialization [ParseToken] accepts (4 MiB).
// MAA attestation tokens are a few kilobytes; policy tokens grow with the
// policy text.
const MaxTokenLength = 4 << 20

// Token is a parsed compact JWS (RFC 7515) as issued by MAA: attestation
// tokens, policy and certificate management tokens, and the policy JWS a
// client sends. A Token is immutable; [Token.String] returns the exact string
// it was parsed from.
//
// Parsing checks structure only. Use [Token.Validate] (or a client, which
// validates every token it returns) to check the signature, times and issuer.
type Token struct {
	raw        string
	headerEnd  int // index of the first '.'
	payloadEnd int // index of the second '.'
	header     TokenHeader
	rawHeader  map[string]json.RawMessage
	payload    []byte
	rawClaims  map[string]json.RawMessage
	claims     TokenClaims
	signature  []byte
}

// TokenHeader holds the JOSE header parameters of a [Token] that MAA uses.
// The values are as the token carries them: the validator never trusts a key
// named or carried here (jku, x5c, jwk).
type TokenHeader struct {
	// Algorithm is the "alg" parameter, e.g. "RS256" or "none".
	Algorithm string `json:"alg"`
	// KeyID is the "kid" parameter: the JWKS key that signed the token.
	KeyID string `json:"kid,omitempty"`
	// JWKSetURL is the "jku" parameter (MAA: "<instance>/certs").
	JWKSetURL string `json:"jku,omitempty"`
	// X509CertChain is the "x5c" parameter: standard base64 DER certificates,
	// leaf first. MAA request JWS carry the signer's certificate here.
	X509CertChain []string `json:"x5c,omitempty"`
	// X509Thumbprint is the "x5t" parameter (base64url SHA-1 of the leaf DER).
	X509Thumbprint string `json:"x5t,omitempty"`
	// Type is the "typ" parameter, "JWT" for MAA tokens.
	Type string `json:"typ,omitempty"`
	// ContentType is the "cty" parameter.
	ContentType string `json:"cty,omitempty"`
}

// Certificates decodes [TokenHeader.X509CertChain]. It returns an error
// wrapping [ErrMalformedToken] if an entry is not base64 DER.
func (h TokenHeader) Certificates() ([]*x509.Certificate, error) {
	return parseX5C(h.X509CertChain)
}

// TokenClaims holds the registered JWT claims of a [Token]. Times are nil when
// the claim is absent.
type TokenClaims struct {
	Issuer    string     // "iss"
	ID        string     // "jti"
	IssuedAt  *time.Time // "iat"
	NotBefore *time.Time // "nbf"
	ExpiresAt *time.Time // "exp"
}

var (
	// ErrMalformedToken is wrapped by errors for strings that are not a
	// well-formed compact JWS with a JSON header and (if present) JSON payload.
	ErrMalformedToken = errors.New("malformed token")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("azattest: %w: %s", ErrMalformedToken, fmt.Sprintf(format, args...))
}

// ParseToken parses a compact JWS "header.payload.signature". The payload may
// be empty (policy reset tokens) and the signature is empty for unsecured
// ("alg":"none") tokens. It checks structure only.
//
// It returns an error wrapping [ErrMalformedToken] if s is empty, longer than
// [MaxTokenLength], has other than three segments (a JWE has five), has a
// segment that is not unpadded base64url, a header that is not a JSON object
// with a string "alg", or a payload that is not JSON.
func ParseToken(s string) (*Token, error) {
	if s == "" {
		return nil, malformed("empty token")
	}
	if len(s) > MaxTokenLength {
		return nil, malformed("token is %d bytes, longer than %d", len(s), MaxTokenLength)
	}
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return nil, malformed("no '.' separator: want header.payload.signature")
	}
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return nil, malformed("one '.' separator: want header.payload.signature (truncated?)")
	}
	j += i + 1
	if k := strings.IndexByte(s[j+1:], '.'); k >= 0 {
		return nil, malformed("more than three segments (a JWE or concatenated tokens are not supported)")
	}
	t := &Token{raw: s, headerEnd: i, payloadEnd: j}
	if i == 0 {
		return nil, malformed("empty header segment")
	}
	hdr, err := b64Decode(s[:i])
	if err != nil {
		return nil, malformed("header segment: %v", err)
	}
	if err := json.Unmarshal(hdr, &t.rawHeader); err != nil || t.rawHeader == nil {
		return nil, malformed("header is not a JSON object")
	}
	if err := json.Unmarshal(hdr, &t.header); err != nil {
		return nil, malformed("header: %v", err)
	}
	if _, ok := t.rawHeader["alg"]; !ok || t.header.Algorithm == "" {
		return nil, malformed("header has no \"alg\"")
	}
	if t.payload, err = b64Decode(s[i+1 : j]); err != nil {
		return nil, malformed("payload segment: %v", err)
	}
	if t.signature, err = b64Decode(s[j+1:]); err != nil {
		return nil, malformed("signature segment: %v", err)
	}
	if p := bytes.TrimSpace(t.payload); len(p) > 0 {
		if !json.Valid(p) {
			return nil, malformed("payload is not JSON")
		}
		if p[0] == '{' {
			if err := json.Unmarshal(p, &t.rawClaims); err != nil {
				return nil, malformed("claims: %v", err)
			}
			if t.claims, err = registeredClaims(t.rawClaims); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func b64Decode(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

func registeredClaims(m map[string]json.RawMessage) (TokenClaims, error) {
	var c TokenClaims
	if v, ok := m["iss"]; ok {
		if err := json.Unmarshal(v, &c.Issuer); err != nil {
			return c, malformed("\"iss\" is not a string")
		}
	}
	if v, ok := m["jti"]; ok {
		if err := json.Unmarshal(v, &c.ID); err != nil {
			return c, malformed("\"jti\" is not a string")
		}
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"iat", &c.IssuedAt}, {"nbf", &c.NotBefore}, {"exp", &c.ExpiresAt}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		var n float64
		if err := json.Unmarshal(v, &n); err != nil || math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 1e15 {
			return c, malformed("%q is not a NumericDate", f.name)
		}
		sec, frac := math.Modf(n)
		tm := time.Unix(int64(sec), int64(frac*1e9)).UTC()
		*f.dst = &tm
	}
	return c, nil
}

// String returns the compact serialization exactly as parsed or created.
func (t *Token) String() string { return t.raw }

// MarshalText implements [encoding.TextMarshaler]: the compact serialization.
func (t *Token) MarshalText() ([]byte, error) { return []byte(t.raw), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseToken]'s rules.
func (t *Token) UnmarshalText(b []byte) error {
	p, err := ParseToken(string(b))
	if err != nil {
		return err
	}
	*t = *p
	return nil
}

// Header returns the typed JOSE header.
func (t *Token) Header() TokenHeader {
	h := t.header
	h.X509CertChain = append([]string(nil), h.X509CertChain...)
	return h
}

// RawHeader returns every JOSE header parameter, decoded with encoding/json.
func (t *Token) RawHeader() map[string]any { return decodeRaw(t.rawHeader) }

// Payload returns a copy of the decoded payload bytes (empty for a policy
// reset token).
func (t *Token) Payload() []byte { return append([]byte(nil), t.payload...) }

// Claims returns the registered claims (iss, jti, iat, nbf, exp).
func (t *Token) Claims() TokenClaims { return t.claims }

// RawClaims returns every claim of a JSON-object payload, decoded with
// encoding/json (numbers as float64); nil if the payload is not an object.
func (t *Token) RawClaims() map[string]any { return decodeRaw(t.rawClaims) }

// UnmarshalClaims decodes the payload into v with encoding/json. It returns
// the encoding/json error, if any.
func (t *Token) UnmarshalClaims(v any) error { return json.Unmarshal(t.payload, v) }

// Signature returns a copy of the decoded signature (empty if unsecured).
func (t *Token) Signature() []byte { return append([]byte(nil), t.signature...) }

// SigningInput returns "header.payload", the bytes the signature covers.
func (t *Token) SigningInput() string { return t.raw[:t.payloadEnd] }

// Unsecured reports whether the token's alg is "none".
func (t *Token) Unsecured() bool { return strings.EqualFold(t.header.Algorithm, "none") }

func (t *Token) claim(name string) (json.RawMessage, bool) {
	v, ok := t.rawClaims[name]
	return v, ok
}

func decodeRaw(m map[string]json.RawMessage) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		var x any
		_ = json.Unmarshal(v, &x) // validated at parse time
		out[k] = x
	}
	return out
}

func parseX5C(chain []string) ([]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(chain))
	for i, c := range chain {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			// Some producers use base64url; accept it as well (the bytes are
			// still parsed as DER).
			if der, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "=")); err != nil {
				return nil, malformed("x5c[%d] is not base64", i)
			}
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, malformed("x5c[%d]: %v", i, err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}
