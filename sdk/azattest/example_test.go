package azattest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

// The examples run against the fake package, so they are self-contained; in
// an application, pass a real endpoint and credential (e.g. from azidentity)
// and leave ClientOptions.Transport unset.

const exampleEndpoint = "https://myinstance.wus.attest.azure.net"

var exampleIssuer = func() *fake.TokenIssuer {
	i, err := fake.NewTokenIssuer(exampleEndpoint, nil)
	if err != nil {
		panic(err)
	}
	return i
}()

func issue(claims map[string]any) *azattest.Token {
	t, err := exampleIssuer.Issue(claims)
	if err != nil {
		panic(err)
	}
	return t
}

// exampleServer is a fake MAA instance answering every operation.
func exampleServer() *fake.Server {
	var policyToken string = "eyJhbGciOiJub25lIn0.."
	attested := func(opts *azattest.AttestationData, nonce *string) map[string]any {
		c := map[string]any{"x-ms-attestation-type": "sgx", "x-ms-ver": "1.0", "x-ms-sgx-is-debuggable": false,
			"x-ms-sgx-mrenclave": strings.Repeat("ab", 32), "x-ms-sgx-mrsigner": strings.Repeat("cd", 32), "x-ms-sgx-product-id": 1, "x-ms-sgx-svn": 2}
		if opts != nil && opts.DataType == azattest.DataTypeBinary {
			c["x-ms-sgx-ehd"] = base64.RawURLEncoding.EncodeToString(opts.Data)
		}
		if nonce != nil {
			c["nonce"] = *nonce
		}
		return c
	}
	ok := func(v azattest.AttestationResult) azattest.AttestationResult { return v }
	return &fake.Server{
		GetSigners: exampleIssuer.GetSigners,
		AttestSGXEnclave: func(_ context.Context, _ []byte, o *azattest.AttestSGXEnclaveOptions) (resp azfake.Responder[azattest.AttestSGXEnclaveResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AttestSGXEnclaveResponse{AttestationResult: ok(azattest.AttestationResult{Token: issue(attested(o.RuntimeData, o.Nonce))})}, nil)
			return
		},
		AttestOpenEnclave: func(_ context.Context, _ []byte, o *azattest.AttestOpenEnclaveOptions) (resp azfake.Responder[azattest.AttestOpenEnclaveResponse], errResp azfake.ErrorResponder) {
			if o.DraftPolicyForAttestation != nil {
				errResp.SetResponseError(http.StatusBadRequest, "PolicyEvaluationError")
				return
			}
			resp.SetResponse(http.StatusOK, azattest.AttestOpenEnclaveResponse{AttestationResult: azattest.AttestationResult{Token: issue(attested(o.RuntimeData, o.Nonce))}}, nil)
			return
		},
		AttestSEVSNPVM: func(context.Context, []byte, *azattest.AttestSEVSNPVMOptions) (resp azfake.Responder[azattest.AttestSEVSNPVMResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AttestSEVSNPVMResponse{AttestationResult: azattest.AttestationResult{Token: issue(map[string]any{
				"x-ms-attestation-type": "sevsnpvm", "x-ms-sevsnpvm-is-debuggable": false, "x-ms-sevsnpvm-launchmeasurement": "02c3b0d5"})}}, nil)
			return
		},
		AttestTDXVM: func(context.Context, []byte, *azattest.AttestTDXVMOptions) (resp azfake.Responder[azattest.AttestTDXVMResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AttestTDXVMResponse{AttestationResult: azattest.AttestationResult{Token: issue(map[string]any{
				"x-ms-attestation-type": "tdxvm", "tdx_td_attributes_debug": false, "attester_tcb_status": "UpToDate"})}}, nil)
			return
		},
		AttestTPM: func(_ context.Context, data []byte, _ *azattest.AttestTPMOptions) (resp azfake.Responder[azattest.AttestTPMResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AttestTPMResponse{Data: []byte(`{"payload":{"challenge":"c2VjcmV0","service_context":"Y3R4"}}`)}, nil)
			return
		},
		AttestAzureGuest: func(context.Context, string, *azattest.AttestAzureGuestOptions) (resp azfake.Responder[azattest.AttestAzureGuestResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AttestAzureGuestResponse{Token: "sealed-token"}, nil)
			return
		},
		GetOpenIDMetadata: func(context.Context, *azattest.GetOpenIDMetadataOptions) (resp azfake.Responder[azattest.GetOpenIDMetadataResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.GetOpenIDMetadataResponse{OpenIDMetadata: azattest.OpenIDMetadata{
				Issuer: exampleEndpoint, JWKSURI: exampleEndpoint + "/certs", IDTokenSigningAlgValuesSupported: []string{"RS256"}}}, nil)
			return
		},
		GetTCBBaselines: func(context.Context, azattest.AttestationType, *azattest.GetTCBBaselinesOptions) (resp azfake.Responder[azattest.GetTCBBaselinesResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.GetTCBBaselinesResponse{Baselines: []azattest.TCBBaseline{
				{TCBIdentifier: "11", TCBEvaluationDataNumber: 11, TCBReleaseDate: time.Date(2021, 6, 9, 0, 0, 0, 0, time.UTC), IsSelectedTCB: true}}}, nil)
			return
		},
		GetPolicy: func(context.Context, azattest.AttestationType, *azattest.GetPolicyOptions) (resp azfake.Responder[azattest.GetPolicyResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.GetPolicyResponse{Token: issue(map[string]any{"x-ms-policy": policyToken})}, nil)
			return
		},
		SetPolicy: func(_ context.Context, _ azattest.AttestationType, policy string, o *azattest.SetPolicyOptions) (resp azfake.Responder[azattest.SetPolicyResponse], errResp azfake.ErrorResponder) {
			t, _ := azattest.CreatePolicyToken(policy, nil)
			claims := map[string]any{"x-ms-policy-result": "Updated"}
			if o.SigningKey == nil { // the fake can only recompute the hash of unsigned policies
				claims["x-ms-policy-token-hash"] = base64.RawURLEncoding.EncodeToString(azattest.PolicyTokenHash(t.String()))
				policyToken = t.String()
			}
			resp.SetResponse(http.StatusOK, azattest.SetPolicyResponse{Token: issue(claims)}, nil)
			return
		},
		ResetPolicy: func(context.Context, azattest.AttestationType, *azattest.ResetPolicyOptions) (resp azfake.Responder[azattest.ResetPolicyResponse], errResp azfake.ErrorResponder) {
			policyToken = "eyJhbGciOiJub25lIn0.."
			resp.SetResponse(http.StatusOK, azattest.ResetPolicyResponse{Token: issue(map[string]any{"x-ms-policy-result": "Removed"})}, nil)
			return
		},
		GetPolicyManagementCertificates: func(context.Context, *azattest.GetPolicyManagementCertificatesOptions) (resp azfake.Responder[azattest.GetPolicyManagementCertificatesResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.GetPolicyManagementCertificatesResponse{Token: issue(map[string]any{"x-ms-policy-certificates": map[string]any{"keys": []any{}}})}, nil)
			return
		},
		AddPolicyManagementCertificate: func(_ context.Context, c *x509.Certificate, _ azattest.SigningKey, _ *azattest.AddPolicyManagementCertificateOptions) (resp azfake.Responder[azattest.AddPolicyManagementCertificateResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AddPolicyManagementCertificateResponse{Token: issue(map[string]any{
				"x-ms-certificate-thumbprint": thumbprint(c), "x-ms-policycertificates-result": "IsPresent"})}, nil)
			return
		},
		RemovePolicyManagementCertificate: func(_ context.Context, c *x509.Certificate, _ azattest.SigningKey, _ *azattest.RemovePolicyManagementCertificateOptions) (resp azfake.Responder[azattest.RemovePolicyManagementCertificateResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.RemovePolicyManagementCertificateResponse{Token: issue(map[string]any{
				"x-ms-certificate-thumbprint": thumbprint(c), "x-ms-policycertificates-result": "IsAbsent"})}, nil)
			return
		},
	}
}

