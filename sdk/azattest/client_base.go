package azattest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
)

// DefaultScope is the token scope requested from credentials by default.
const DefaultScope = "https://attest.azure.net/.default"

// DefaultSignerRefreshInterval is the default minimum time between /certs
// refreshes triggered by a token whose kid is unknown.
const DefaultSignerRefreshInterval = time.Minute

// ClientOptions configure [Client] and [AdministrationClient]. The zero
// value is valid.
type ClientOptions struct {
	azcore.ClientOptions

	// ServiceVersion is the api-version to request; empty means
	// [DefaultServiceVersion] (2022-08-01). azcore's generic
	// ClientOptions.APIVersion is accepted as the same setting (it must
	// then be a supported version and agree with ServiceVersion, if set).
	ServiceVersion ServiceVersion

	// Scopes requested from the credential; nil means [DefaultScope]. Set it
	// when the service trusts another issuer (e.g. a Maat server).
	Scopes []string

	// TokenValidation controls validation of every token a method returns;
	// the zero value validates everything (see [TokenValidationOptions]).
	// ExpectedIssuer defaults to the endpoint; a token naming another
	// issuer is accepted only if the endpoint's OpenID metadata names that
	// issuer and it is on the endpoint's host (or both are loopback), as a
	// Maat server reached through another listener is.
	TokenValidation TokenValidationOptions

	// SignerRefreshInterval is the minimum time between /certs refreshes
	// triggered by an unknown kid; zero means [DefaultSignerRefreshInterval].
	SignerRefreshInterval time.Duration

	// InsecureAllowCredentialWithHTTP sends the credential's bearer token
	// over plain http. For tests against a local server only.
	InsecureAllowCredentialWithHTTP bool
}

type base struct {
	// metaIssuer caches the issuer of the endpoint's OpenID metadata once
	// fetched successfully (see defaultIssuer).
	metaMu     sync.Mutex
	metaIssuer string

	endpoint string
	pl       runtime.Pipeline
	version  ServiceVersion
	validate TokenValidationOptions
	signers  *signerCache
	// tracer opens one span per client method (ClientOptions.TracingProvider;
	// a no-op by default), as azcore-based Azure SDK clients do.
	tracer tracing.Tracer
}

func newBase(endpoint string, cred azcore.TokenCredential, options *ClientOptions) (*base, error) {
	var o ClientOptions
	if options != nil {
		o = *options
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("azattest: endpoint %q is not an http(s) URL", endpoint)
	}
	if cred != nil && u.Scheme == "http" && !o.InsecureAllowCredentialWithHTTP {
		return nil, fmt.Errorf("azattest: refusing to send credentials to %s over http; set ClientOptions.InsecureAllowCredentialWithHTTP (tests only) or pass a nil credential", endpoint)
	}
	if v := o.ClientOptions.APIVersion; v != "" {
		// azcore's generic override: honoured as ServiceVersion, which
		// also decides request shapes, so the two must agree.
		if !knownServiceVersion(ServiceVersion(v)) {
			return nil, fmt.Errorf("azattest: ClientOptions.APIVersion %q is not a supported version (%s); set ClientOptions.ServiceVersion", v, joinServiceVersions())
		}
		if o.ServiceVersion != "" && o.ServiceVersion != ServiceVersion(v) {
			return nil, fmt.Errorf("azattest: ClientOptions.APIVersion %q and ServiceVersion %q disagree; set only ServiceVersion", v, o.ServiceVersion)
		}
		o.ServiceVersion = ServiceVersion(v)
		o.ClientOptions.APIVersion = "" // the pipeline refuses overrides it does not route
	}
	if o.ServiceVersion == "" {
		o.ServiceVersion = DefaultServiceVersion
	}
	if !knownServiceVersion(o.ServiceVersion) {
		return nil, fmt.Errorf("azattest: ServiceVersion %q is not one of %s", o.ServiceVersion, joinServiceVersions())
	}
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = []string{DefaultScope}
	}
	var plOpts runtime.PipelineOptions
	plOpts.AllowedHeaders = []string{"x-ms-maa-service-version", "x-ms-request-id", "x-ms-error-code"}
	plOpts.AllowedQueryParameters = []string{"api-version"}
	if cred != nil {
		plOpts.PerRetry = []policy.Policy{runtime.NewBearerTokenPolicy(cred, scopes, &policy.BearerTokenOptions{
			InsecureAllowCredentialWithHTTP: o.InsecureAllowCredentialWithHTTP,
		})}
	}
	plOpts.Tracing.Namespace = "Microsoft.Attestation"
	cl, err := azcore.NewClient(moduleName, moduleVersion, plOpts, &o.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("azattest: %w", err)
	}
	b := &base{
		// Host names are case-insensitive; MAA's iss is lower case.
		endpoint: u.Scheme + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/"),
		pl:       cl.Pipeline(),
		tracer:   cl.Tracer(),
		version:  o.ServiceVersion,
		validate: o.TokenValidation,
	}
	interval := o.SignerRefreshInterval
	if interval <= 0 {
		interval = DefaultSignerRefreshInterval
	}
	b.signers = &signerCache{interval: interval, fetch: b.fetchSigners}
	return b, nil
}

