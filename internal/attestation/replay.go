package attestation

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"time"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
)

// Anti-rollback for signed management (Isolated mode). MAA's wire format
// carries no freshness: a signed policy JWS stays valid forever, so whoever
// holds management credentials but not the signing key could re-send an
// older signed JWS and roll the policy back, or re-add a removed (perhaps
// compromised) certificate. Maat records every signed request it applies,
// per scope (a policy type, or one certificate), and refuses a request that
// was applied before and has since been superseded, and one whose iat (when
// the payload carries one) is older than a request already applied to the
// scope. Re-sending the request in force is a harmless retry and succeeds.
// AAD mode is not protected: there, credentials alone may set any policy.

func policyScope(t evidence.Type) string { return "policy/" + string(t) }

func certificateScope(thumbprint string) string { return "certificate/" + thumbprint }

// guardReplay records the signed request j (operation op: set, reset, add,
// remove) for scope before it is applied, refusing a replay with Conflict.
// The operation is part of the record because clients send byte-identical
// add and remove bodies (MAA's .NET SDK does). Unsigned requests, AAD mode
// and AllowReplay are not recorded.
func (m *Management) guardReplay(ctx context.Context, j *jose.JWS, scope, op string) error {
	if m.Mode != store.ModeIsolated || j.Unsecured() || m.AllowReplay {
		return nil
	}
	rec := store.ManagementJWS{InstanceID: m.InstanceID, Scope: scope, Hash: op + ":" + TokenHash(j.Raw), IssuedAt: payloadIAT(j.Payload)}
	err := m.Store.ApplyManagementJWS(ctx, rec)
	if errors.Is(err, store.ErrSuperseded) {
		return maaerr.Wrap(err, maaerr.Conflict, "This signed %s request (token hash %s) is a replay: it was applied before and has since been superseded, or its iat is older than the request in force. Sign a new request (with a current iat in its payload) to apply it again.", op, TokenHash(j.Raw))
	}
	if err != nil {
		return storeErr(err)
	}
	return nil
}

// payloadIAT returns the iat (seconds since the epoch) of a JWS payload
// object, or the zero time when there is none or it is not a number.
func payloadIAT(payload []byte) time.Time {
	obj, err := jsonstrict.DecodeObject(payload)
	if err != nil {
		return time.Time{}
	}
	raw, ok := obj.Get("iat")
	if !ok {
		return time.Time{}
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}
	}
	secs, err := n.Int64()
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0).UTC()
}

// Minimum key sizes of policy-management certificates and policy signers.
const (
	minRSABits   = 2048
	minECDSABits = 256
)

// checkCertificate refuses a management certificate or JWS signer that is
// weak (RSA under 2048 bits, EC under P-256, other key types) or outside
// its validity window at now. what names it in the message.
func checkCertificate(c *x509.Certificate, now time.Time, what string) error {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return maaerr.New(maaerr.InvalidParameter, "%s has an RSA-%d key; policy management needs RSA-%d or stronger (or EC P-256 or stronger).", what, k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < minECDSABits {
			return maaerr.New(maaerr.InvalidParameter, "%s has an EC key on %s; policy management needs P-256 or stronger.", what, k.Curve.Params().Name)
		}
	default:
		return maaerr.New(maaerr.InvalidParameter, "%s has a %s key; policy management takes RSA-%d+ or EC P-256+ keys.", what, c.PublicKeyAlgorithm, minRSABits)
	}
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return maaerr.New(maaerr.InvalidParameter, "%s (subject %q) is not valid at %s: it is valid from %s to %s.", what, c.Subject.String(), now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// emptyResetPayload reports whether a reset JWS payload is empty as MAA
// requires (nothing, null, {}), or {"iat": n}: a signed reset has no other
// way to differ from an earlier one.
func emptyResetPayload(p []byte) bool {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) || bytes.Equal(p, []byte("{}")) {
		return true
	}
	obj, err := jsonstrict.DecodeObject(p)
	if err != nil || len(obj) != 1 || obj[0].Name != "iat" {
		return false
	}
	return !payloadIAT(p).IsZero()
}
