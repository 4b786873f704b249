// Package auth authenticates policy and certificate management calls with
// bearer tokens issued by an OpenID Connect provider (Microsoft Entra ID,
// Keycloak, Dex, …): discovery, JWKS with refresh on unknown keys, issuer,
// audience and lifetime checks, and roles from a configurable claim
// (reader roles may read, contributor roles may also change).
package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Options configures an OIDC validator.
type Options struct {
	// Issuer is the provider's issuer URL; discovery reads
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Audience must appear in the token's aud.
	Audience string
	// RolesClaim names the claim holding the caller's roles (a string or an
	// array). Empty disables role checks: any valid token may manage.
	RolesClaim string
	// ReaderRoles may call GET operations; ContributorRoles may call all.
	ReaderRoles, ContributorRoles []string
	// Client fetches discovery and JWKS documents; nil means a client with a
	// 10 s timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Leeway tolerates clock skew on exp and nbf; 0 means 2 minutes.
	Leeway time.Duration
	// RefreshInterval bounds JWKS refreshes triggered by unknown key ids; 0
	// means 1 minute.
	RefreshInterval time.Duration
}

// DefaultOptions returns options with MAA's role names: "Attestation
// Reader" and "Attestation Contributor" in the "roles" claim.
func DefaultOptions() Options {
	return Options{RolesClaim: "roles", ReaderRoles: []string{"Attestation Reader"}, ContributorRoles: []string{"Attestation Contributor"}}
}

// OIDC validates bearer tokens. It is safe for concurrent use.
type OIDC struct {
	opts Options

	mu          sync.Mutex
	jwksURI     string
	keys        map[string]crypto.PublicKey
	allKeys     []crypto.PublicKey
	lastRefresh time.Time
}

// New returns a validator; discovery happens on first use (so a provider
// that is down at start-up does not stop the server).
func New(opts Options) (*OIDC, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("auth: OIDC issuer and audience are required")
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Leeway == 0 {
		opts.Leeway = 2 * time.Minute
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Minute
	}
	opts.Issuer = strings.TrimSuffix(opts.Issuer, "/")
	return &OIDC{opts: opts}, nil
}

func unauthorized(format string, args ...any) error {
	return maaerr.New(maaerr.Unauthorized, "The request is not authorized: "+format, args...)
}

// Authenticate validates the request's bearer token and its roles for the
// access the route declares: write needs a contributor role, a read a reader
// or contributor role. It returns an Unauthorized *maaerr.Error (never the
// token or key material) when the caller may not proceed.
func (o *OIDC) Authenticate(r *http.Request, write bool) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return unauthorized("a bearer token is required for policy and certificate management.")
	}
	claims, err := o.Validate(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		return err
	}
	if o.opts.RolesClaim == "" {
		return nil
	}
	roles := stringsOf(claims[o.opts.RolesClaim])
	allowed := o.opts.ContributorRoles
	if !write {
		allowed = append(slices.Clone(o.opts.ReaderRoles), o.opts.ContributorRoles...)
	}
	for _, role := range roles {
		if slices.Contains(allowed, role) {
			return nil
		}
	}
	return unauthorized("the caller lacks a role that allows this operation (%s).", strings.Join(allowed, " or "))
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Validate checks a token's signature (RS256, PS256, ES256 from the
// provider's JWKS), issuer, audience, expiry and not-before, and returns its
// claims. It returns an Unauthorized *maaerr.Error otherwise.
func (o *OIDC) Validate(ctx context.Context, token string) (map[string]any, error) {
	j, err := jose.Parse(token)
	if err != nil {
		return nil, unauthorized("the bearer token is malformed.")
	}
	if j.Unsecured() {
		return nil, unauthorized("unsecured bearer tokens are not accepted.")
	}
	keys, err := o.keysFor(ctx, j.Header.KID)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.Unauthorized, "The request is not authorized: the identity provider's signing keys are unavailable.")
	}
	verified := false
	for _, k := range keys {
		if j.Verify(k) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, unauthorized("the bearer token's signature does not verify with the identity provider's keys.")
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(j.Payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, unauthorized("the bearer token's claims are not a JSON object.")
	}
	if iss, _ := claims["iss"].(string); strings.TrimSuffix(iss, "/") != o.opts.Issuer {
		return nil, unauthorized("the bearer token was issued by %q, not the configured issuer.", iss)
	}
	if !slices.Contains(stringsOf(claims["aud"]), o.opts.Audience) {
		return nil, unauthorized("the bearer token's audience does not include %q.", o.opts.Audience)
	}
	now := o.opts.Now()
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return nil, unauthorized("the bearer token has no expiry.")
	}
	if now.After(exp.Add(o.opts.Leeway)) {
		return nil, unauthorized("the bearer token expired at %s.", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := numericDate(claims["nbf"]); ok && now.Add(o.opts.Leeway).Before(nbf) {
		return nil, unauthorized("the bearer token is not valid before %s.", nbf.UTC().Format(time.RFC3339))
	}
	return claims, nil
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// keysFor returns the key with kid, or every key when kid is empty or
// unknown after a (rate-limited) refresh.
func (o *OIDC) keysFor(ctx context.Context, kid string) ([]crypto.PublicKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys == nil || (kid != "" && o.keys[kid] == nil && o.opts.Now().Sub(o.lastRefresh) >= o.opts.RefreshInterval) {
		if err := o.refresh(ctx); err != nil && o.keys == nil {
			return nil, err
		}
	}
	if k := o.keys[kid]; k != nil {
		return []crypto.PublicKey{k}, nil
	}
	return o.allKeys, nil
}

func (o *OIDC) refresh(ctx context.Context) error {
	o.lastRefresh = o.opts.Now()
	if o.jwksURI == "" {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := o.getJSON(ctx, o.opts.Issuer+"/.well-known/openid-configuration", &disc); err != nil {
			return fmt.Errorf("auth: discovery: %w", err)
		}
		if strings.TrimSuffix(disc.Issuer, "/") != o.opts.Issuer || disc.JWKSURI == "" {
			return fmt.Errorf("auth: discovery document names issuer %q and jwks_uri %q", disc.Issuer, disc.JWKSURI)
		}
		o.jwksURI = disc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := o.getJSON(ctx, o.jwksURI, &set); err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	var all []crypto.PublicKey
	for _, raw := range set.Keys {
		var meta struct {
			KID string `json:"kid"`
			Use string `json:"use"`
		}
		if json.Unmarshal(raw, &meta) != nil || (meta.Use != "" && meta.Use != "sig") {
			continue // encryption keys are not for us
		}
		pub, err := jose.PublicKeyFromJWK(raw)
		if err != nil {
			continue // unusable keys (unknown types or curves, weak keys) are skipped
		}
		if meta.KID != "" {
			keys[meta.KID] = pub
		}
		all = append(all, pub)
	}
	if len(all) == 0 {
		return errors.New("auth: the JWKS holds no usable signing key")
	}
	o.keys, o.allKeys = keys, all
	return nil
}

func (o *OIDC) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := o.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
