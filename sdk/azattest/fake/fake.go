// Package fake provides an in-process fake of the MAA data plane for users'
// own tests of code built on azattest, in the style of the Azure SDK for Go's
// fake packages: set the function fields of [Server] you need, pass
// [NewServerTransport] as ClientOptions.Transport, and the real clients
// (pipeline, encoding, token validation) run against it.
//
// Tokens are validated by the clients as usual, so responses must carry
// tokens signed by a key the fake serves from /certs: [TokenIssuer] makes
// both.
package fake

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/maat-attest/maat/sdk/azattest"
)

// Server is a fake MAA endpoint. Each field, if set, handles the matching
// client method; requests for unset fields fail with an error naming the
// method. The response value's Token (for methods returning tokens) is what
// goes on the wire; the client derives the typed fields from it.
type Server struct {
	AttestSGXEnclave  func(ctx context.Context, quote []byte, options *azattest.AttestSGXEnclaveOptions) (resp azfake.Responder[azattest.AttestSGXEnclaveResponse], errResp azfake.ErrorResponder)
	AttestOpenEnclave func(ctx context.Context, report []byte, options *azattest.AttestOpenEnclaveOptions) (resp azfake.Responder[azattest.AttestOpenEnclaveResponse], errResp azfake.ErrorResponder)
	AttestSEVSNPVM    func(ctx context.Context, report []byte, options *azattest.AttestSEVSNPVMOptions) (resp azfake.Responder[azattest.AttestSEVSNPVMResponse], errResp azfake.ErrorResponder)
	AttestTDXVM       func(ctx context.Context, quote []byte, options *azattest.AttestTDXVMOptions) (resp azfake.Responder[azattest.AttestTDXVMResponse], errResp azfake.ErrorResponder)
	AttestTPM         func(ctx context.Context, data []byte, options *azattest.AttestTPMOptions) (resp azfake.Responder[azattest.AttestTPMResponse], errResp azfake.ErrorResponder)
	AttestAzureGuest  func(ctx context.Context, attestationInfo string, options *azattest.AttestAzureGuestOptions) (resp azfake.Responder[azattest.AttestAzureGuestResponse], errResp azfake.ErrorResponder)
	GetSigners        func(ctx context.Context, options *azattest.GetSignersOptions) (resp azfake.Responder[azattest.GetSignersResponse], errResp azfake.ErrorResponder)
	GetOpenIDMetadata func(ctx context.Context, options *azattest.GetOpenIDMetadataOptions) (resp azfake.Responder[azattest.GetOpenIDMetadataResponse], errResp azfake.ErrorResponder)
	GetTCBBaselines   func(ctx context.Context, attestationType azattest.AttestationType, options *azattest.GetTCBBaselinesOptions) (resp azfake.Responder[azattest.GetTCBBaselinesResponse], errResp azfake.ErrorResponder)

	GetPolicy   func(ctx context.Context, attestationType azattest.AttestationType, options *azattest.GetPolicyOptions) (resp azfake.Responder[azattest.GetPolicyResponse], errResp azfake.ErrorResponder)
	SetPolicy   func(ctx context.Context, attestationType azattest.AttestationType, policy string, options *azattest.SetPolicyOptions) (resp azfake.Responder[azattest.SetPolicyResponse], errResp azfake.ErrorResponder)
	ResetPolicy func(ctx context.Context, attestationType azattest.AttestationType, options *azattest.ResetPolicyOptions) (resp azfake.Responder[azattest.ResetPolicyResponse], errResp azfake.ErrorResponder)

	GetPolicyManagementCertificates   func(ctx context.Context, options *azattest.GetPolicyManagementCertificatesOptions) (resp azfake.Responder[azattest.GetPolicyManagementCertificatesResponse], errResp azfake.ErrorResponder)
	AddPolicyManagementCertificate    func(ctx context.Context, certificate *x509.Certificate, signingKey azattest.SigningKey, options *azattest.AddPolicyManagementCertificateOptions) (resp azfake.Responder[azattest.AddPolicyManagementCertificateResponse], errResp azfake.ErrorResponder)
	RemovePolicyManagementCertificate func(ctx context.Context, certificate *x509.Certificate, signingKey azattest.SigningKey, options *azattest.RemovePolicyManagementCertificateOptions) (resp azfake.Responder[azattest.RemovePolicyManagementCertificateResponse], errResp azfake.ErrorResponder)
}

