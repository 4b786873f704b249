package azattest

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Client attests evidence and reads the service's public metadata. Create
// it with [NewClient]; it is safe for concurrent use.
type Client struct {
	b *base
}

// NewClient returns a Client for endpoint (e.g.
// "https://myinstance.wus.attest.azure.net", or "http://127.0.0.1:8080" for
// a local Maat server). cred may be nil: attestation and metadata calls need
// no credential. options may be nil.
//
// It returns an error if endpoint is not an http(s) URL, or if a credential
// would be sent over http without ClientOptions.InsecureAllowCredentialWithHTTP.
func NewClient(endpoint string, cred azcore.TokenCredential, options *ClientOptions) (*Client, error) {
	b, err := newBase(endpoint, cred, options)
	if err != nil {
		return nil, err
	}
	return &Client{b: b}, nil
}

// Endpoint returns the endpoint the client talks to.
func (c *Client) Endpoint() string { return c.b.endpoint }

type wireData struct {
	Data     string   `json:"data"`
	DataType DataType `json:"dataType,omitempty"`
}

func toWireData(d *AttestationData) *wireData {
	if d == nil {
		return nil
	}
	return &wireData{Data: base64.RawURLEncoding.EncodeToString(d.Data), DataType: d.DataType}
}

type attestRequest struct {
	Quote        string    `json:"quote,omitempty"`
	Report       string    `json:"report,omitempty"`
	RuntimeData  *wireData `json:"runtimeData,omitempty"`
	InitTimeData *wireData `json:"initTimeData,omitempty"`
	DraftPolicy  *string   `json:"draftPolicyForAttestation,omitempty"`
	Nonce        *string   `json:"nonce,omitempty"`
}

type attestParams struct {
	runtime, initTime *AttestationData
	draft, nonce      *string
	validation        *TokenValidationOptions
}

func (c *Client) attest(ctx context.Context, t AttestationType, evidenceField string, evidence []byte, p attestParams) (AttestationResult, error) {
	if len(evidence) == 0 {
		return AttestationResult{}, errors.New("azattest: evidence is empty")
	}
	req := attestRequest{
		RuntimeData:  toWireData(p.runtime),
		InitTimeData: toWireData(p.initTime),
		DraftPolicy:  p.draft,
		Nonce:        p.nonce,
	}
	enc := base64.RawURLEncoding.EncodeToString(evidence)
	if evidenceField == "quote" {
		req.Quote = enc
	} else {
		req.Report = enc
	}
	// A draft policy makes the service return an unsecured token: the caller
	// asked for exactly that, so only then is alg "none" accepted.
	tok, _, err := c.b.doToken(ctx, http.MethodPost, "/attest/"+string(t), req, "", p.draft != nil, p.validation)
	if err != nil {
		return AttestationResult{}, err
	}
	return newAttestationResult(tok), nil
}

