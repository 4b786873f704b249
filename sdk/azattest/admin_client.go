package azattest

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// AdministrationClient manages attestation policies and policy management
// certificates. Create it with [NewAdministrationClient]; it is safe for
// concurrent use.
type AdministrationClient struct {
	b *base
}

// NewAdministrationClient returns an AdministrationClient for endpoint. MAA
// requires a credential for every management call (Attestation Reader or
// Contributor role); a nil cred sends none, for servers that need none.
// options may be nil.
//
// It returns an error if endpoint is not an http(s) URL, or if a credential
// would be sent over http without ClientOptions.InsecureAllowCredentialWithHTTP.
func NewAdministrationClient(endpoint string, cred azcore.TokenCredential, options *ClientOptions) (*AdministrationClient, error) {
	b, err := newBase(endpoint, cred, options)
	if err != nil {
		return nil, err
	}
	return &AdministrationClient{b: b}, nil
}

// Endpoint returns the endpoint the client talks to.
func (c *AdministrationClient) Endpoint() string { return c.b.endpoint }

func policyPath(t AttestationType) string { return "/policies/" + url.PathEscape(string(t)) }

// GetPolicyOptions are the optional parameters of [AdministrationClient.GetPolicy].
type GetPolicyOptions struct {
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// GetPolicyResponse is the result of [AdministrationClient.GetPolicy].
type GetPolicyResponse struct {
	// Policy is the policy text; empty if the instance has no policy for
	// the type (MAA returns an empty policy JWS, e.g. for Tpm by default).
	Policy string
	// PolicyToken is the stored policy JWS (x-ms-policy): unsecured for
	// unsigned policies, the signed JWS as it was set otherwise. Its
	// signature is not validated by this call.
	PolicyToken *Token
	// Token is the service's validated response token.
	Token *Token
}

// GetPolicy returns the policy in force for an attestation type (GET
// /policies/{type}).
//
// It returns a *azcore.ResponseError for HTTP failures (e.g. 401
// Unauthorized), a *TokenValidationError if the response token does not
// validate, and an error wrapping ErrMalformedToken if the stored policy is
// not a policy JWS.
func (c *AdministrationClient) GetPolicy(ctx context.Context, attestationType AttestationType, options *GetPolicyOptions) (_ GetPolicyResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "AdministrationClient.GetPolicy")
	defer func() { endSpan(err) }()
	var o GetPolicyOptions
	if options != nil {
		o = *options
	}
	tok, _, err := c.b.doToken(ctx, http.MethodGet, policyPath(attestationType), nil, "", false, o.TokenValidation)
	if err != nil {
		return GetPolicyResponse{}, err
	}
	var body struct {
		Policy string `json:"x-ms-policy"`
	}
	if err := tok.UnmarshalClaims(&body); err != nil || body.Policy == "" {
		return GetPolicyResponse{}, fmt.Errorf("azattest: %w: token has no x-ms-policy", ErrMalformedToken)
	}
	pt, err := ParseToken(body.Policy)
	if err != nil {
		return GetPolicyResponse{}, fmt.Errorf("azattest: x-ms-policy: %w", err)
	}
	text, err := policyText(pt)
	if err != nil {
		return GetPolicyResponse{}, err
	}
	return GetPolicyResponse{Policy: text, PolicyToken: pt, Token: tok}, nil
}

// policyText extracts the policy from a StoredAttestationPolicy JWS. The
// value is base64url policy text (GA); preview-era tokens carried raw text.
func policyText(pt *Token) (string, error) {
	if len(pt.payload) == 0 { // no policy set (MAA: "eyJhbGciOiJub25lIn0..")
		return "", nil
	}
	var sp struct {
		P *string `json:"AttestationPolicy"`
	}
	if err := pt.UnmarshalClaims(&sp); err != nil || sp.P == nil {
		return "", fmt.Errorf("azattest: %w: policy JWS has no AttestationPolicy", ErrMalformedToken)
	}
	if b, err := base64.RawURLEncoding.DecodeString(*sp.P); err == nil {
		return string(b), nil
	}
	return *sp.P, nil
}

