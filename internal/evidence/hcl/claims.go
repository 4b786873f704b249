package hcl

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/maat-attest/maat/internal/jsonstrict"
)

// Key IDs of the vTPM keys in the runtime claims.
const (
	KidAkPub = "HCLAkPub"
	KidEkPub = "HCLEkPub"
)

// claimsDepth bounds nesting of the runtime claims: the real documents are
// three levels deep.
const claimsDepth = 16

// JWK is one key of the runtime claims' "keys" array.
type JWK struct {
	Kid    string
	Kty    string
	KeyOps []string
	N, E   string
}

// RuntimeClaims is the parsed runtime-claims document.
type RuntimeClaims struct {
	Keys []JWK
	// VMConfiguration is the "vm-configuration" object (console-enabled,
	// secure-boot, tpm-enabled, tpm-persisted, vmUniqueId, …), nil when
	// absent.
	VMConfiguration map[string]any
	// UserData is the "user-data" hex string (NV 0x01400002), "" when absent.
	UserData string
	// Document is the whole document as decoded JSON (numbers as
	// json.Number), for the x-ms-runtime claim of x-ms-isolation-tee.
	Document map[string]any
}

// ErrClaims is wrapped by every runtime-claims parse error.
var ErrClaims = errors.New("malformed HCL runtime claims")

func badClaims(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrClaims, fmt.Sprintf(format, args...))
}

// ParseRuntimeClaims parses the runtime-claims JSON. Trailing NUL bytes
// (padding of the NV index) are ignored; a member named twice in one
// object, data after the document, or a "keys" member that is not an array
// of objects with string members is an error wrapping ErrClaims.
func ParseRuntimeClaims(b []byte) (*RuntimeClaims, error) {
	if len(b) > MaxClaimsBytes {
		return nil, badClaims("%d bytes, more than %d", len(b), MaxClaimsBytes)
	}
	b = bytes.TrimRight(b, "\x00")
	v, err := jsonstrict.Decode(b, claimsDepth)
	if err != nil {
		return nil, badClaims("%v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, badClaims("the document is not a JSON object")
	}
	c := &RuntimeClaims{Document: doc}
	if raw, ok := doc["keys"]; ok {
		arr, ok := raw.([]any)
		if !ok {
			return nil, badClaims(`"keys" is not an array`)
		}
		for i, e := range arr {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, badClaims(`"keys"[%d] is not an object`, i)
			}
			var k JWK
			for name, dst := range map[string]*string{"kid": &k.Kid, "kty": &k.Kty, "n": &k.N, "e": &k.E} {
				if x, ok := m[name]; ok {
					s, ok := x.(string)
					if !ok {
						return nil, badClaims(`"keys"[%d].%s is not a string`, i, name)
					}
					*dst = s
				}
			}
			if ops, ok := m["key_ops"]; ok {
				l, ok := ops.([]any)
				if !ok {
					return nil, badClaims(`"keys"[%d].key_ops is not an array`, i)
				}
				for _, o := range l {
					s, ok := o.(string)
					if !ok {
						return nil, badClaims(`"keys"[%d].key_ops holds a non-string`, i)
					}
					k.KeyOps = append(k.KeyOps, s)
				}
			}
			c.Keys = append(c.Keys, k)
		}
	}
	if raw, ok := doc["vm-configuration"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, badClaims(`"vm-configuration" is not an object`)
		}
		c.VMConfiguration = m
	}
	if raw, ok := doc["user-data"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, badClaims(`"user-data" is not a string`)
		}
		c.UserData = s
	}
	return c, nil
}

// Key returns the key with kid (compared exactly), and false when there is
// none or more than one.
func (c *RuntimeClaims) Key(kid string) (JWK, bool) {
	var found []JWK
	for _, k := range c.Keys {
		if k.Kid == kid {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		return JWK{}, false
	}
	return found[0], true
}

// VMUniqueID returns vm-configuration.vmUniqueId upper-cased, "" when
// absent or not a string.
func (c *RuntimeClaims) VMUniqueID() string {
	s, _ := c.VMConfiguration["vmUniqueId"].(string)
	return strings.ToUpper(s)
}

// RSAPublicKey returns the RSA key the JWK holds (n and e base64url,
// padded or not). It returns an error for another key type, a modulus
// under 2048 bits, or an exponent that is not a small odd number.
func (k JWK) RSAPublicKey() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" {
		return nil, fmt.Errorf("JWK %q: kty %q, want RSA", k.Kid, k.Kty)
	}
	n, err1 := b64url(k.N)
	e, err2 := b64url(k.E)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("JWK %q: n or e is not base64url: %w", k.Kid, err)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("JWK %q: exponent of %d bytes", k.Kid, len(e))
	}
	ev := new(big.Int).SetBytes(e)
	nv := new(big.Int).SetBytes(n)
	if nv.BitLen() < 2048 || ev.Bit(0) == 0 || ev.Int64() < 3 {
		return nil, fmt.Errorf("JWK %q: not an RSA key of at least 2048 bits with an odd exponent", k.Kid)
	}
	return &rsa.PublicKey{N: nv, E: int(ev.Int64())}, nil
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