// AttestSGXEnclaveOptions are the optional parameters of [Client.AttestSGXEnclave].
type AttestSGXEnclaveOptions struct {
	// RuntimeData is bound to the quote by its report data.
	RuntimeData *AttestationData
	// InitTimeData is bound to the quote by its config id (KSS).
	InitTimeData *AttestationData
	// DraftPolicyForAttestation is policy text evaluated instead of the
	// stored policy; the service then returns an unsecured (alg none) token,
	// which this call accepts (times and issuer are still checked).
	DraftPolicyForAttestation *string
	// Nonce is echoed in the token's nonce claim.
	Nonce *string
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// AttestSGXEnclaveResponse is the result of [Client.AttestSGXEnclave].
type AttestSGXEnclaveResponse struct {
	AttestationResult
}

// AttestSGXEnclave attests an Intel SGX DCAP quote (POST /attest/SgxEnclave)
// and returns the validated token's claims.
//
// It returns a *azcore.ResponseError if the service rejects the request
// (e.g. 400 with code PolicyEvaluationError or InvalidParameter), a
// *TokenValidationError if the token does not validate, or another error for
// transport failures.
func (c *Client) AttestSGXEnclave(ctx context.Context, quote []byte, options *AttestSGXEnclaveOptions) (_ AttestSGXEnclaveResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.AttestSGXEnclave")
	defer func() { endSpan(err) }()
	var o AttestSGXEnclaveOptions
	if options != nil {
		o = *options
	}
	r, err := c.attest(ctx, AttestationTypeSGXEnclave, "quote", quote, attestParams{o.RuntimeData, o.InitTimeData, o.DraftPolicyForAttestation, o.Nonce, o.TokenValidation})
	return AttestSGXEnclaveResponse{r}, err
}

// AttestOpenEnclaveOptions are the optional parameters of [Client.AttestOpenEnclave].
type AttestOpenEnclaveOptions struct {
	// RuntimeData is bound to the report by its report data.
	RuntimeData *AttestationData
	// InitTimeData is bound to the report by its config id.
	InitTimeData *AttestationData
	// DraftPolicyForAttestation: see [AttestSGXEnclaveOptions].
	DraftPolicyForAttestation *string
	// Nonce is echoed in the token's nonce claim.
	Nonce *string
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// AttestOpenEnclaveResponse is the result of [Client.AttestOpenEnclave].
type AttestOpenEnclaveResponse struct {
	AttestationResult
}

// AttestOpenEnclave attests an OpenEnclave report or evidence (POST
// /attest/OpenEnclave) and returns the validated token's claims.
//
// Errors are as for [Client.AttestSGXEnclave].
func (c *Client) AttestOpenEnclave(ctx context.Context, report []byte, options *AttestOpenEnclaveOptions) (_ AttestOpenEnclaveResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.AttestOpenEnclave")
	defer func() { endSpan(err) }()
	var o AttestOpenEnclaveOptions
	if options != nil {
		o = *options
	}
	r, err := c.attest(ctx, AttestationTypeOpenEnclave, "report", report, attestParams{o.RuntimeData, o.InitTimeData, o.DraftPolicyForAttestation, o.Nonce, o.TokenValidation})
	return AttestOpenEnclaveResponse{r}, err
}

// AttestSEVSNPVMOptions are the optional parameters of [Client.AttestSEVSNPVM].
type AttestSEVSNPVMOptions struct {
	// RuntimeData: SHA-256 of it must equal the SNP report data.
	RuntimeData *AttestationData
	// InitTimeData: SHA-256 of it must equal the SNP host data.
	InitTimeData *AttestationData
	// DraftPolicyForAttestation: see [AttestSGXEnclaveOptions].
	DraftPolicyForAttestation *string
	// Nonce is echoed in the token's nonce claim.
	Nonce *string
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// AttestSEVSNPVMResponse is the result of [Client.AttestSEVSNPVM].
type AttestSEVSNPVMResponse struct {
	AttestationResult
}

// AttestSEVSNPVM attests an AMD SEV-SNP VM (POST /attest/SevSnpVm). report is
// the evidence document as MAA expects it (in practice the UTF-8 JSON
// {"SnpReport": …, "VcekCertChain": …}); it is sent base64url-encoded. Needs
// ServiceVersion 2022-08-01 or later.
//
// Errors are as for [Client.AttestSGXEnclave].
func (c *Client) AttestSEVSNPVM(ctx context.Context, report []byte, options *AttestSEVSNPVMOptions) (_ AttestSEVSNPVMResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.AttestSEVSNPVM")
	defer func() { endSpan(err) }()
	var o AttestSEVSNPVMOptions
	if options != nil {
		o = *options
	}
	if err := c.b.requireVersion("AttestSEVSNPVM", ServiceVersion2022_08_01); err != nil {
		return AttestSEVSNPVMResponse{}, err
	}
	r, err := c.attest(ctx, AttestationTypeSEVSNPVM, "report", report, attestParams{o.RuntimeData, o.InitTimeData, o.DraftPolicyForAttestation, o.Nonce, o.TokenValidation})
	return AttestSEVSNPVMResponse{r}, err
}

// AttestTDXVMOptions are the optional parameters of [Client.AttestTDXVM].
type AttestTDXVMOptions struct {
	// RuntimeData is bound to the quote by its report data.
	RuntimeData *AttestationData
	// InitTimeData is bound to the quote by its MRCONFIGID.
	InitTimeData *AttestationData
	// Nonce is echoed in the token's nonce claim.
	Nonce *string
	// TokenValidation overrides the client's TokenValidation for this call.
	TokenValidation *TokenValidationOptions
}

// AttestTDXVMResponse is the result of [Client.AttestTDXVM].
type AttestTDXVMResponse struct {
	AttestationResult
}

// AttestTDXVM attests an Intel TDX quote (POST /attest/TdxVm). Needs
// ServiceVersion 2025-06-01.
//
// Errors are as for [Client.AttestSGXEnclave].
func (c *Client) AttestTDXVM(ctx context.Context, quote []byte, options *AttestTDXVMOptions) (_ AttestTDXVMResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.AttestTDXVM")
	defer func() { endSpan(err) }()
	var o AttestTDXVMOptions
	if options != nil {
		o = *options
	}
	if err := c.b.requireVersion("AttestTDXVM", ServiceVersion2025_06_01); err != nil {
		return AttestTDXVMResponse{}, err
	}
	r, err := c.attest(ctx, AttestationTypeTDXVM, "quote", quote, attestParams{o.RuntimeData, o.InitTimeData, nil, o.Nonce, o.TokenValidation})
	return AttestTDXVMResponse{r}, err
}

// AttestTPMOptions are the optional parameters of [Client.AttestTPM].
type AttestTPMOptions struct{}

// AttestTPMResponse is the result of [Client.AttestTPM].
type AttestTPMResponse struct {
	// Data is the service's protocol message (base64url-decoded "data").
	Data []byte
}

// AttestTPM sends one message of the TPM/VBS attestation protocol (POST
// /attest/Tpm): data is the raw protocol message (a UTF-8 JSON document),
// sent base64url-encoded; the reply is returned decoded but otherwise raw.
// Tokens inside the reply are not validated by this call.
//
// It returns a *azcore.ResponseError if the service rejects the message.
func (c *Client) AttestTPM(ctx context.Context, data []byte, options *AttestTPMOptions) (_ AttestTPMResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.AttestTPM")
	defer func() { endSpan(err) }()
	body, _, err := c.b.do(ctx, http.MethodPost, "/attest/Tpm", true, struct {
		Data string `json:"data"`
	}{base64.RawURLEncoding.EncodeToString(data)}, "")
	if err != nil {
		return AttestTPMResponse{}, err
	}
	var resp struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return AttestTPMResponse{}, fmt.Errorf("azattest: TPM response: %w", err)
	}
	out, err := decodeB64Any(resp.Data)
	if err != nil {
		return AttestTPMResponse{}, fmt.Errorf("azattest: TPM response data: %w", err)
	}
	return AttestTPMResponse{Data: out}, nil
}

// AttestAzureGuestOptions are the optional parameters of [Client.AttestAzureGuest].
type AttestAzureGuestOptions struct {
	// Decrypter, when set, unseals the answer with the EncKey the guest
	// sent (a TPM-backed crypto.Decrypter, or an *rsa.PrivateKey) and
	// validates the token inside: Result is then set.
	Decrypter crypto.Decrypter
	// TokenValidation overrides the client's TokenValidation for the
	// unsealed token.
	TokenValidation *TokenValidationOptions
}

// AttestAzureGuestResponse is the result of [Client.AttestAzureGuest].
type AttestAzureGuestResponse struct {
	// Token is the service's "sealed" token, raw.
	Token string
	// Result is the unsealed, validated token's claims; nil without
	// AttestAzureGuestOptions.Decrypter.
	Result *AttestationResult
}

// AttestAzureGuest sends Azure guest attestation info (POST
// /attest/AzureGuest) as produced by the guest attestation library, raw, and
// returns the raw sealed token; with options.Decrypter it also unseals it
// (UnsealAzureGuestToken) and validates the token inside. Needs
// ServiceVersion 2025-06-01.
//
// It returns a *azcore.ResponseError if the service rejects the request,
// and the unsealing or validation error.
func (c *Client) AttestAzureGuest(ctx context.Context, attestationInfo string, options *AttestAzureGuestOptions) (_ AttestAzureGuestResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.AttestAzureGuest")
	defer func() { endSpan(err) }()
	if err := c.b.requireVersion("AttestAzureGuest", ServiceVersion2025_06_01); err != nil {
		return AttestAzureGuestResponse{}, err
	}
	body, _, err := c.b.do(ctx, http.MethodPost, "/attest/AzureGuest", true, struct {
		Info string `json:"attestationInfo"`
	}{attestationInfo}, "")
	if err != nil {
		return AttestAzureGuestResponse{}, err
	}
	var resp struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return AttestAzureGuestResponse{}, fmt.Errorf("azattest: AzureGuest response: %w", err)
	}
	out := AttestAzureGuestResponse{Token: resp.Token}
	if options == nil || options.Decrypter == nil {
		return out, nil
	}
	jwt, err := UnsealAzureGuestToken(resp.Token, options.Decrypter)
	if err != nil {
		return out, err
	}
	v, err := c.ValidateToken(ctx, jwt, &ValidateTokenOptions{Validation: options.TokenValidation})
	if err != nil {
		return out, err
	}
	out.Result = &v.AttestationResult
	return out, nil
}

// GetSignersOptions are the optional parameters of [Client.GetSigners].
type GetSignersOptions struct{}

// GetSignersResponse is the result of [Client.GetSigners].
type GetSignersResponse struct {
	Signers []Signer
}

// GetSigners returns the keys the service signs tokens with (GET /certs),
// fresh from the service. Tokens are validated with these keys; this call
// does not change the client's cache.
//
// It returns a *azcore.ResponseError for HTTP failures and an error if the
// body is not a JWK Set with a usable key.
func (c *Client) GetSigners(ctx context.Context, options *GetSignersOptions) (_ GetSignersResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.GetSigners")
	defer func() { endSpan(err) }()
	s, err := c.b.fetchSigners(ctx)
	return GetSignersResponse{Signers: s}, err
}

// GetOpenIDMetadataOptions are the optional parameters of [Client.GetOpenIDMetadata].
type GetOpenIDMetadataOptions struct{}

// GetOpenIDMetadataResponse is the result of [Client.GetOpenIDMetadata].
type GetOpenIDMetadataResponse struct {
	OpenIDMetadata
}

// GetOpenIDMetadata returns the service's OpenID discovery document (GET
// /.well-known/openid-configuration).
//
// It returns a *azcore.ResponseError for HTTP failures and an error if the
// body is not a JSON object.
func (c *Client) GetOpenIDMetadata(ctx context.Context, options *GetOpenIDMetadataOptions) (_ GetOpenIDMetadataResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.GetOpenIDMetadata")
	defer func() { endSpan(err) }()
	body, _, err := c.b.do(ctx, http.MethodGet, "/.well-known/openid-configuration", c.b.version >= ServiceVersion2025_06_01, nil, "")
	if err != nil {
		return GetOpenIDMetadataResponse{}, err
	}
	var m OpenIDMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		return GetOpenIDMetadataResponse{}, fmt.Errorf("azattest: OpenID metadata: %w", err)
	}
	if err := json.Unmarshal(body, &m.Raw); err != nil {
		return GetOpenIDMetadataResponse{}, fmt.Errorf("azattest: OpenID metadata: %w", err)
	}
	return GetOpenIDMetadataResponse{m}, nil
}

