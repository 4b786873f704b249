package app

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/httpapi"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/store"
)

// buildRecorder makes the audit recorder of the instance and hooks it into
// its management.
func (a *App) buildRecorder(in *instance) {
	al, _ := audit.LogOf(a.store) // both SQL stores keep one
	a.recorder = &audit.Recorder{Store: al, Log: a.log, InstanceID: in.id, Now: a.now, RequestID: httpapi.RequestID}
	if a.metrics != nil {
		a.recorder.Counted = a.metrics.Audited
	}
	in.management.Audit = a.recorder.Management
}

// withCallerSlot gives every request room for its caller's identity, which
// the authenticator fills and the audit recorder reads.
func withCallerSlot(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(audit.WithSlot(r.Context())))
	})
}

// auditingAuth records who the caller is, and records a write refused by
// authentication as an audit record (the operation itself never runs, so
// Management cannot).
type auditingAuth struct {
	inner httpapi.Authenticator // nil: authentication disabled
	rec   *audit.Recorder
}

func (a auditingAuth) Authenticate(r *http.Request, access httpapi.Access) error {
	var err error
	if a.inner != nil {
		err = a.inner.Authenticate(r, access)
	}
	c := a.caller(r, err)
	audit.SetCaller(r.Context(), c)
	if err != nil && access == httpapi.Write {
		op, typ := operationOf(r)
		a.rec.Record(r.Context(), store.AuditRecord{Operation: op, AttestationType: typ}, c, err)
	}
	return err
}

// caller identifies the caller: the sub and oid of a valid OIDC token (also
// when its roles are refused), the dev token, else unauthenticated.
func (a auditingAuth) caller(r *http.Request, authErr error) audit.Caller {
	switch in := a.inner.(type) {
	case oidcAuth:
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			break
		}
		raw = strings.TrimSpace(raw)
		var claims map[string]any
		if authErr == nil {
			claims = verifiedClaims(raw) // verified by Authenticate just now
		} else if c, err := in.o.Validate(r.Context(), raw); err == nil {
			claims = c // a valid token refused for its roles
		}
		if claims != nil {
			sub, _ := claims["sub"].(string)
			oid, _ := claims["oid"].(string)
			return audit.Caller{Kind: audit.CallerOIDC, Subject: sub, ObjectID: oid}
		}
	case httpapi.StaticBearer:
		if authErr == nil {
			return audit.Caller{Kind: audit.CallerDevToken}
		}
	}
	return audit.Caller{Kind: audit.CallerUnauthenticated}
}

// verifiedClaims decodes the payload of a JWT whose signature was verified.
func verifiedClaims(jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := jose.DecodeB64Loose(parts[1])
	if err != nil {
		return nil
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return nil
	}
	return claims
}

// operationOf names the management write a request asks for, with its
// attestation type when the path has a known one.
func operationOf(r *http.Request) (op, typ string) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[0], "policies"):
		name, reset := strings.CutSuffix(segs[1], ":reset")
		if !reset {
			name, reset = strings.CutSuffix(segs[1], ":RESET")
		}
		if t, err := evidence.ParseType(name); err == nil {
			typ = string(t)
		}
		if reset {
			return attestation.OpPolicyReset, typ
		}
		return attestation.OpPolicySet, typ
	case len(segs) == 1 && strings.EqualFold(segs[0], "certificates:add"):
		return attestation.OpCertificateAdd, ""
	case len(segs) == 1 && strings.EqualFold(segs[0], "certificates:remove"):
		return attestation.OpCertificateRemove, ""
	}
	return "management.write", ""
}
