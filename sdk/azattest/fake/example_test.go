package fake_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

func ExampleNewServerTransport() {
	const endpoint = "https://myinstance.wus.attest.azure.net"
	issuer, err := fake.NewTokenIssuer(endpoint, nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fake.Server{
		GetSigners: issuer.GetSigners, // the clients validate tokens against /certs
		AttestSGXEnclave: func(ctx context.Context, quote []byte, o *azattest.AttestSGXEnclaveOptions) (resp azfake.Responder[azattest.AttestSGXEnclaveResponse], errResp azfake.ErrorResponder) {
			if len(quote) == 0 {
				errResp.SetResponseError(http.StatusBadRequest, "InvalidParameter")
				return
			}
			tok, err := issuer.Issue(map[string]any{"x-ms-sgx-mrenclave": "00ff", "x-ms-attestation-type": "sgx"})
			if err != nil {
				errResp.SetError(err)
				return
			}
			resp.SetResponse(http.StatusOK, azattest.AttestSGXEnclaveResponse{AttestationResult: azattest.AttestationResult{Token: tok}}, nil)
			return
		},
	}
	opts := &azattest.ClientOptions{}
	opts.Transport = fake.NewServerTransport(srv)
	client, err := azattest.NewClient(endpoint, nil, opts)
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.AttestSGXEnclave(context.Background(), []byte("quote"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*res.SGXMrEnclave, *res.AttestationType)
	// Output: 00ff sgx
}
