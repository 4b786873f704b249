package attestation

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/token"
)

const unsecuredHeader = "eyJhbGciOiJub25lIn0" // base64url({"alg":"none"})

// MaxPolicyJWSBytes bounds a policy or certificate JWS before parsing.
const MaxPolicyJWSBytes = 256 << 10

// unsecuredPolicyJWS returns MAA's unsecured policy JWS for text:
// {"alg":"none"} . {"AttestationPolicy": base64url(text)} . (empty).
func unsecuredPolicyJWS(text string) (string, error) {
	payload, err := json.Marshal(map[string]string{"AttestationPolicy": jose.B64.EncodeToString([]byte(text))})
	if err != nil {
		return "", err
	}
	return unsecuredHeader + "." + jose.B64.EncodeToString(payload) + ".", nil
}

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

// GetPolicy returns a management token whose x-ms-policy claim is the
// policy JWS in force for typ (the stored JWS exactly as it was set, or MAA's
// unsecured form of the default).
func (m *Management) GetPolicy(ctx context.Context, typ string) (string, error) {
	ap, err := m.Policies.Get(ctx, typ)
	if err != nil {
		return "", err
	}
	return m.issue(map[string]any{"x-ms-policy": ap.JWS})
}

// jwsFromBody accepts a compact JWS sent raw (text/plain, as MAA's
// clients do) or as a JSON string literal, and bounds its size.
func jwsFromBody(body []byte) (string, error) {
	if len(body) > MaxPolicyJWSBytes {
		return "", maaerr.New(maaerr.InvalidParameter, "The JWS of %d bytes exceeds the limit of %d bytes.", len(body), MaxPolicyJWSBytes)
	}
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed JWT: the body is neither a compact JWS nor a JSON string holding one.")
		}
		return strings.TrimSpace(s), nil
	}
	return string(b), nil
}

func parseJWS(s string) (*jose.JWS, error) {
	if s == "" {
		return nil, maaerr.New(maaerr.InvalidOperation, "Malformed JWT: the request body is empty.")
	}
	j, err := jose.Parse(s)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed JWT: %s", strings.TrimPrefix(err.Error(), "jose: malformed JWS: "))
	}
	return j, nil
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

// SignerJWK is the JWK MAA reports for a policy signer
// (x-ms-policy-signer): {"alg":"RS256","kty":"RSA","use":"sig","x5c":[…]}.
func SignerJWK(cert *x509.Certificate) map[string]any {
	kty, alg := "RSA", "RS256"
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		kty, alg = "EC", "ES256"
	}
	return map[string]any{"alg": alg, "kty": kty, "use": "sig", "x5c": []string{base64.StdEncoding.EncodeToString(cert.Raw)}}
}

// TokenHash is x-ms-policy-token-hash: base64url(SHA-256(JWS as sent)).
func TokenHash(jws string) string {
	h := sha256.Sum256([]byte(jws))
	return jose.B64.EncodeToString(h[:])
}

