package attestation

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
)

// GetCertificates returns a token whose x-ms-policy-certificates claim is
// the JWK Set of the instance's policy-management certificates (empty in
// AAD mode, as MAA).
func (m *Management) GetCertificates(ctx context.Context) (string, error) {
	certs, err := m.Store.ListPolicyCertificates(ctx, m.InstanceID)
	if err != nil {
		return "", storeErr(err)
	}
	keys := make([]any, 0, len(certs))
	for _, c := range certs {
		keys = append(keys, CertificateJWK(c.DER))
	}
	return m.issue(map[string]any{"x-ms-policy-certificates": map[string]any{"keys": keys}})
}

// certificateNames are the claim names clients use for the certificate to
// add or remove: GA, preview, and two names from Microsoft's docs.
var certificateNames = []string{"policyCertificate", "maa-policyCertificate", "x-ms-policyCertificate", "aas-policyCertificate"}

// ModifyCertificate adds (add=true) or removes a policy-management
// certificate. The JWS must be signed by a current management certificate;
// its payload names the certificate in a JWK's x5c. It returns a token with
// x-ms-certificate-thumbprint and x-ms-policycertificates-result
// ("IsPresent" after add, "IsAbsent" after remove). In AAD mode it returns
// InvalidOperation, as MAA does.
func (m *Management) ModifyCertificate(ctx context.Context, jws string, add bool) (_ string, err error) {
	ev := AuditEvent{Operation: OpCertificateRemove}
	if add {
		ev.Operation = OpCertificateAdd
	}
	thumb := ""
	defer func() {
		if thumb != "" {
			ev.After = m.holds(ctx, thumb)
		}
		m.audit(ctx, &ev, err)
	}()
	if m.Mode != store.ModeIsolated {
		return "", maaerr.New(maaerr.InvalidOperation, "The operation is disallowed: policy management certificates exist only on Isolated-mode instances.")
	}
	j, signedBy, err := m.verifiedJWS(ctx, jws)
	if err != nil {
		return "", err
	}
	ev.Signer = signerThumbprint(signedBy.cert)
	cert, err := certificateFromPayload(j.Payload)
	if err != nil {
		return "", err
	}
	thumb = HexThumbprint(cert.Raw)
	ev.Before = m.holds(ctx, thumb)
	if add {
		if err := checkCertificate(cert, m.Now(), "The certificate to add"); err != nil {
			return "", err
		}
	}
	op := "remove"
	if add {
		op = "add"
	}
	if err := m.guardReplay(ctx, j, certificateScope(thumb), op); err != nil {
		return "", err
	}
	result := "IsAbsent"
	if add {
		result = "IsPresent"
		err = m.Store.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: m.InstanceID, Thumbprint: thumb, DER: cert.Raw})
	} else {
		err = m.Store.RemovePolicyCertificate(ctx, m.InstanceID, thumb)
		if errors.Is(err, store.ErrLastCertificate) {
			return "", maaerr.New(maaerr.InvalidOperation, "The last policy management certificate cannot be removed.")
		}
	}
	if err != nil {
		return "", storeErr(err)
	}
	return m.issue(map[string]any{"x-ms-certificate-thumbprint": thumb, "x-ms-policycertificates-result": result})
}

func certificateFromPayload(payload []byte) (*x509.Certificate, error) {
	body, err := jsonstrict.DecodeObject(payload)
	if dup := duplicateErr(err, "certificate JWS payload"); dup != nil {
		return nil, dup
	}
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidOperation, "The JWS payload is not a JSON object.")
	}
	var raw json.RawMessage
	var found string
	for _, name := range certificateNames {
		if v, ok := body.Get(name); ok {
			if raw != nil {
				return nil, maaerr.New(maaerr.InvalidParameter, "The certificate JWS payload names the certificate twice, as %q and %q; send one.", found, name)
			}
			raw, found = v, name
		}
	}
	if raw == nil {
		return nil, maaerr.New(maaerr.InvalidOperation, "Could not find the \"policyCertificate\" claim in the policy token.")
	}
	if dup := duplicateErr(jsonstrict.Check(raw, true, 8), "\"policyCertificate\" JWK"); dup != nil {
		return nil, dup
	}
	var jwk struct {
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(raw, &jwk); err != nil || len(jwk.X5C) == 0 {
		return nil, maaerr.New(maaerr.InvalidOperation, "The \"policyCertificate\" claim must be a JWK with an x5c certificate.")
	}
	der, err := base64.StdEncoding.DecodeString(jwk.X5C[0])
	if err != nil {
		if der, err = jose.DecodeB64Loose(jwk.X5C[0]); err != nil {
			return nil, maaerr.New(maaerr.InvalidOperation, "The \"policyCertificate\" x5c is not base64.")
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The \"policyCertificate\" x5c is not a valid certificate: %v", err)
	}
	return cert, nil
}

// SeedCertificates adds the configured initial management certificates
// when the instance has none.
func (m *Management) SeedCertificates(ctx context.Context, ders [][]byte) error {
	existing, err := m.Store.ListPolicyCertificates(ctx, m.InstanceID)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return nil
	}
	for _, der := range ders {
		if err := m.Store.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: m.InstanceID, Thumbprint: HexThumbprint(der), DER: der}); err != nil {
			return fmt.Errorf("adding initial policy management certificate: %w", err)
		}
	}
	return nil
}
