// Package auth authenticates policy and certificate management calls with
// bearer tokens issued by an OpenID Connect provider (Microsoft Entra ID,
// Keycloak, Dex, …): discovery, JWKS, issuer, audience and lifetime checks,
// and roles from a configurable claim (reader roles may read, contributor
// roles may also change).
//
// The provider is reached over https only (plain HTTP on loopback, for local
// providers and tests); its keys are trusted only as its JWKS lists them: a
// token's kid must name one of them (an unknown kid triggers one
// rate-limited JWKS refresh, then the token is refused), and a token
// without kid is accepted only when the JWKS holds exactly one signing key.
// Bearer tokens must use an OIDC algorithm (RS256, PS256, ES256, ES384) by
// its registered name; MAA's "RSA256" alias is for policy JWSs, not here.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
	set         *keySet // nil until the first successful refresh
	lastRefresh time.Time
}

// New returns a validator; discovery happens on first use (so a provider
// that is down at start-up does not stop the server). It returns an error
// when the issuer or audience is missing, or the issuer is not an https URL
// (plain http is accepted on loopback only).
func New(opts Options) (*OIDC, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("auth: OIDC issuer and audience are required")
	}
	if err := checkProviderURL(opts.Issuer); err != nil {
		return nil, fmt.Errorf("auth: OIDC issuer: %w", err)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	opts.Client = httpsOnly(opts.Client)
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

// bearerAlgs are the algorithms accepted on bearer tokens, by their
// registered JOSE names only.
var bearerAlgs = []string{jose.AlgRS256, jose.AlgPS256, jose.AlgES256, jose.AlgES384}

// Validate checks a token's algorithm (RS256, PS256, ES256 or ES384),
// its signature by the provider's JWKS key its kid names, issuer, audience,
// expiry and not-before, and returns its claims. It returns an Unauthorized
// *maaerr.Error otherwise.
func (o *OIDC) Validate(ctx context.Context, token string) (map[string]any, error) {
	j, err := jose.Parse(token)
	if err != nil {
		return nil, unauthorized("the bearer token is malformed.")
	}
	if j.Unsecured() {
		return nil, unauthorized("unsecured bearer tokens are not accepted.")
	}
	if !slices.Contains(bearerAlgs, j.Header.Alg) {
		return nil, unauthorized("the bearer token's algorithm %q is not accepted (want %s).", clip(j.Header.Alg, 32), strings.Join(bearerAlgs, ", "))
	}
	keys, err := o.keysFor(ctx, j.Header.KID)
	if err != nil {
		return nil, err
	}
	verified := false
	for _, k := range keys {
		if k.alg != "" && k.alg != j.Header.Alg {
			continue // the provider restricted this key to another algorithm
		}
		if j.Verify(k.pub) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, unauthorized("the bearer token's signature does not verify with the identity provider's keys.")
	}
	claims, err := parseClaims(j.Payload)
	if err != nil {
		return nil, unauthorized("the bearer token's claims are not a JSON object.")
	}
	if iss, _ := claims["iss"].(string); strings.TrimSuffix(iss, "/") != o.opts.Issuer {
		return nil, unauthorized("the bearer token was issued by %q, not the configured issuer.", clip(iss, 256))
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

// clip shortens attacker-chosen text before it is echoed in a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f > 1<<62 || f < -(1<<62) {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// keysFor returns the provider keys a token with kid may be verified
// with: those the JWKS lists under kid (refreshing the JWKS once, at most
// every RefreshInterval, when kid is unknown), or for a token without kid
// the JWKS's only signing key. It returns an Unauthorized *maaerr.Error when
// there is no such key or the JWKS cannot be fetched.
func (o *OIDC) keysFor(ctx context.Context, kid string) ([]verifyKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	known := o.set != nil && (kid == "" || len(o.set.byKID[kid]) > 0)
	if !known && (o.lastRefresh.IsZero() || o.opts.Now().Sub(o.lastRefresh) >= o.opts.RefreshInterval) {
		if err := o.refresh(ctx); err != nil && o.set == nil {
			return nil, maaerr.Wrap(err, maaerr.Unauthorized, "The request is not authorized: the identity provider's signing keys are unavailable.")
		}
	}
	if o.set == nil {
		return nil, unauthorized("the identity provider's signing keys are unavailable.")
	}
	if kid != "" {
		if ks := o.set.byKID[kid]; len(ks) > 0 {
			return ks, nil
		}
		return nil, unauthorized("the bearer token's key id (kid) is not one of the identity provider's signing keys.")
	}
	if len(o.set.all) != 1 {
		return nil, unauthorized("the bearer token names no key id (kid), and the identity provider has %d signing keys; tokens must name their key.", len(o.set.all))
	}
	return o.set.all, nil
}

// refresh fetches discovery (once) and the JWKS, and replaces the key set
// when the JWKS holds at least one usable signing key.
func (o *OIDC) refresh(ctx context.Context) error {
	o.lastRefresh = o.opts.Now()
	if o.jwksURI == "" {
		b, err := o.get(ctx, o.opts.Issuer+"/.well-known/openid-configuration")
		if err != nil {
			return fmt.Errorf("auth: discovery: %w", err)
		}
		issuer, jwksURI, err := parseDiscovery(b)
		if err != nil {
			return fmt.Errorf("auth: discovery: %w", err)
		}
		if strings.TrimSuffix(issuer, "/") != o.opts.Issuer {
			return fmt.Errorf("auth: discovery document names issuer %q, not %q", clip(issuer, 256), o.opts.Issuer)
		}
		if err := checkProviderURL(jwksURI); err != nil {
			return fmt.Errorf("auth: discovery: jwks_uri: %w", err)
		}
		o.jwksURI = jwksURI
	}
	b, err := o.get(ctx, o.jwksURI)
	if err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	set, err := parseJWKS(b)
	if err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	o.set = set
	return nil
}

// maxDocument bounds discovery and JWKS documents.
const maxDocument = 1 << 20

// get fetches a provider document; the final URL, after any redirects,
// must still be https (or loopback http).
func (o *OIDC) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := checkProviderURL(resp.Request.URL.String()); err != nil {
		return nil, fmt.Errorf("GET %s was redirected: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("GET %s: document larger than %d bytes", url, maxDocument)
	}
	return b, nil
}