// policyText extracts the policy text from a policy JWS payload:
// {"AttestationPolicy": base64url(text)} (GA) or the raw text (preview-era
// clients).
func policyText(payload []byte) (string, error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(payload, &body); err != nil {
		return "", maaerr.Wrap(err, maaerr.InvalidOperation, "The policy JWS payload is not a JSON object.")
	}
	var raw json.RawMessage
	for k, v := range body {
		if strings.EqualFold(k, "AttestationPolicy") {
			raw = v
		}
	}
	if raw == nil {
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

// SetPolicy stores the policy carried by the JWS in body for typ after
// checking its signer (per mode) and parsing the policy; an invalid policy
// is refused and the previous one kept. It returns a token with
// x-ms-policy-result "Updated", x-ms-policy-token-hash and, when signed,
// x-ms-policy-signer.
func (m *Management) SetPolicy(ctx context.Context, typ string, body []byte) (string, error) {
	jws, err := jwsFromBody(body)
	if err != nil {
		return "", err
	}
	j, signer, err := m.verifiedJWS(ctx, jws)
	if err != nil {
		return "", err
	}
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
	sp := store.Policy{InstanceID: m.InstanceID, AttestationType: typ, JWS: jws, Text: text}
	if signer != nil {
		sp.SignerCertDER = signer.Raw
	}
	if _, err := m.putPolicy(ctx, sp); err != nil {
		return "", err
	}
	m.Policies.Invalidate()
	claims := map[string]any{
		"x-ms-policy-result":     "Updated",
		"x-ms-policy-token-hash": TokenHash(jws),
	}
	if signer != nil {
		claims["x-ms-policy-signer"] = SignerJWK(signer)
	}
	return m.issue(claims)
}

// putPolicy replaces the stored policy. A set is a full replacement, so the
// last writer wins and every response describes what was stored when it
// committed.
func (m *Management) putPolicy(ctx context.Context, sp store.Policy) (stored store.Policy, err error) {
	err = m.withCurrentVersion(ctx, sp.AttestationType, func(version int64, _ bool) error {
		stored, err = m.Store.PutPolicy(ctx, sp, version)
		return err
	})
	return stored, err
}

// withCurrentVersion runs fn with the stored policy's version (0 and
// exists=false when none is stored), retrying while fn fails with an
// optimistic-concurrency conflict.
func (m *Management) withCurrentVersion(ctx context.Context, typ string, fn func(version int64, exists bool) error) error {
	for attempt := 0; ; attempt++ {
		cur, err := m.Store.GetPolicy(ctx, m.InstanceID, typ)
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

func storeErr(err error) error {
	return maaerr.Wrap(err, maaerr.ServiceUnavailable, "The policy store is unavailable; retry later.")
}

// ResetPolicy removes the stored policy for typ (the default, if any, is in
// force again). The body is a JWS with an empty (or null, or {}) payload,
// signed per mode. It returns a token with x-ms-policy-result "Removed".
func (m *Management) ResetPolicy(ctx context.Context, typ string, body []byte) (string, error) {
	jws, err := jwsFromBody(body)
	if err != nil {
		return "", err
	}
	j, _, err := m.verifiedJWS(ctx, jws)
	if err != nil {
		return "", err
	}
	if p := bytes.TrimSpace(j.Payload); len(p) != 0 && !bytes.Equal(p, []byte("null")) && !bytes.Equal(p, []byte("{}")) {
		return "", maaerr.New(maaerr.InvalidOperation, "A policy reset JWS must have an empty payload.")
	}
	err = m.withCurrentVersion(ctx, typ, func(version int64, exists bool) error {
		if !exists {
			return nil
		}
		return m.Store.DeletePolicy(ctx, m.InstanceID, typ, version)
	})
	if err != nil {
		return "", err
	}
	m.Policies.Invalidate()
	return m.issue(map[string]any{"x-ms-policy-result": "Removed"})
}

// CertificateJWK is how MAA lists a policy-management certificate:
// {"alg":"RS256","kty":"RSA","use":"sig","x5c":[…]} (ES256/EC for an EC key).
func CertificateJWK(der []byte) map[string]any {
	if c, err := x509.ParseCertificate(der); err == nil {
		return SignerJWK(c)
	}
	return map[string]any{"alg": "RS256", "kty": "RSA", "use": "sig", "x5c": []string{base64.StdEncoding.EncodeToString(der)}}
}

// Thumbprint is MAA's x-ms-certificate-thumbprint: uppercase hex SHA-1 of
// the DER certificate.
func Thumbprint(der []byte) string {
	h := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

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

// certificateFromBody decodes an add/remove body: a JSON string literal
// holding the JWS (2020-10-01/2022-08-01), the raw JWS, or the 2025-06-01
// object {"policyCertificateToAdd"|"policyCertificateToRemove": JWS}.
func certificateJWSFromBody(body []byte, objectKey string) (string, error) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return "", maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed request body: %v", err)
		}
		for k, v := range obj {
			if strings.EqualFold(k, objectKey) {
				return jwsFromBody(v)
			}
		}
		return "", maaerr.New(maaerr.InvalidOperation, "The request body has no \"%s\" member.", objectKey)
	}
	return jwsFromBody(b)
}

// ModifyCertificate adds (add=true) or removes a policy-management
// certificate. The JWS must be signed by a current management certificate;
// its payload names the certificate in a JWK's x5c. It returns a token with
// x-ms-certificate-thumbprint and x-ms-policycertificates-result
// ("IsPresent" after add, "IsAbsent" after remove). In AAD mode it returns
// InvalidOperation, as MAA does.
func (m *Management) ModifyCertificate(ctx context.Context, body []byte, add bool) (string, error) {
	if m.Mode != store.ModeIsolated {
		return "", maaerr.New(maaerr.InvalidOperation, "The operation is disallowed: policy management certificates exist only on Isolated-mode instances.")
	}
	key := "policyCertificateToRemove"
	if add {
		key = "policyCertificateToAdd"
	}
	jws, err := certificateJWSFromBody(body, key)
	if err != nil {
		return "", err
	}
	j, _, err := m.verifiedJWS(ctx, jws)
	if err != nil {
		return "", err
	}
	cert, err := certificateFromPayload(j.Payload)
	if err != nil {
		return "", err
	}
	thumb := Thumbprint(cert.Raw)
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
	var body map[string]json.RawMessage
	if err := json.Unmarshal(payload, &body); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidOperation, "The JWS payload is not a JSON object.")
	}
	var raw json.RawMessage
	for _, name := range certificateNames {
		for k, v := range body {
			if strings.EqualFold(k, name) {
				raw = v
			}
		}
		if raw != nil {
			break
		}
	}
	if raw == nil {
		return nil, maaerr.New(maaerr.InvalidOperation, "Could not find the \"policyCertificate\" claim in the policy token.")
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
		if err := m.Store.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: m.InstanceID, Thumbprint: Thumbprint(der), DER: der}); err != nil {
			return fmt.Errorf("adding initial policy management certificate: %w", err)
		}
	}
	return nil
}