// ServerTransport is a policy.Transporter that serves requests from a
// [Server]. Note: the SigningKey passed to the certificate and policy
// handlers carries only the signer's Certificate (from the request's x5c).
type ServerTransport struct {
	srv *Server
}

// NewServerTransport returns a transport serving srv. Use it as
// azattest.ClientOptions.Transport.
func NewServerTransport(srv *Server) *ServerTransport { return &ServerTransport{srv: srv} }

var _ policy.Transporter = (*ServerTransport)(nil)

// Do implements policy.Transporter. It returns an error for requests it
// cannot route or decode, or whose handler field is nil.
func (s *ServerTransport) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	path := req.URL.Path
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
	}
	notImpl := func(m string) (*http.Response, error) {
		return nil, fmt.Errorf("fake for method %s not implemented", m)
	}
	switch {
	case req.Method == http.MethodGet && path == "/certs":
		if s.srv.GetSigners == nil {
			return notImpl("GetSigners")
		}
		r, e := s.srv.GetSigners(ctx, nil)
		return respond(req, r, e, func(v azattest.GetSignersResponse) (any, error) { return jwks(v.Signers), nil })
	case req.Method == http.MethodGet && path == "/.well-known/openid-configuration":
		if s.srv.GetOpenIDMetadata == nil {
			return notImpl("GetOpenIDMetadata")
		}
		r, e := s.srv.GetOpenIDMetadata(ctx, nil)
		return respond(req, r, e, func(v azattest.GetOpenIDMetadataResponse) (any, error) { return v.OpenIDMetadata, nil })
	case req.Method == http.MethodGet && strings.HasPrefix(path, "/tcbbaselines/"):
		if s.srv.GetTCBBaselines == nil {
			return notImpl("GetTCBBaselines")
		}
		r, e := s.srv.GetTCBBaselines(ctx, azattest.AttestationType(strings.TrimPrefix(path, "/tcbbaselines/")), nil)
		return respond(req, r, e, func(v azattest.GetTCBBaselinesResponse) (any, error) {
			type wire struct {
				TCBIdentifier            string    `json:"tcbIdentifier"`
				TCBEvaluationDataNumber  int64     `json:"tcbEvaluationDataNumber"`
				TCBReleaseDate           time.Time `json:"tcbReleaseDate"`
				MinimumPSWLinuxVersion   string    `json:"minimumPswLinuxVersion"`
				MinimumPSWWindowsVersion string    `json:"minimumPswWindowsVersion"`
				IsSelectedTCB            bool      `json:"isSelectedTcb"`
			}
			out := struct {
				B []wire `json:"tcbBaselines"`
			}{B: []wire{}}
			for _, b := range v.Baselines {
				out.B = append(out.B, wire(b))
			}
			return out, nil
		})
	case req.Method == http.MethodPost && strings.HasPrefix(path, "/attest/"):
		return s.attest(req, strings.TrimPrefix(path, "/attest/"), body)
	case strings.HasPrefix(path, "/policies/"):
		return s.policy(req, strings.TrimPrefix(path, "/policies/"), body)
	case req.Method == http.MethodGet && path == "/certificates":
		if s.srv.GetPolicyManagementCertificates == nil {
			return notImpl("GetPolicyManagementCertificates")
		}
		r, e := s.srv.GetPolicyManagementCertificates(ctx, nil)
		return respond(req, r, e, func(v azattest.GetPolicyManagementCertificatesResponse) (any, error) { return tokenBody(v.Token) })
	case req.Method == http.MethodPost && (path == "/certificates:add" || path == "/certificates:remove"):
		cert, key, err := decodeCertificateBody(body)
		if err != nil {
			return nil, err
		}
		if path == "/certificates:add" {
			if s.srv.AddPolicyManagementCertificate == nil {
				return notImpl("AddPolicyManagementCertificate")
			}
			r, e := s.srv.AddPolicyManagementCertificate(ctx, cert, key, nil)
			return respond(req, r, e, func(v azattest.AddPolicyManagementCertificateResponse) (any, error) { return tokenBody(v.Token) })
		}
		if s.srv.RemovePolicyManagementCertificate == nil {
			return notImpl("RemovePolicyManagementCertificate")
		}
		r, e := s.srv.RemovePolicyManagementCertificate(ctx, cert, key, nil)
		return respond(req, r, e, func(v azattest.RemovePolicyManagementCertificateResponse) (any, error) { return tokenBody(v.Token) })
	}
	return nil, fmt.Errorf("fake: unhandled %s %s", req.Method, path)
}

