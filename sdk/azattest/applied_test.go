package azattest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

// A 200 answer whose token does not validate (here: signed by a key /certs
// does not list) means the service applied the change: SetPolicy returns
// the parsed result with a typed validation error.
func TestSetPolicyAppliedButUnvalidated(t *testing.T) {
	signer := newIssuer(t) // signs the response
	other := newIssuer(t)  // what /certs serves
	tok, err := signer.Issue(map[string]any{"x-ms-policy-result": "Updated"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &fake.Server{
		GetSigners: other.GetSigners,
		SetPolicy: func(context.Context, azattest.AttestationType, string, *azattest.SetPolicyOptions) (resp azfake.Responder[azattest.SetPolicyResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.SetPolicyResponse{Token: tok}, nil)
			return
		},
	}
	o := &azattest.ClientOptions{}
	o.Transport = fake.NewServerTransport(srv)
	o.Retry.MaxRetries = -1
	admin, err := azattest.NewAdministrationClient(endpoint, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := admin.SetPolicy(context.Background(), azattest.AttestationTypeSGXEnclave, "version=1.0; authorizationrules{=>permit();}; issuancerules{};", nil)
	var ve *azattest.TokenValidationError
	if !errors.As(err, &ve) || !errors.Is(err, azattest.ErrSignatureInvalid) && !errors.Is(err, azattest.ErrNoSigners) || !azattest.IsAppliedButUnvalidated(err) {
		t.Fatalf("want a signature validation error, got %v", err)
	}
	if res.Result != azattest.PolicyModificationUpdated || res.Token == nil {
		t.Fatalf("result %+v: want the parsed Updated result", res)
	}

	// A service error is not "applied".
	srv.SetPolicy = func(context.Context, azattest.AttestationType, string, *azattest.SetPolicyOptions) (resp azfake.Responder[azattest.SetPolicyResponse], errResp azfake.ErrorResponder) {
		errResp.SetResponseError(http.StatusBadRequest, "PolicyParsingError")
		return
	}
	if _, err := admin.SetPolicy(context.Background(), azattest.AttestationTypeSGXEnclave, "x", nil); err == nil || azattest.IsAppliedButUnvalidated(err) {
		t.Fatalf("service error reported as applied: %v", err)
	}
}