func knownServiceVersion(v ServiceVersion) bool {
	for _, p := range PossibleServiceVersionValues() {
		if p == v {
			return true
		}
	}
	return false
}

func joinServiceVersions() string {
	var s []string
	for _, p := range PossibleServiceVersionValues() {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

func (b *base) url(path string, withVersion bool) string {
	u := b.endpoint + path
	if withVersion {
		u += "?api-version=" + url.QueryEscape(string(b.version))
	}
	return u
}

func (b *base) requireVersion(op string, min ServiceVersion) error {
	if b.version < min {
		return fmt.Errorf("azattest: %s needs ServiceVersion %s or later (client uses %s)", op, min, b.version)
	}
	return nil
}

// do sends a request and returns the body of a 200 response, or a
// *azcore.ResponseError.
func (b *base) do(ctx context.Context, method, path string, withVersion bool, body any, contentType string) ([]byte, *http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, b.url(path, withVersion))
	if err != nil {
		return nil, nil, err
	}
	req.Raw().Header.Set("Accept", "application/json")
	switch v := body.(type) {
	case nil:
	case string: // text/plain JWS
		if err := req.SetBody(streaming.NopCloser(strings.NewReader(v)), contentType); err != nil {
			return nil, nil, err
		}
	default:
		if err := runtime.MarshalAsJSON(req, v); err != nil {
			return nil, nil, err
		}
	}
	resp, err := b.pl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return nil, resp, runtime.NewResponseError(resp)
	}
	data, err := runtime.Payload(resp)
	if err != nil {
		return nil, resp, err
	}
	return data, resp, nil
}

// doToken sends a request whose 200 response is {"token": JWS}, parses the
// token and validates it. When only validation fails it returns the parsed
// token with the *TokenValidationError, so state-changing calls can report
// what the service applied.
func (b *base) doToken(ctx context.Context, method, path string, body any, contentType string, allowUnsecured bool, override *TokenValidationOptions) (*Token, *Signer, error) {
	data, _, err := b.do(ctx, method, path, true, body, contentType)
	if err != nil {
		return nil, nil, err
	}
	var env struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, nil, fmt.Errorf("azattest: response is not {\"token\": …}: %w", err)
	}
	tok, err := ParseToken(env.Token)
	if err != nil {
		return nil, nil, err
	}
	signer, err := b.validateToken(ctx, tok, allowUnsecured, override)
	if err != nil {
		return tok, nil, err
	}
	return tok, signer, nil
}

// validateToken validates a token issued by this endpoint, with signers from
// its /certs.
func (b *base) validateToken(ctx context.Context, tok *Token, allowUnsecured bool, override *TokenValidationOptions) (*Signer, error) {
	o := b.validate
	if override != nil {
		o = *override
	}
	if o.ExpectedIssuer == "" {
		o.ExpectedIssuer = b.defaultIssuer(ctx, tok)
	}
	if allowUnsecured {
		o.AllowUnsecured = true
	}
	if o.DisableValidation || o.DisableSignatureValidation || tok.Unsecured() {
		// An unsecured token needs no keys: it is rejected unless allowed.
		return tok.Validate(nil, &o)
	}
	signers, err := b.signers.get(ctx, tok.header.KeyID)
	if err != nil {
		return nil, fmt.Errorf("azattest: fetching signing keys from %s/certs: %w", b.endpoint, err)
	}
	return tok.Validate(signers, &o)
}