// GetTCBBaselinesOptions are the optional parameters of [Client.GetTCBBaselines].
type GetTCBBaselinesOptions struct{}

// GetTCBBaselinesResponse is the result of [Client.GetTCBBaselines].
type GetTCBBaselinesResponse struct {
	Baselines []TCBBaseline
}

// GetTCBBaselines lists the TCB baselines the service offers for an
// attestation type (GET /tcbbaselines/{type}). Needs ServiceVersion
// 2025-06-01.
//
// It returns a *azcore.ResponseError for HTTP failures and an error if the
// body is malformed.
func (c *Client) GetTCBBaselines(ctx context.Context, attestationType AttestationType, options *GetTCBBaselinesOptions) (_ GetTCBBaselinesResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.GetTCBBaselines")
	defer func() { endSpan(err) }()
	if err := c.b.requireVersion("GetTCBBaselines", ServiceVersion2025_06_01); err != nil {
		return GetTCBBaselinesResponse{}, err
	}
	body, _, err := c.b.do(ctx, http.MethodGet, "/tcbbaselines/"+url.PathEscape(string(attestationType)), true, nil, "")
	if err != nil {
		return GetTCBBaselinesResponse{}, err
	}
	var wire struct {
		TCBBaselines []struct {
			TCBIdentifier            string          `json:"tcbIdentifier"`
			TCBEvaluationDataNumber  json.RawMessage `json:"tcbEvaluationDataNumber"`
			TCBReleaseDate           string          `json:"tcbReleaseDate"`
			MinimumPSWLinuxVersion   string          `json:"minimumPswLinuxVersion"`
			MinimumPSWWindowsVersion string          `json:"minimumPswWindowsVersion"`
			IsSelectedTCB            bool            `json:"isSelectedTcb"`
		} `json:"tcbBaselines"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return GetTCBBaselinesResponse{}, fmt.Errorf("azattest: TCB baselines: %w", err)
	}
	var out GetTCBBaselinesResponse
	for _, w := range wire.TCBBaselines {
		b := TCBBaseline{TCBIdentifier: w.TCBIdentifier, MinimumPSWLinuxVersion: w.MinimumPSWLinuxVersion,
			MinimumPSWWindowsVersion: w.MinimumPSWWindowsVersion, IsSelectedTCB: w.IsSelectedTCB}
		// 2022-09-01-preview sends the number as a string.
		var n json.Number
		var s string
		if json.Unmarshal(w.TCBEvaluationDataNumber, &n) == nil {
			b.TCBEvaluationDataNumber, _ = n.Int64()
		} else if json.Unmarshal(w.TCBEvaluationDataNumber, &s) == nil {
			b.TCBEvaluationDataNumber, _ = json.Number(s).Int64()
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, w.TCBReleaseDate); err == nil {
				b.TCBReleaseDate = t
				break
			}
		}
		out.Baselines = append(out.Baselines, b)
	}
	return out, nil
}

func decodeB64Any(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}