type attestBody struct {
	Quote        string  `json:"quote"`
	Report       string  `json:"report"`
	Data         string  `json:"data"`
	Info         string  `json:"attestationInfo"`
	RuntimeData  *data   `json:"runtimeData"`
	InitTimeData *data   `json:"initTimeData"`
	DraftPolicy  *string `json:"draftPolicyForAttestation"`
	Nonce        *string `json:"nonce"`
}

type data struct {
	Data     string            `json:"data"`
	DataType azattest.DataType `json:"dataType"`
}

func (d *data) decode() (*azattest.AttestationData, error) {
	if d == nil {
		return nil, nil
	}
	b, err := b64(d.Data)
	if err != nil {
		return nil, err
	}
	return &azattest.AttestationData{Data: b, DataType: d.DataType}, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (s *ServerTransport) attest(req *http.Request, typ string, body []byte) (*http.Response, error) {
	ctx := req.Context()
	var b attestBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("fake: attest body: %w", err)
	}
	rt, err := b.RuntimeData.decode()
	if err != nil {
		return nil, err
	}
	it, err := b.InitTimeData.decode()
	if err != nil {
		return nil, err
	}
	ev := b.Quote
	if ev == "" {
		ev = b.Report
	}
	evidence, err := b64(ev)
	if err != nil {
		return nil, err
	}
	toks := func(r azattest.AttestationResult) (any, error) { return tokenBody(r.Token) }
	switch strings.ToLower(typ) {
	case "sgxenclave":
		if s.srv.AttestSGXEnclave == nil {
			break
		}
		r, e := s.srv.AttestSGXEnclave(ctx, evidence, &azattest.AttestSGXEnclaveOptions{RuntimeData: rt, InitTimeData: it, DraftPolicyForAttestation: b.DraftPolicy, Nonce: b.Nonce})
		return respond(req, r, e, func(v azattest.AttestSGXEnclaveResponse) (any, error) { return toks(v.AttestationResult) })
	case "openenclave":
		if s.srv.AttestOpenEnclave == nil {
			break
		}
		r, e := s.srv.AttestOpenEnclave(ctx, evidence, &azattest.AttestOpenEnclaveOptions{RuntimeData: rt, InitTimeData: it, DraftPolicyForAttestation: b.DraftPolicy, Nonce: b.Nonce})
		return respond(req, r, e, func(v azattest.AttestOpenEnclaveResponse) (any, error) { return toks(v.AttestationResult) })
	case "sevsnpvm":
		if s.srv.AttestSEVSNPVM == nil {
			break
		}
		r, e := s.srv.AttestSEVSNPVM(ctx, evidence, &azattest.AttestSEVSNPVMOptions{RuntimeData: rt, InitTimeData: it, DraftPolicyForAttestation: b.DraftPolicy, Nonce: b.Nonce})
		return respond(req, r, e, func(v azattest.AttestSEVSNPVMResponse) (any, error) { return toks(v.AttestationResult) })
	case "tdxvm":
		if s.srv.AttestTDXVM == nil {
			break
		}
		r, e := s.srv.AttestTDXVM(ctx, evidence, &azattest.AttestTDXVMOptions{RuntimeData: rt, InitTimeData: it, Nonce: b.Nonce})
		return respond(req, r, e, func(v azattest.AttestTDXVMResponse) (any, error) { return toks(v.AttestationResult) })
	case "tpm":
		if s.srv.AttestTPM == nil {
			break
		}
		d, err := b64(b.Data)
		if err != nil {
			return nil, err
		}
		r, e := s.srv.AttestTPM(ctx, d, nil)
		return respond(req, r, e, func(v azattest.AttestTPMResponse) (any, error) {
			return map[string]string{"data": base64.RawURLEncoding.EncodeToString(v.Data)}, nil
		})
	case "azureguest":
		if s.srv.AttestAzureGuest == nil {
			break
		}
		r, e := s.srv.AttestAzureGuest(ctx, b.Info, nil)
		return respond(req, r, e, func(v azattest.AttestAzureGuestResponse) (any, error) {
			return map[string]string{"token": v.Token}, nil
		})
	default:
		return nil, fmt.Errorf("fake: unknown attestation type %q", typ)
	}
	return nil, fmt.Errorf("fake for attestation type %s not implemented", typ)
}

