package attestation

import (
	"context"
	"crypto/x509"
	"slices"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/store"
)

// Audited operations (the Operation of an AuditEvent).
const (
	OpPolicySet         = "policy.set"
	OpPolicyReset       = "policy.reset"
	OpCertificateAdd    = "certificate.add"
	OpCertificateRemove = "certificate.remove"
)

// AuditEvent is what Management tells its Audit hook about one policy or
// certificate change, successful or refused. Who called and which request
// it was are in the context (the audit package puts them there).
type AuditEvent struct {
	Operation string
	Type      evidence.Type // "" for certificates
	// Signer is the uppercase hex SHA-1 thumbprint of the certificate that
	// signed the management JWS, once it verified ("" if unsigned or not
	// verified).
	Signer string
	// Before and After are the x-ms-policy-hash of the policy in force (the
	// default when none is stored; "" when the type has none) or, for a
	// certificate, its thumbprint when the instance holds it ("" when not).
	Before, After string
	// Err is the error returned to the caller; nil on success.
	Err error
}

// audit tells the Audit hook about ev, if there is a hook. It is deferred
// once per operation, so every return path is recorded.
func (m *Management) audit(ctx context.Context, ev *AuditEvent, err error) {
	if m.Audit == nil {
		return
	}
	ev.Err = err
	m.Audit(ctx, *ev)
}

func signerThumbprint(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return HexThumbprint(c.Raw)
}

// policyInForce is the hash of the policy in force for typ, read from the
// store (not the cache, which may be behind another replica's change).
func (m *Management) policyInForce(ctx context.Context, typ evidence.Type) string {
	if m.Audit == nil {
		return ""
	}
	ap, err := m.Policies.load(ctx, typ)
	if err != nil || ap.Policy == nil {
		return ""
	}
	return ap.Policy.Hash()
}

// holds returns thumb when the instance holds that management certificate.
func (m *Management) holds(ctx context.Context, thumb string) string {
	if m.Audit == nil {
		return ""
	}
	certs, err := m.Store.ListPolicyCertificates(ctx, m.InstanceID)
	if err != nil {
		return ""
	}
	if slices.ContainsFunc(certs, func(c store.PolicyCertificate) bool { return c.Thumbprint == thumb }) {
		return thumb
	}
	return ""
}