func thumbprint(c *x509.Certificate) string {
	h := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

func exampleOptions(v azattest.ServiceVersion) *azattest.ClientOptions {
	o := &azattest.ClientOptions{ServiceVersion: v}
	o.Transport = fake.NewServerTransport(exampleServer())
	return o
}

func exampleClient() *azattest.Client {
	c, err := azattest.NewClient(exampleEndpoint, nil, exampleOptions(azattest.ServiceVersion2025_06_01))
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func exampleAdminClient() *azattest.AdministrationClient {
	// In an application: cred, err := azidentity.NewDefaultAzureCredential(nil)
	c, err := azattest.NewAdministrationClient(exampleEndpoint, nil, exampleOptions(""))
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// exampleSigningKey is a policy signing key and its self-signed certificate.
func exampleSigningKey() azattest.SigningKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	c, _ := x509.ParseCertificate(der)
	return azattest.SigningKey{Signer: k, Certificate: c}
}

func ExampleNewClient() {
	// Attestation needs no credential. For a local Maat server over plain
	// http, use "http://127.0.0.1:8080" (and no credential, or set
	// ClientOptions.InsecureAllowCredentialWithHTTP).
	client, err := azattest.NewClient("https://myinstance.wus.attest.azure.net", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Endpoint())
	// Output: https://myinstance.wus.attest.azure.net
}

func ExampleNewAdministrationClient() {
	// cred, err := azidentity.NewDefaultAzureCredential(nil)
	var cred azcore.TokenCredential = &azfake.TokenCredential{}
	client, err := azattest.NewAdministrationClient("https://myinstance.wus.attest.azure.net", cred, &azattest.ClientOptions{
		ServiceVersion: azattest.ServiceVersion2022_08_01,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Endpoint())
	// Output: https://myinstance.wus.attest.azure.net
}

func ExampleClient_AttestSGXEnclave() {
	quote := []byte("…SGX DCAP quote…")
	runtimeData := []byte("public key the enclave bound into its report data")
	nonce := "n-123"
	res, err := exampleClient().AttestSGXEnclave(context.Background(), quote, &azattest.AttestSGXEnclaveOptions{
		RuntimeData: &azattest.AttestationData{Data: runtimeData, DataType: azattest.DataTypeBinary},
		Nonce:       &nonce,
	})
	if err != nil {
		log.Fatal(err) // *azcore.ResponseError, *azattest.TokenValidationError, …
	}
	fmt.Println(*res.AttestationType, *res.SGXIsDebuggable, *res.SGXProductID, *res.SGXSVN, *res.Nonce)
	fmt.Println(string(res.EnclaveHeldData))
	// Output:
	// sgx false 1 2 n-123
	// public key the enclave bound into its report data
}

func ExampleClient_AttestOpenEnclave() {
	report := []byte("…OpenEnclave report…")
	res, err := exampleClient().AttestOpenEnclave(context.Background(), report, &azattest.AttestOpenEnclaveOptions{
		RuntimeData: &azattest.AttestationData{Data: []byte(`{"jwk":{"kty":"EC"}}`), DataType: azattest.DataTypeJSON},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*res.SGXMrEnclave == strings.Repeat("ab", 32))

	// A draft policy that denies: the service answers 400.
	draft := "version=1.0; authorizationrules{=> deny();}; issuancerules{};"
	_, err = exampleClient().AttestOpenEnclave(context.Background(), report, &azattest.AttestOpenEnclaveOptions{DraftPolicyForAttestation: &draft})
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.ErrorCode)
	}
	// Output:
	// true
	// 400 PolicyEvaluationError
}

func ExampleClient_AttestSEVSNPVM() {
	evidence := []byte(`{"SnpReport":"…","VcekCertChain":"…"}`)
	res, err := exampleClient().AttestSEVSNPVM(context.Background(), evidence, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*res.AttestationType, *res.SEVSNPIsDebuggable, *res.SEVSNPLaunchMeasurement)
	// Output: sevsnpvm false 02c3b0d5
}

func ExampleClient_AttestTDXVM() {
	res, err := exampleClient().AttestTDXVM(context.Background(), []byte("…TDX quote…"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*res.AttestationType, *res.TDXTDAttributesDebug, *res.AttesterTCBStatus)
	// Output: tdxvm false UpToDate
}

func ExampleClient_AttestTPM() {
	res, err := exampleClient().AttestTPM(context.Background(), []byte(`{"payload": { "type": "aikcert" } }`), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(res.Data))
	// Output: {"payload":{"challenge":"c2VjcmV0","service_context":"Y3R4"}}
}

func ExampleClient_AttestAzureGuest() {
	res, err := exampleClient().AttestAzureGuest(context.Background(), "…attestation info from the guest library…", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Token)
	// Output: sealed-token
}

func ExampleClient_GetSigners() {
	res, err := exampleClient().GetSigners(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range res.Signers {
		fmt.Println(s.KeyID != "", len(s.Certificates))
	}
	// Output: true 1
}

func ExampleClient_GetOpenIDMetadata() {
	res, err := exampleClient().GetOpenIDMetadata(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.JWKSURI, res.IDTokenSigningAlgValuesSupported)
	// Output: https://myinstance.wus.attest.azure.net/certs [RS256]
}

func ExampleClient_GetTCBBaselines() {
	res, err := exampleClient().GetTCBBaselines(context.Background(), azattest.AttestationTypeSGXEnclave, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range res.Baselines {
		fmt.Println(b.TCBIdentifier, b.TCBReleaseDate.Format(time.DateOnly), b.IsSelectedTCB)
	}
	// Output: 11 2021-06-09 true
}

func ExampleAdministrationClient_GetPolicy() {
	res, err := exampleAdminClient().GetPolicy(context.Background(), azattest.AttestationTypeTPM, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q %v\n", res.Policy, res.PolicyToken.Unsecured())
	// Output: "" true
}

func ExampleAdministrationClient_SetPolicy() {
	admin := exampleAdminClient()
	policy := "version=1.0; authorizationrules{=> permit();}; issuancerules{};"
	res, err := admin.SetPolicy(context.Background(), azattest.AttestationTypeSGXEnclave, policy, nil)
	if err != nil {
		log.Fatal(err)
	}
	// SetPolicy already checked the hash; here is how to do it by hand.
	sent, _ := azattest.CreatePolicyToken(policy, nil)
	fmt.Println(res.Result, string(res.TokenHash) == string(azattest.PolicyTokenHash(sent.String())))
	got, _ := admin.GetPolicy(context.Background(), azattest.AttestationTypeSGXEnclave, nil)
	fmt.Println(got.Policy == policy)
	// Output:
	// Updated true
	// true
}

func ExampleAdministrationClient_ResetPolicy() {
	res, err := exampleAdminClient().ResetPolicy(context.Background(), azattest.AttestationTypeSGXEnclave, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Result)
	// Output: Removed
}

func ExampleAdministrationClient_GetPolicyManagementCertificates() {
	res, err := exampleAdminClient().GetPolicyManagementCertificates(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Signers))
	// Output: 0
}

func ExampleAdministrationClient_AddPolicyManagementCertificate() {
	managementKey := exampleSigningKey() // a current policy management key
	newCert := exampleSigningKey().Certificate
	res, err := exampleAdminClient().AddPolicyManagementCertificate(context.Background(), newCert, managementKey, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Result, res.Thumbprint == thumbprint(newCert))
	// Output: IsPresent true
}

func ExampleAdministrationClient_RemovePolicyManagementCertificate() {
	managementKey := exampleSigningKey()
	oldCert := exampleSigningKey().Certificate
	res, err := exampleAdminClient().RemovePolicyManagementCertificate(context.Background(), oldCert, managementKey, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Result)
	// Output: IsAbsent
}

func ExampleCreatePolicyToken() {
	unsigned, err := azattest.CreatePolicyToken("version=1.0; authorizationrules{=> permit();}; issuancerules{};", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(unsigned.String())
	key := exampleSigningKey()
	signed, err := azattest.CreatePolicyToken("version=1.0; authorizationrules{=> permit();}; issuancerules{};", &key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(signed.Header().Algorithm, len(signed.Header().X509CertChain))
	// Output:
	// eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ImRtVnljMmx2YmoweExqQTdJR0YxZEdodmNtbDZZWFJwYjI1eWRXeGxjM3M5UGlCd1pYSnRhWFFvS1R0OU95QnBjM04xWVc1alpYSjFiR1Z6ZTMwNyJ9.
	// ES256 1
}

func ExamplePolicyTokenHash() {
	// x-ms-policy-token-hash recorded from MAA for an unsigned policy set.
	jws := "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ImRtVnljMmx2YmoweExqQTdJR0YxZEdodmNtbDZZWFJwYjI1eWRXeGxjM3M5UGlCd1pYSnRhWFFvS1R0OU95QnBjM04xWVc1alpYSjFiR1Z6ZTMwNyJ9."
	fmt.Println(base64.RawURLEncoding.EncodeToString(azattest.PolicyTokenHash(jws)))
	// Output: c6sEJQItV50OeP9IrP_bzywAMOVvj5uDPbklA_bwdYQ
}

func ExampleParseToken() {
	tok, err := azattest.ParseToken("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL3guZXhhbXBsZSIsImV4cCI6MX0.")
	if err != nil {
		log.Fatal(err) // wraps azattest.ErrMalformedToken
	}
	fmt.Println(tok.Header().Algorithm, tok.Claims().Issuer, tok.Claims().ExpiresAt.Unix(), tok.Unsecured())
	// Output: none https://x.example 1 true
}

func ExampleToken_Validate() {
	// Validate a token offline against a JWKS fetched from the issuing
	// instance's /certs (never from the token's own jku/x5c/jwk).
	tok := issue(map[string]any{"x-ms-attestation-type": "sgx"})
	signers := exampleIssuer.Signers()
	_, err := tok.Validate(signers, &azattest.TokenValidationOptions{
		ExpectedIssuer: exampleEndpoint,
		TimeSlack:      30 * time.Second,
	})
	fmt.Println(err)
	_, err = tok.Validate(signers, &azattest.TokenValidationOptions{ExpectedIssuer: "https://other.attest.azure.net"})
	fmt.Println(errors.Is(err, azattest.ErrIssuerMismatch))
	// Output:
	// <nil>
	// true
}

func ExampleParseSigners() {
	signers, err := azattest.ParseSigners([]byte(`{"keys":[{"kty":"RSA","kid":"k1","n":"` +
		base64.RawURLEncoding.EncodeToString(big.NewInt(0).Lsh(big.NewInt(1), 2047).Bytes()) + `","e":"AQAB"}]}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(signers), signers[0].KeyID)
	// Output: 1 k1
}