func (s *ServerTransport) policy(req *http.Request, rest string, body []byte) (*http.Response, error) {
	ctx := req.Context()
	switch {
	case req.Method == http.MethodGet:
		if s.srv.GetPolicy == nil {
			break
		}
		r, e := s.srv.GetPolicy(ctx, azattest.AttestationType(rest), nil)
		return respond(req, r, e, func(v azattest.GetPolicyResponse) (any, error) { return tokenBody(v.Token) })
	case req.Method == http.MethodPut:
		if s.srv.SetPolicy == nil {
			break
		}
		tok, err := azattest.ParseToken(string(body))
		if err != nil {
			return nil, fmt.Errorf("fake: policy body: %w", err)
		}
		var p struct {
			P string `json:"AttestationPolicy"`
		}
		if err := tok.UnmarshalClaims(&p); err != nil {
			return nil, fmt.Errorf("fake: policy body: %w", err)
		}
		text, err := b64(p.P)
		if err != nil {
			return nil, err
		}
		r, e := s.srv.SetPolicy(ctx, azattest.AttestationType(rest), string(text), &azattest.SetPolicyOptions{SigningKey: signerOf(tok)})
		return respond(req, r, e, func(v azattest.SetPolicyResponse) (any, error) { return tokenBody(v.Token) })
	case req.Method == http.MethodPost && strings.HasSuffix(rest, ":reset"):
		if s.srv.ResetPolicy == nil {
			break
		}
		tok, err := azattest.ParseToken(string(body))
		if err != nil {
			return nil, fmt.Errorf("fake: reset body: %w", err)
		}
		r, e := s.srv.ResetPolicy(ctx, azattest.AttestationType(strings.TrimSuffix(rest, ":reset")), &azattest.ResetPolicyOptions{SigningKey: signerOf(tok)})
		return respond(req, r, e, func(v azattest.ResetPolicyResponse) (any, error) { return tokenBody(v.Token) })
	default:
		return nil, fmt.Errorf("fake: unhandled %s /policies/%s", req.Method, rest)
	}
	return nil, fmt.Errorf("fake for policy method %s not implemented", req.Method)
}

func signerOf(tok *azattest.Token) *azattest.SigningKey {
	certs, err := tok.Header().Certificates()
	if err != nil || len(certs) == 0 {
		return nil
	}
	return &azattest.SigningKey{Certificate: certs[0]}
}

func decodeCertificateBody(body []byte) (*x509.Certificate, azattest.SigningKey, error) {
	var s string
	if err := json.Unmarshal(body, &s); err != nil {
		var obj map[string]string
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, azattest.SigningKey{}, fmt.Errorf("fake: certificate body: %w", err)
		}
		for _, v := range obj {
			s = v
		}
	}
	tok, err := azattest.ParseToken(s)
	if err != nil {
		return nil, azattest.SigningKey{}, err
	}
	var p struct {
		C struct {
			X5C []string `json:"x5c"`
		} `json:"policyCertificate"`
	}
	if err := tok.UnmarshalClaims(&p); err != nil || len(p.C.X5C) == 0 {
		return nil, azattest.SigningKey{}, errors.New("fake: certificate body has no policyCertificate")
	}
	der, err := base64.StdEncoding.DecodeString(p.C.X5C[0])
	if err != nil {
		return nil, azattest.SigningKey{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, azattest.SigningKey{}, err
	}
	var key azattest.SigningKey
	if k := signerOf(tok); k != nil {
		key = *k
	}
	return cert, key, nil
}