// SetPolicyOptions are the optional parameters of [AdministrationClient.SetPolicy].
type SetPolicyOptions struct {
	// SigningKey signs the policy JWS (required on isolated-mode instances,
	// optional in AAD mode); nil sends it unsecured (alg none).
	SigningKey *SigningKey
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// SetPolicyResponse is the result of [AdministrationClient.SetPolicy].
type SetPolicyResponse struct {
	PolicyResult
	// Token is the service's validated response token.
	Token *Token
}

// SetPolicy sets the policy for an attestation type (PUT /policies/{type},
// body: the policy JWS as text/plain, see [CreatePolicyToken]).
//
// It returns a *azcore.ResponseError if the service rejects the policy
// (e.g. 400 PolicyParsingError, 401 Unauthorized), or an error if the key is
// unusable or the service's x-ms-policy-token-hash differs from
// [PolicyTokenHash] of the JWS sent.
//
// When the service answered 200 but its response token does not validate,
// the service has applied the change: SetPolicy then returns the result
// parsed from the unvalidated token (and the Token) together with a
// *[TokenValidationError]; use [IsAppliedButUnvalidated] or errors.As to
// tell this case from a failure.
func (c *AdministrationClient) SetPolicy(ctx context.Context, attestationType AttestationType, policy string, options *SetPolicyOptions) (_ SetPolicyResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "AdministrationClient.SetPolicy")
	defer func() { endSpan(err) }()
	var o SetPolicyOptions
	if options != nil {
		o = *options
	}
	jws, err := CreatePolicyToken(policy, o.SigningKey)
	if err != nil {
		return SetPolicyResponse{}, err
	}
	tok, _, verr := c.b.doToken(ctx, http.MethodPut, policyPath(attestationType), jws.String(), "text/plain", false, o.TokenValidation)
	if !appliedButUnvalidated(tok, verr) {
		return SetPolicyResponse{}, verr
	}
	r, err := newPolicyResult(tok)
	if err != nil {
		return SetPolicyResponse{}, errors.Join(verr, err)
	}
	if want := PolicyTokenHash(jws.String()); r.TokenHash != nil && string(r.TokenHash) != string(want) {
		return SetPolicyResponse{}, errors.Join(verr, errors.New("azattest: x-ms-policy-token-hash does not match the policy sent"))
	}
	return SetPolicyResponse{PolicyResult: r, Token: tok}, verr
}

// ResetPolicyOptions are the optional parameters of [AdministrationClient.ResetPolicy].
type ResetPolicyOptions struct {
	// SigningKey signs the reset JWS (required on isolated-mode instances);
	// nil sends "eyJhbGciOiJub25lIn0..".
	SigningKey *SigningKey
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// ResetPolicyResponse is the result of [AdministrationClient.ResetPolicy].
type ResetPolicyResponse struct {
	PolicyResult
	// Token is the service's validated response token.
	Token *Token
}

// ResetPolicy restores the default policy for an attestation type (POST
// /policies/{type}:reset with a JWS whose payload is empty).
//
// Errors are as for [AdministrationClient.SetPolicy].
func (c *AdministrationClient) ResetPolicy(ctx context.Context, attestationType AttestationType, options *ResetPolicyOptions) (_ ResetPolicyResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "AdministrationClient.ResetPolicy")
	defer func() { endSpan(err) }()
	var o ResetPolicyOptions
	if options != nil {
		o = *options
	}
	jws, err := createResetToken(o.SigningKey)
	if err != nil {
		return ResetPolicyResponse{}, err
	}
	tok, _, verr := c.b.doToken(ctx, http.MethodPost, policyPath(attestationType)+":reset", jws.String(), "text/plain", false, o.TokenValidation)
	if !appliedButUnvalidated(tok, verr) {
		return ResetPolicyResponse{}, verr
	}
	r, err := newPolicyResult(tok)
	if err != nil {
		return ResetPolicyResponse{}, errors.Join(verr, err)
	}
	return ResetPolicyResponse{PolicyResult: r, Token: tok}, verr
}

