package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/maat-attest/maat/internal/auth"
	"github.com/maat-attest/maat/internal/httpapi"
	"github.com/maat-attest/maat/internal/maaerr"
)

// buildAuth chooses how management calls are authenticated: none when
// auth-disabled (loudly logged); OIDC bearer tokens when oidc-issuer is set;
// else in --dev a development bearer token (random and printed when not
// configured); else management calls are refused.
func (a *App) buildAuth() (httpapi.Authenticator, error) {
	switch {
	case a.cfg.AuthDisabled:
		a.log.Warn("AUTHENTICATION DISABLED: anyone who can reach this server can change its policies and certificates")
		return nil, nil
	case a.cfg.OIDCIssuer != "":
		opts := auth.DefaultOptions()
		opts.Issuer, opts.Audience = a.cfg.OIDCIssuer, a.cfg.OIDCAudience
		opts.RolesClaim, opts.ReaderRoles, opts.ContributorRoles = a.cfg.OIDCRolesClaim, a.cfg.OIDCReaders, a.cfg.OIDCWriters
		opts.Now = a.now
		a.log.Info("management calls authenticated by OIDC bearer tokens", "issuer", opts.Issuer, "audience", opts.Audience, "roles_claim", opts.RolesClaim)
		o, err := auth.New(opts)
		if err != nil {
			return nil, err
		}
		return oidcAuth{o}, nil
	case a.cfg.Dev:
		tok := a.cfg.DevBearerToken
		if tok == "" {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return nil, err
			}
			tok = hex.EncodeToString(b)
			fmt.Fprintf(a.out, "dev bearer token for management calls: %s\n", tok)
		}
		return httpapi.StaticBearer{Token: tok}, nil
	default:
		a.log.Warn("management calls are refused: no authentication is configured (set oidc-issuer and oidc-audience, or auth-disabled on a closed network)")
		return refuseAll{}, nil
	}
}

// oidcAuth adapts auth.OIDC to the access levels routes declare.
type oidcAuth struct{ o *auth.OIDC }

func (a oidcAuth) Authenticate(r *http.Request, access httpapi.Access) error {
	return a.o.Authenticate(r, access == httpapi.Write)
}

type refuseAll struct{}

func (refuseAll) Authenticate(*http.Request, httpapi.Access) error {
	return maaerr.New(maaerr.Unauthorized, "Policy and certificate management is not authorized: this server has no authentication configured.")
}
