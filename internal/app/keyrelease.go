package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/httpapi"
	"github.com/maat-attest/maat/internal/keyrelease"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/sdk/azattest"
)

// mountKeyRelease puts the key release surface (/x-maat/keys, a Maat
// extension) beside the MAA surface, so httpapi's router, whose 404/405
// answers and envelope are MAA's contract, never sees those paths. Tokens of
// this instance (checked with its own published keys) and of the configured
// key-release-trusted-issuer services (checked with their /certs keys) may
// release keys; management uses the policy-management authentication.
func (a *App) mountKeyRelease(api http.Handler, auth httpapi.Authenticator) (http.Handler, error) {
	rk, ok := a.store.(store.ReleaseKeys)
	if !ok {
		return nil, fmt.Errorf("store %T cannot hold release keys", a.store)
	}
	in := a.inst
	sealer := in.sealer
	issuers := []keyrelease.Issuer{keyrelease.LocalIssuer{Issuer: in.issuer, Signers: func() []azattest.Signer { return keyrelease.SignersOf(in.keys.Current()) }}}
	for _, u := range a.cfg.KeyReleaseIssuers {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("key-release-trusted-issuer: %q must be an absolute http(s) URL", u)
		}
		c, err := azattest.NewClient(strings.TrimRight(u, "/"), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("key-release-trusted-issuer %s: %w", u, err)
		}
		issuers = append(issuers, keyrelease.RemoteIssuer{Client: c})
		a.log.Info("key release trusts tokens of another attestation service", "issuer", u)
	}
	var kauth keyrelease.Authenticator
	if auth != nil {
		kauth = releaseAuth{auth}
	}
	kr := &keyrelease.Handler{
		Service: &keyrelease.Service{Store: rk, InstanceID: in.id, Sealer: sealer, Issuers: issuers, Now: a.now, Log: a.log,
			Audit: a.auditKeyRelease},
		Auth: kauth, MaxBodyBytes: a.cfg.MaxBodyBytes, Log: a.log,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, keyrelease.PathPrefix); ok && (rest == "" || rest[0] == '/') {
			kr.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}), nil
}

// releaseAuth adapts the management authenticator to the key release
// surface's access levels.
type releaseAuth struct{ a httpapi.Authenticator }

func (r releaseAuth) Authenticate(req *http.Request, write bool) error {
	if write {
		return r.a.Authenticate(req, httpapi.Write)
	}
	return r.a.Authenticate(req, httpapi.Read)
}

// auditKeyRelease records a key-release operation in the audit trail. A
// release is authorized by its attestation token, not a management
// credential: its caller is recorded as such.
func (a *App) auditKeyRelease(ctx context.Context, op, name string, err error) {
	if a.recorder == nil {
		return
	}
	c := audit.CallerOf(ctx)
	if op == "key-release.release" {
		c = audit.Caller{Kind: audit.CallerAttestationToken}
	}
	a.recorder.Record(ctx, store.AuditRecord{Operation: op, After: name}, c, err)
}