func newPolicyResult(tok *Token) (PolicyResult, error) {
	var body struct {
		Result string `json:"x-ms-policy-result"`
		Hash   string `json:"x-ms-policy-token-hash"`
	}
	if err := tok.UnmarshalClaims(&body); err != nil {
		return PolicyResult{}, fmt.Errorf("azattest: policy result: %w", err)
	}
	r := PolicyResult{Result: PolicyModification(body.Result)}
	if body.Hash != "" {
		h, err := decodeB64Any(body.Hash)
		if err != nil {
			return PolicyResult{}, fmt.Errorf("azattest: x-ms-policy-token-hash: %w", err)
		}
		r.TokenHash = h
	}
	if raw, ok := tok.claim("x-ms-policy-signer"); ok {
		s, err := parsePolicySigner(raw)
		if err != nil {
			return PolicyResult{}, fmt.Errorf("azattest: x-ms-policy-signer: %w", err)
		}
		r.Signer = s
	}
	return r, nil
}

// GetPolicyManagementCertificatesOptions are the optional parameters of
// [AdministrationClient.GetPolicyManagementCertificates].
type GetPolicyManagementCertificatesOptions struct {
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// GetPolicyManagementCertificatesResponse is the result of
// [AdministrationClient.GetPolicyManagementCertificates].
type GetPolicyManagementCertificatesResponse struct {
	// Signers are the policy management certificates (x-ms-policy-certificates).
	Signers []Signer
	// Token is the service's validated response token.
	Token *Token
}

// GetPolicyManagementCertificates lists the certificates allowed to sign
// policies and certificate changes (GET /certificates). The list is empty on
// AAD-mode instances with none configured.
//
// It returns a *azcore.ResponseError for HTTP failures and a
// *TokenValidationError if the response token does not validate.
func (c *AdministrationClient) GetPolicyManagementCertificates(ctx context.Context, options *GetPolicyManagementCertificatesOptions) (_ GetPolicyManagementCertificatesResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "AdministrationClient.GetPolicyManagementCertificates")
	defer func() { endSpan(err) }()
	var o GetPolicyManagementCertificatesOptions
	if options != nil {
		o = *options
	}
	tok, _, err := c.b.doToken(ctx, http.MethodGet, "/certificates", nil, "", false, o.TokenValidation)
	if err != nil {
		return GetPolicyManagementCertificatesResponse{}, err
	}
	var body struct {
		Set *struct {
			Keys []json.RawMessage `json:"keys"`
		} `json:"x-ms-policy-certificates"`
	}
	if err := tok.UnmarshalClaims(&body); err != nil || body.Set == nil {
		return GetPolicyManagementCertificatesResponse{}, fmt.Errorf("azattest: %w: token has no x-ms-policy-certificates", ErrMalformedToken)
	}
	out := GetPolicyManagementCertificatesResponse{Token: tok, Signers: []Signer{}}
	for i, k := range body.Set.Keys {
		s, err := parseJWK(k)
		if err != nil {
			return GetPolicyManagementCertificatesResponse{}, fmt.Errorf("azattest: x-ms-policy-certificates key %d: %w", i, err)
		}
		out.Signers = append(out.Signers, s)
	}
	return out, nil
}

// AddPolicyManagementCertificateOptions are the optional parameters of
// [AdministrationClient.AddPolicyManagementCertificate].
type AddPolicyManagementCertificateOptions struct {
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// AddPolicyManagementCertificateResponse is the result of
// [AdministrationClient.AddPolicyManagementCertificate].
type AddPolicyManagementCertificateResponse struct {
	PolicyCertificatesModificationResult
	// Token is the service's validated response token.
	Token *Token
}

// AddPolicyManagementCertificate adds certificate to the policy management
// certificates (POST /certificates:add). The request is signed with
// signingKey, which must be a current policy management key.
//
// It returns a *azcore.ResponseError if the service rejects the change
// (e.g. 400 InvalidOperation on an AAD-mode instance), or an error if the
// key is unusable. As with [AdministrationClient.SetPolicy], a response
// token that does not validate gives the parsed result (the change was
// applied) together with a *[TokenValidationError].
func (c *AdministrationClient) AddPolicyManagementCertificate(ctx context.Context, certificate *x509.Certificate, signingKey SigningKey, options *AddPolicyManagementCertificateOptions) (_ AddPolicyManagementCertificateResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "AdministrationClient.AddPolicyManagementCertificate")
	defer func() { endSpan(err) }()
	var o AddPolicyManagementCertificateOptions
	if options != nil {
		o = *options
	}
	r, tok, err := c.modifyCertificate(ctx, "add", certificate, signingKey, o.TokenValidation)
	return AddPolicyManagementCertificateResponse{r, tok}, err
}

