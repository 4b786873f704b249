package attestation

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/token"
)

// Issuer issues management tokens.
type Issuer interface {
	Issue(claims map[string]any, opts token.Options) (string, error)
}

// Management implements MAA's policy and policy-management-certificate
// operations for one instance. Fields are set at construction.
type Management struct {
	Store      store.Store
	InstanceID string
	Mode       store.Mode
	Policies   *Policies
	Tokens     Issuer
	// Now is the clock for certificate validity checks.
	Now func() time.Time
}

func (m *Management) issue(claims map[string]any) (string, error) {
	return m.Tokens.Issue(claims, token.Options{Management: true})
}

// verifiedJWS parses a management JWS and checks its signer (checkSigner).
func (m *Management) verifiedJWS(ctx context.Context, jws string) (*jose.JWS, *x509.Certificate, error) {
	j, err := parseJWS(jws)
	if err != nil {
		return nil, nil, err
	}
	signer, err := m.checkSigner(ctx, j)
	if err != nil {
		return nil, nil, err
	}
	return j, signer, nil
}

// checkSigner verifies a management JWS: in Isolated mode it must be signed
// by a current policy-management certificate (directly or through its
// x5c chain); in AAD mode it may be unsigned (alg none) or signed by any key
// it carries in x5c/jwk. It returns the signing certificate (nil if
// unsigned).
func (m *Management) checkSigner(ctx context.Context, j *jose.JWS) (*x509.Certificate, error) {
	if j.Unsecured() {
		if err := j.CheckUnsecured(); err != nil {
			return nil, maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed JWT: an unsecured JWS must have an empty signature.")
		}
		if m.Mode == store.ModeIsolated {
			return nil, maaerr.New(maaerr.InvalidOperation, "The instance is in Isolated mode: the JWS must be signed by a policy management certificate.")
		}
		return nil, nil
	}
	certs, err := j.HeaderCertificates()
	if errors.Is(err, jose.ErrNoKey) {
		return nil, maaerr.New(maaerr.InvalidParameter, "The JWS header carries no signing certificate (x5c or jwk.x5c).")
	}
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS signing certificate chain is invalid.")
	}
	if err := j.Verify(certs[0].PublicKey); err != nil {
		if errors.Is(err, jose.ErrUnsupportedAlg) {
			return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS algorithm '%s' is not supported; use RS256.", j.Header.Alg)
		}
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS signature does not verify with the certificate in its header.")
	}
	now := m.Now()
	if m.Mode == store.ModeIsolated {
		mgmt, err := m.Store.ListPolicyCertificates(ctx, m.InstanceID)
		if err != nil {
			return nil, maaerr.Wrap(err, maaerr.Internal, "loading policy management certificates failed")
		}
		if !signedByManagementCert(certs, mgmt, now) {
			return nil, maaerr.New(maaerr.InvalidParameter, "The JWS is not signed by a policy management certificate of this instance.")
		}
		return certs[0], nil
	}
	if len(certs) > 1 {
		if err := verifyChain(certs, now); err != nil {
			return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS signing certificate chain does not verify: %v", err)
		}
	}
	return certs[0], nil
}

func signedByManagementCert(chain []*x509.Certificate, mgmt []store.PolicyCertificate, now time.Time) bool {
	roots := x509.NewCertPool()
	for _, c := range mgmt {
		if bytes.Equal(c.DER, chain[0].Raw) {
			return true
		}
		if mc, err := x509.ParseCertificate(c.DER); err == nil {
			roots.AddCert(mc)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// verifyChain checks that chain[i] is signed by chain[i+1] and that every
// issuer is a CA (MAA rejects a root without BasicConstraints CA=true).
func verifyChain(chain []*x509.Certificate, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	inter := x509.NewCertPool()
	for _, c := range chain[1 : len(chain)-1] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

func storeErr(err error) error {
	return maaerr.Wrap(err, maaerr.ServiceUnavailable, "The policy store is unavailable; retry later.")
}