func tokenBody(t *azattest.Token) (any, error) {
	if t == nil {
		return nil, errors.New("fake: response has no Token")
	}
	return map[string]string{"token": t.String()}, nil
}

func respond[T any](req *http.Request, r azfake.Responder[T], e azfake.ErrorResponder, wire func(T) (any, error)) (*http.Response, error) {
	if err := server.GetError(e, req); err != nil {
		return nil, err
	}
	content := server.GetResponseContent(r)
	if content.HTTPStatus == 0 {
		return nil, errors.New("fake: no response set (call SetResponse or SetResponseError)")
	}
	v, err := wire(server.GetResponse(r))
	if err != nil {
		return nil, err
	}
	return server.MarshalResponseAsJSON(content, v, req)
}

func jwks(signers []azattest.Signer) any {
	type jwk struct {
		Kty string   `json:"kty"`
		Kid string   `json:"kid,omitempty"`
		X5C []string `json:"x5c,omitempty"`
		N   string   `json:"n,omitempty"`
		E   string   `json:"e,omitempty"`
	}
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, s := range signers {
		k := jwk{Kty: "RSA", Kid: s.KeyID}
		for _, c := range s.Certificates {
			k.X5C = append(k.X5C, base64.StdEncoding.EncodeToString(c.Raw))
		}
		if pk, ok := s.PublicKey.(*rsa.PublicKey); ok && len(k.X5C) == 0 {
			k.N = base64.RawURLEncoding.EncodeToString(pk.N.Bytes())
			k.E = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pk.E)).Bytes())
		}
		out.Keys = append(out.Keys, k)
	}
	return out
}

// TokenIssuer signs MAA-shaped tokens (RS256, kid, jku) with a fresh RSA key
// and self-signed certificate, and serves that key from /certs.
type TokenIssuer struct {
	issuer string
	key    *rsa.PrivateKey
	cert   *x509.Certificate
	kid    string
	now    func() time.Time
}

// NewTokenIssuer returns a TokenIssuer whose tokens carry iss = issuer
// (use the client's endpoint). now may be nil (time.Now). It returns an error
// if key generation fails.
func NewTokenIssuer(issuer string, now func() time.Time) (*TokenIssuer, error) {
	if now == nil {
		now = time.Now
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	t := now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: issuer},
		NotBefore: t.Add(-time.Hour), NotAfter: t.Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	h := sha256.Sum256(spki)
	return &TokenIssuer{issuer: strings.TrimSuffix(issuer, "/"), key: key, cert: cert, kid: base64.StdEncoding.EncodeToString(h[:]), now: now}, nil
}

// Signers returns the issuer's key as /certs would list it.
func (i *TokenIssuer) Signers() []azattest.Signer {
	return []azattest.Signer{{KeyID: i.kid, Certificates: []*x509.Certificate{i.cert}, PublicKey: &i.key.PublicKey}}
}

// GetSigners is a ready-made [Server.GetSigners] serving the issuer's key.
func (i *TokenIssuer) GetSigners(context.Context, *azattest.GetSignersOptions) (resp azfake.Responder[azattest.GetSignersResponse], errResp azfake.ErrorResponder) {
	resp.SetResponse(http.StatusOK, azattest.GetSignersResponse{Signers: i.Signers()}, nil)
	return
}

// Issue returns a signed token with claims plus iss, iat, nbf and exp (8 h)
// unless claims sets them. It returns an error if signing fails.
func (i *TokenIssuer) Issue(claims map[string]any) (*azattest.Token, error) {
	c := map[string]any{}
	now := i.now()
	c["iss"], c["iat"], c["nbf"], c["exp"] = i.issuer, now.Unix(), now.Unix(), now.Add(8*time.Hour).Unix()
	for k, v := range claims {
		c[k] = v
	}
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "jku": i.issuer + "/certs", "kid": i.kid, "typ": "JWT"})
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, d[:])
	if err != nil {
		return nil, err
	}
	return azattest.ParseToken(input + "." + enc.EncodeToString(sig))
}
