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
	// AllowChainedSigners (Isolated mode) also accepts a JWS signed by a
	// certificate that merely chains to a listed policy-management
	// certificate; responses then name the listed certificate in
	// x-maat-policy-signer-chained-to. By default the signer must be one of
	// the listed certificates, as MAA documents.
	AllowChainedSigners bool
	// AllowReplay turns off anti-rollback (replay.go): a superseded signed
	// request is applied again, as MAA does.
	AllowReplay bool
	// Audit, when set, is told of every policy and certificate change,
	// successful or refused, once (audit.go).
	Audit func(ctx context.Context, ev AuditEvent)
}

func (m *Management) issue(claims map[string]any) (string, error) {
	return m.Tokens.Issue(claims, token.Options{Management: true})
}

// signer is who signed a management JWS: the signing certificate (nil if
// unsigned) and, when it only chains to a listed policy-management
// certificate (AllowChainedSigners), that listed certificate.
type signer struct {
	cert, via *x509.Certificate
}

// claims adds the response claims that report the signer.
func (s signer) claims(c map[string]any) {
	if s.cert != nil {
		c["x-ms-policy-signer"] = SignerJWK(s.cert)
	}
	if s.via != nil {
		c["x-maat-policy-signer-chained-to"] = HexThumbprint(s.via.Raw)
	}
}

// verifiedJWS parses a management JWS and checks its signer (checkSigner).
func (m *Management) verifiedJWS(ctx context.Context, jws string) (*jose.JWS, signer, error) {
	j, err := parseJWS(jws)
	if err != nil {
		return nil, signer{}, err
	}
	s, err := m.checkSigner(ctx, j)
	if err != nil {
		return nil, signer{}, err
	}
	return j, s, nil
}

// checkSigner verifies a management JWS: in Isolated mode it must be signed
// by one of the instance's policy-management certificates (or, with
// AllowChainedSigners, a certificate chaining to one); in AAD mode it may be
// unsigned (alg none) or signed by any key it carries in x5c/jwk. In
// Isolated mode the signing certificate must also be strong enough and
// within its validity window.
func (m *Management) checkSigner(ctx context.Context, j *jose.JWS) (signer, error) {
	if j.Unsecured() {
		if err := j.CheckUnsecured(); err != nil {
			return signer{}, maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed JWT: an unsecured JWS must have an empty signature.")
		}
		if m.Mode == store.ModeIsolated {
			return signer{}, maaerr.New(maaerr.InvalidOperation, "The instance is in Isolated mode: the JWS must be signed by a policy management certificate.")
		}
		return signer{}, nil
	}
	s, err := m.checkSignature(ctx, j)
	if err != nil {
		return signer{}, err
	}
	return s, nil
}

func (m *Management) checkSignature(ctx context.Context, j *jose.JWS) (signer, error) {
	certs, err := j.HeaderCertificates()
	if errors.Is(err, jose.ErrNoKey) {
		return signer{}, maaerr.New(maaerr.InvalidParameter, "The JWS header carries no signing certificate (x5c or jwk.x5c).")
	}
	if err != nil {
		return signer{}, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS signing certificate chain is invalid.")
	}
	if err := j.Verify(certs[0].PublicKey); err != nil {
		if errors.Is(err, jose.ErrUnsupportedAlg) {
			return signer{}, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS algorithm '%s' is not supported; use RS256.", j.Header.Alg)
		}
		return signer{}, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS signature does not verify with the certificate in its header.")
	}
	now := m.Now()
	if m.Mode == store.ModeIsolated {
		// In AAD mode any key may sign, so its certificate proves nothing
		// and is not held to these rules (MAA accepts expired ones there).
		if err := checkCertificate(certs[0], now, "The JWS signing certificate"); err != nil {
			return signer{}, err
		}
		mgmt, err := m.Store.ListPolicyCertificates(ctx, m.InstanceID)
		if err != nil {
			return signer{}, maaerr.Wrap(err, maaerr.Internal, "loading policy management certificates failed")
		}
		via, direct := signedByManagementCert(certs, mgmt, now)
		switch {
		case direct:
			return signer{cert: certs[0]}, nil
		case via != nil && m.AllowChainedSigners:
			return signer{cert: certs[0], via: via}, nil
		case via != nil:
			return signer{}, maaerr.New(maaerr.InvalidParameter, "The JWS is signed by a certificate that chains to a policy management certificate but is not one itself; sign with a listed certificate (GET /certificates), or enable policy-management-allow-chained-signers.")
		}
		return signer{}, maaerr.New(maaerr.InvalidParameter, "The JWS is not signed by a policy management certificate of this instance.")
	}
	if len(certs) > 1 {
		if err := verifyChain(certs, now); err != nil {
			return signer{}, maaerr.Wrap(err, maaerr.InvalidParameter, "The JWS signing certificate chain does not verify: %v", err)
		}
	}
	return signer{cert: certs[0]}, nil
}

// signedByManagementCert reports whether chain[0] is one of the listed
// certificates (direct), or else the listed certificate it chains to
// through chain[1:] at now (nil when none).
func signedByManagementCert(chain []*x509.Certificate, mgmt []store.PolicyCertificate, now time.Time) (via *x509.Certificate, direct bool) {
	roots := x509.NewCertPool()
	for _, c := range mgmt {
		if bytes.Equal(c.DER, chain[0].Raw) {
			return nil, true
		}
		if mc, err := x509.ParseCertificate(c.DER); err == nil {
			roots.AddCert(mc)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil || len(chains) == 0 {
		return nil, false
	}
	c := chains[0]
	return c[len(c)-1], false
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
