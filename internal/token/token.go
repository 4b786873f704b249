// Package token issues the JWTs an attestation instance returns: signed with
// the instance's active key (RS256, header {"alg","jku","kid","typ"} exactly
// as MAA), or unsecured (alg none, same header members, empty signature) as
// MAA returns for draft-policy attestations. It adds the standard claims
// (iss, iat, nbf, exp, jti, x-ms-ver) to whatever claims the caller supplies.
package token

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonenc"
	"github.com/maat-attest/maat/internal/keys"
)

// Lifetimes MAA uses: attestation tokens are valid for 8 hours, policy and
// certificate management tokens for 1 hour.
const (
	AttestationLifetime = 8 * time.Hour
	ManagementLifetime  = time.Hour
)

// KeySource yields the active signing key, held until release is called
// (so a rotation cannot close its signer while a token is being signed).
type KeySource interface {
	Acquire() (key *keys.Key, release func(), err error)
}

// Issuer issues tokens for one instance. Its fields are set once at
// construction; it is safe for concurrent use.
type Issuer struct {
	// IssuerURI returns the instance URI (iss, and jku = IssuerURI + "/certs").
	IssuerURI func() string
	Keys      KeySource
	// Now is the clock for iat/nbf/exp.
	Now func() time.Time
}

// Options qualifies one issuance.
type Options struct {
	// Lifetime is exp - iat; AttestationLifetime when zero (ManagementLifetime
	// when Management is set).
	Lifetime time.Duration
	// Management produces a policy/certificate management token as MAA
	// does: 1 hour, and only iss, iat, nbf and exp as standard claims (no
	// jti, no x-ms-ver).
	Management bool
	// Unsecured produces an alg none token (draft-policy results).
	Unsecured bool
	// X5C puts the signing certificate into the header (TPM omit_x5c=false);
	// X5T puts its SHA-1 thumbprint instead.
	X5C, X5T bool
}

// Issue returns a compact JWT with claims plus iss, iat, nbf, exp, and for
// attestation tokens jti and x-ms-ver (a caller-supplied value for any of
// these wins). It returns keys.ErrNoActiveKey (wrapped) when there is no
// active key.
func (is *Issuer) Issue(claims map[string]any, opts Options) (string, error) {
	now := is.Now().UTC()
	lifetime := opts.Lifetime
	switch {
	case lifetime != 0:
	case opts.Management:
		lifetime = ManagementLifetime
	default:
		lifetime = AttestationLifetime
	}
	iss := is.IssuerURI()
	all := map[string]any{
		"iss": iss,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(lifetime).Unix(),
	}
	if !opts.Management {
		jti := make([]byte, 32)
		if _, err := rand.Read(jti); err != nil {
			return "", fmt.Errorf("token: jti: %w", err)
		}
		all["jti"] = hex.EncodeToString(jti)
		all["x-ms-ver"] = "1.0"
	}
	key, release, err := is.Keys.Acquire()
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer release()
	h := jose.Header{Alg: jose.AlgRS256, JKU: iss + "/certs", KID: key.KID, Typ: "JWT"}
	bp := payloadPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledPayload {
			payloadPool.Put(bp)
		}
	}()
	// The caller's claims win over the standard ones; the merged set is
	// encoded exactly as json.Marshal would encode the merged map.
	payload, err := jsonenc.AppendMerged((*bp)[:0], all, claims)
	*bp = payload[:0]
	if err != nil {
		return "", fmt.Errorf("token: marshal claims: %w", err)
	}
	if opts.Unsecured {
		return jose.UnsecuredPayload(h, payload)
	}
	if opts.X5C {
		h.X5C = jose.CertJWK(key.KID, key.Cert).X5C
	} else if opts.X5T {
		h.X5T = jose.X5T(key.Cert)
	}
	return jose.SignPayload(h, payload, key.TokenSigner())
}

// maxPooledPayload bounds the buffers kept for reuse: a rare large token
// (a TPM log) does not pin its buffer.
const maxPooledPayload = 64 << 10

// payloadPool holds the buffers claims are encoded into: a token's payload
// is base64-encoded into the token and not kept, so its buffer is reused.
var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}