// RemovePolicyManagementCertificateOptions are the optional parameters of
// [AdministrationClient.RemovePolicyManagementCertificate].
type RemovePolicyManagementCertificateOptions struct {
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// RemovePolicyManagementCertificateResponse is the result of
// [AdministrationClient.RemovePolicyManagementCertificate].
type RemovePolicyManagementCertificateResponse struct {
	PolicyCertificatesModificationResult
	// Token is the service's validated response token.
	Token *Token
}

// RemovePolicyManagementCertificate removes certificate from the policy
// management certificates (POST /certificates:remove), signed with
// signingKey. The last certificate cannot be removed.
//
// Errors are as for [AdministrationClient.AddPolicyManagementCertificate].
func (c *AdministrationClient) RemovePolicyManagementCertificate(ctx context.Context, certificate *x509.Certificate, signingKey SigningKey, options *RemovePolicyManagementCertificateOptions) (_ RemovePolicyManagementCertificateResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "AdministrationClient.RemovePolicyManagementCertificate")
	defer func() { endSpan(err) }()
	var o RemovePolicyManagementCertificateOptions
	if options != nil {
		o = *options
	}
	r, tok, err := c.modifyCertificate(ctx, "remove", certificate, signingKey, o.TokenValidation)
	return RemovePolicyManagementCertificateResponse{r, tok}, err
}

func (c *AdministrationClient) modifyCertificate(ctx context.Context, op string, cert *x509.Certificate, key SigningKey, v *TokenValidationOptions) (PolicyCertificatesModificationResult, *Token, error) {
	jws, err := createCertificateToken(cert, key)
	if err != nil {
		return PolicyCertificatesModificationResult{}, nil, err
	}
	// ≤ 2022-08-01: the body is the JWS as a JSON string; 2025-06-01 wraps it.
	var body any = jws.String()
	if c.b.version >= ServiceVersion2025_06_01 {
		if op == "add" {
			body = struct {
				T string `json:"policyCertificateToAdd"`
			}{jws.String()}
		} else {
			body = struct {
				T string `json:"policyCertificateToRemove"`
			}{jws.String()}
		}
	}
	tok, _, verr := c.b.doToken(ctx, http.MethodPost, "/certificates:"+op, jsonBody{body}, "", false, v)
	if !appliedButUnvalidated(tok, verr) {
		return PolicyCertificatesModificationResult{}, nil, verr
	}
	var res struct {
		Thumbprint string `json:"x-ms-certificate-thumbprint"`
		Result     string `json:"x-ms-policycertificates-result"`
	}
	if err := tok.UnmarshalClaims(&res); err != nil {
		return PolicyCertificatesModificationResult{}, nil, errors.Join(verr, fmt.Errorf("azattest: certificate result: %w", err))
	}
	return PolicyCertificatesModificationResult{Thumbprint: res.Thumbprint, Result: CertificateModification(res.Result)}, tok, verr
}

// appliedButUnvalidated reports whether doToken's outcome is usable: no
// error, or a service answer (tok) whose only problem is validation.
func appliedButUnvalidated(tok *Token, err error) bool {
	if err == nil {
		return true
	}
	var ve *TokenValidationError
	return tok != nil && errors.As(err, &ve)
}

// IsAppliedButUnvalidated reports whether err, from a state-changing call
// (SetPolicy, ResetPolicy, Add/RemovePolicyManagementCertificate), means
// that the service answered 200 (it applied the change) but its response
// token did not validate. The response then holds the unvalidated result.
func IsAppliedButUnvalidated(err error) bool {
	var ve *TokenValidationError
	return errors.As(err, &ve)
}

// jsonBody forces JSON encoding of a value (a string becomes a JSON string
// literal rather than a text/plain body).
type jsonBody struct{ v any }

// MarshalJSON encodes the wrapped value.
func (j jsonBody) MarshalJSON() ([]byte, error) { return json.Marshal(j.v) }
