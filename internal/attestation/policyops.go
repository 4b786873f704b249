package attestation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
)

// GetPolicy returns a management token whose x-ms-policy claim is the
// policy JWS in force for typ (the stored JWS exactly as it was set, or MAA's
// unsecured form of the default).
func (m *Management) GetPolicy(ctx context.Context, typ evidence.Type) (string, error) {
	ap, err := m.Policies.Get(ctx, typ)
	if err != nil {
		return "", err
	}
	return m.issue(map[string]any{"x-ms-policy": ap.JWS})
}

// policyText extracts the policy text from a policy JWS payload:
// {"AttestationPolicy": base64url(text)} (GA) or the raw text (preview-era
// clients).
func policyText(payload []byte) (string, error) {
	body, err := jsonstrict.DecodeObject(payload)
	if dup := duplicateErr(err, "policy JWS payload"); dup != nil {
		return "", dup
	}
	if err != nil {
		return "", maaerr.Wrap(err, maaerr.InvalidOperation, "The policy JWS payload is not a JSON object.")
	}
	raw, ok := body.Get("AttestationPolicy")
	if !ok {
		return "", maaerr.New(maaerr.InvalidOperation, "Could not find the \"AttestationPolicy\" claim in the policy token.")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", maaerr.New(maaerr.InvalidOperation, "The \"AttestationPolicy\" claim must be a string.")
	}
	if b, err := jose.B64.DecodeString(strings.TrimRight(s, "=")); err == nil && utf8.Valid(b) {
		return string(b), nil
	}
	return s, nil
}

// SetPolicy stores the policy carried by jws for typ after
// checking its signer (per mode) and parsing the policy; an invalid policy
// is refused and the previous one kept. It returns a token with
// x-ms-policy-result "Updated", x-ms-policy-token-hash and, when signed,
// x-ms-policy-signer.
func (m *Management) SetPolicy(ctx context.Context, typ evidence.Type, jws string) (_ string, err error) {
	ev := AuditEvent{Operation: OpPolicySet, Type: typ, Before: m.policyInForce(ctx, typ)}
	defer func() { ev.After = m.policyInForce(ctx, typ); m.audit(ctx, &ev, err) }()
	j, signedBy, err := m.verifiedJWS(ctx, jws)
	if err != nil {
		return "", err
	}
	ev.Signer = signerThumbprint(signedBy.cert)
	text, err := policyText(j.Payload)
	if err != nil {
		return "", err
	}
	_, err = policy.Parse(text)
	if err != nil {
		if e := maaerr.As(err); e.Code == maaerr.PolicyParsingError {
			return "", e
		}
		return "", maaerr.Wrap(err, maaerr.PolicyParsingError, "%v", err)
	}
	if err := m.guardReplay(ctx, j, policyScope(typ), "set"); err != nil {
		return "", err
	}
	sp := store.Policy{InstanceID: m.InstanceID, AttestationType: string(typ), JWS: jws, Text: text}
	if signedBy.cert != nil {
		sp.SignerCertDER = signedBy.cert.Raw
	}
	if _, err := m.putPolicy(ctx, sp); err != nil {
		return "", err
	}
	m.Policies.Invalidate()
	claims := map[string]any{
		"x-ms-policy-result":     "Updated",
		"x-ms-policy-token-hash": TokenHash(jws),
	}
	signedBy.claims(claims)
	return m.issue(claims)
}

// putPolicy replaces the stored policy. A set is a full replacement, so the
// last writer wins and every response describes what was stored when it
// committed.
func (m *Management) putPolicy(ctx context.Context, sp store.Policy) (stored store.Policy, err error) {
	err = m.withCurrentVersion(ctx, evidence.Type(sp.AttestationType), func(version int64, _ bool) error {
		stored, err = m.Store.PutPolicy(ctx, sp, version)
		return err
	})
	return stored, err
}

// withCurrentVersion runs fn with the stored policy's version (0 and
// exists=false when none is stored), retrying while fn fails with an
// optimistic-concurrency conflict.
func (m *Management) withCurrentVersion(ctx context.Context, typ evidence.Type, fn func(version int64, exists bool) error) error {
	for attempt := 0; ; attempt++ {
		cur, err := m.Store.GetPolicy(ctx, m.InstanceID, string(typ))
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeErr(err)
		}
		err = fn(cur.Version, exists)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return storeErr(err)
		}
		return nil
	}
}

// ResetPolicy removes the stored policy for typ (the default, if any, is in
// force again). The body is a JWS with an empty (or null, or {}) payload,
// signed per mode, given as jws. It returns a token with x-ms-policy-result "Removed".
func (m *Management) ResetPolicy(ctx context.Context, typ evidence.Type, jws string) (_ string, err error) {
	ev := AuditEvent{Operation: OpPolicyReset, Type: typ, Before: m.policyInForce(ctx, typ)}
	defer func() { ev.After = m.policyInForce(ctx, typ); m.audit(ctx, &ev, err) }()
	j, signedBy, err := m.verifiedJWS(ctx, jws)
	if err != nil {
		return "", err
	}
	ev.Signer = signerThumbprint(signedBy.cert)
	if !emptyResetPayload(j.Payload) {
		return "", maaerr.New(maaerr.InvalidOperation, "A policy reset JWS must have an empty payload (Maat also accepts {\"iat\": seconds}, to make a repeated signed reset new).")
	}
	if err := m.guardReplay(ctx, j, policyScope(typ), "reset"); err != nil {
		return "", err
	}
	err = m.withCurrentVersion(ctx, typ, func(version int64, exists bool) error {
		if !exists {
			return nil
		}
		return m.Store.DeletePolicy(ctx, m.InstanceID, string(typ), version)
	})
	if err != nil {
		return "", err
	}
	m.Policies.Invalidate()
	return m.issue(map[string]any{"x-ms-policy-result": "Removed"})
}
