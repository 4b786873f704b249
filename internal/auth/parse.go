package auth

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"

	"github.com/maat-attest/maat/internal/jose"
)

// verifyKey is one signing key of the provider's JWKS.
type verifyKey struct {
	kid string
	alg string // the JWK's "alg" restriction, "" when none
	pub crypto.PublicKey
}

// keySet is a parsed JWKS: its usable signing keys, in document order, and
// the same keys by kid (a kid listed twice keeps both candidates).
type keySet struct {
	all   []verifyKey
	byKID map[string][]verifyKey
}

// maxJWKSKeys bounds how many keys a JWKS may list.
const maxJWKSKeys = 100

// parseJWKS parses a JWK Set document and keeps its signing keys: keys
// marked for another use ("use" other than "sig", or "key_ops" without
// "verify"), of unknown types or curves, weak, or malformed are skipped. It
// returns an error when the document is not a JSON object with a "keys"
// array of at most maxJWKSKeys members, or when no usable key remains.
func parseJWKS(b []byte) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := decodeObject(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("the JWKS lists %d keys (at most %d)", len(doc.Keys), maxJWKSKeys)
	}
	set := &keySet{byKID: map[string][]verifyKey{}}
	for _, raw := range doc.Keys {
		var meta struct {
			KID    string   `json:"kid"`
			Use    string   `json:"use"`
			Alg    string   `json:"alg"`
			KeyOps []string `json:"key_ops"`
		}
		if json.Unmarshal(raw, &meta) != nil || (meta.Use != "" && meta.Use != "sig") ||
			(meta.KeyOps != nil && !slices.Contains(meta.KeyOps, "verify")) {
			continue // not a signing key
		}
		pub, err := jose.PublicKeyFromJWK(raw)
		if err != nil {
			continue // unusable keys (unknown types or curves, weak keys) are skipped
		}
		k := verifyKey{kid: meta.KID, alg: meta.Alg, pub: pub}
		set.all = append(set.all, k)
		if k.kid != "" {
			set.byKID[k.kid] = append(set.byKID[k.kid], k)
		}
	}
	if len(set.all) == 0 {
		return nil, errors.New("the JWKS holds no usable signing key")
	}
	return set, nil
}

// parseDiscovery returns the issuer and jwks_uri of an OpenID Provider
// configuration document, or an error when it is not a JSON object or
// lacks either.
func parseDiscovery(b []byte) (issuer, jwksURI string, err error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := decodeObject(b, &doc); err != nil {
		return "", "", err
	}
	if doc.Issuer == "" || doc.JWKSURI == "" {
		return "", "", errors.New("the discovery document lacks issuer or jwks_uri")
	}
	return doc.Issuer, doc.JWKSURI, nil
}

// parseClaims decodes a token payload: exactly one JSON object, numbers
// kept as json.Number. It returns an error otherwise.
func parseClaims(payload []byte) (map[string]any, error) {
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("the claims are not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the claims object")
	}
	return claims, nil
}

// decodeObject decodes exactly one JSON object from b into v.
func decodeObject(b []byte, v any) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// checkProviderURL accepts absolute https URLs, and http URLs whose host is
// loopback (a provider on the same machine); keys fetched over plain HTTP
// from anywhere else could be replaced in transit.
func checkProviderURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", clip(raw, 256))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || isLoopbackIP(h) {
			return nil
		}
		return fmt.Errorf("%q uses plain HTTP off loopback; use https", clip(raw, 256))
	}
	return fmt.Errorf("%q is not an https URL", clip(raw, 256))
}

// httpsOnly returns a copy of c that refuses to follow a redirect to a URL
// checkProviderURL refuses (the caller's client is left as it is).
func httpsOnly(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkProviderURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