// defaultIssuer is the issuer a token must carry when the caller set none:
// the endpoint itself, which is what MAA's tokens carry. Only when the token
// names another issuer is the endpoint's OpenID metadata consulted, and its
// issuer accepted if it equals the token's and names the endpoint's host
// (any scheme or port: a server reached through another listener or a
// proxy), or both are loopback addresses (a local server). Every other
// mismatch stays a mismatch: the keys already come from the endpoint, and
// this only lets an endpoint vouch for issuers on its own host.
func (b *base) defaultIssuer(ctx context.Context, tok *Token) string {
	iss := strings.TrimSuffix(tok.claims.Issuer, "/")
	if iss == "" || iss == b.endpoint || !sameHost(b.endpoint, iss) {
		return b.endpoint
	}
	meta, err := b.metadataIssuer(ctx)
	if err != nil || meta != iss {
		return b.endpoint
	}
	return iss
}

func (b *base) metadataIssuer(ctx context.Context) (string, error) {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	if b.metaIssuer != "" {
		return b.metaIssuer, nil
	}
	body, _, err := b.do(ctx, http.MethodGet, "/.well-known/openid-configuration", b.version >= ServiceVersion2025_06_01, nil, "")
	if err != nil {
		return "", err
	}
	var m struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", err
	}
	b.metaIssuer = strings.TrimSuffix(m.Issuer, "/")
	return b.metaIssuer, nil
}

// sameHost reports whether two http(s) URLs name the same host, or both a
// loopback host ("localhost", 127.0.0.0/8, ::1), with the same path.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.Host == "" || ub.Host == "" ||
		(ub.Scheme != "https" && ub.Scheme != "http") || ub.User != nil || ub.RawQuery != "" || ub.Fragment != "" {
		return false
	}
	if strings.TrimSuffix(ua.EscapedPath(), "/") != strings.TrimSuffix(ub.EscapedPath(), "/") {
		return false
	}
	ha, hb := strings.ToLower(ua.Hostname()), strings.ToLower(ub.Hostname())
	return ha == hb || (isLoopbackHost(ha) && isLoopbackHost(hb))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (b *base) fetchSigners(ctx context.Context) ([]Signer, error) {
	data, _, err := b.do(ctx, http.MethodGet, "/certs", b.version >= ServiceVersion2025_06_01, nil, "")
	if err != nil {
		return nil, err
	}
	return ParseSigners(data)
}

// signerCache holds the endpoint's /certs keys. It fetches them on first use
// and again, at most once per interval, when a token names an unknown kid.
type signerCache struct {
	interval time.Duration
	fetch    func(context.Context) ([]Signer, error)

	mu      sync.Mutex
	signers []Signer
	fetched time.Time
}

func (c *signerCache) get(ctx context.Context, kid string) ([]Signer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.signers == nil {
		s, err := c.fetch(ctx)
		if err != nil {
			return nil, err
		}
		c.signers, c.fetched = s, time.Now()
		return c.signers, nil
	}
	if kid != "" && !hasKid(c.signers, kid) && time.Since(c.fetched) >= c.interval {
		c.fetched = time.Now() // rate-limit even if the fetch fails
		if s, err := c.fetch(ctx); err == nil {
			c.signers = s
		} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
	}
	return c.signers, nil
}

func hasKid(signers []Signer, kid string) bool {
	for i := range signers {
		if signers[i].KeyID == kid {
			return true
		}
	}
	return false
}

// startSpan opens the span of one client method ("Client.AttestSGXEnclave");
// the returned function ends it with the method's error.
func (b *base) startSpan(ctx context.Context, name string) (context.Context, func(error)) {
	return runtime.StartSpan(ctx, name, b.tracer, nil)
}
