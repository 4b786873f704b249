package azattest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

// keyReleaseServer is a fake attestation service that binds JSON runtime data
// as MAA does: SHA-256 of the bytes must be report_data[0:32], and the token
// carries the parsed JSON (x-ms-runtime) and the report data.
func keyReleaseServer(reportData [64]byte) *fake.Server {
	return &fake.Server{
		GetSigners: exampleIssuer.GetSigners,
		AttestSGXEnclave: func(_ context.Context, _ []byte, o *azattest.AttestSGXEnclaveOptions) (resp azfake.Responder[azattest.AttestSGXEnclaveResponse], errResp azfake.ErrorResponder) {
			if rd := azattest.ReportData(o.RuntimeData.Data); rd != reportData {
				errResp.SetResponseError(http.StatusBadRequest, "InvalidParameter")
				return
			}
			var runtime any
			_ = json.Unmarshal(o.RuntimeData.Data, &runtime)
			resp.SetResponse(http.StatusOK, azattest.AttestSGXEnclaveResponse{AttestationResult: azattest.AttestationResult{Token: issue(map[string]any{
				"x-ms-attestation-type": "sgx", "x-ms-runtime": runtime, "x-ms-sgx-report-data": hex.EncodeToString(reportData[:]),
			})}}, nil)
			return
		},
	}
}

// The secure key release flow: the enclave attests with its ephemeral public
// key as runtime data, the relying party validates the token it is handed,
// takes the key out of it and wraps its secret to it, and only the enclave
// can open the result.
func ExampleExtractAttestedKey() {
	ctx := context.Background()

	// Enclave: an ephemeral key pair; its JWK Set is the runtime data, and
	// SHA-256 of it goes into the quote's report data.
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	enclaveKey, err := azattest.NewRuntimeKey(priv, "enclave-key-1")
	if err != nil {
		log.Fatal(err)
	}
	runtimeData, _ := enclaveKey.RuntimeData()
	quote := []byte("…SGX quote with ReportData(runtimeData) in report_data…")
	opts := &azattest.ClientOptions{}
	opts.Transport = fake.NewServerTransport(keyReleaseServer(azattest.ReportData(runtimeData)))
	client, _ := azattest.NewClient(exampleEndpoint, nil, opts)
	att, err := client.AttestSGXEnclave(ctx, quote, &azattest.AttestSGXEnclaveOptions{
		RuntimeData: &azattest.AttestationData{Data: runtimeData, DataType: azattest.DataTypeJSON},
	})
	if err != nil {
		log.Fatal(err)
	}
	tokenForRelyingParty := att.Token.String()

	// Relying party: validate the token with the attestation service's keys,
	// take out the attested key, wrap the secret to it.
	valid, err := client.ValidateToken(ctx, tokenForRelyingParty, nil)
	if err != nil {
		log.Fatal(err) // *azattest.TokenValidationError: expired, wrong issuer, alg none, …
	}
	key, err := azattest.ExtractAttestedKey(valid.Token, &azattest.AttestedKeyOptions{RuntimeData: runtimeData})
	if err != nil {
		log.Fatal(err) // ErrNoAttestedKey, ErrAttestedKeyUnbound, …
	}
	wrapped, err := key.WrapSecret([]byte("the database password"), nil)
	if err != nil {
		log.Fatal(err)
	}

	// Enclave: only the holder of the private key opens it.
	secret, err := enclaveKey.UnwrapSecret(wrapped)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Claim, key.KeyID, key.ReportDataChecked)
	fmt.Println(string(secret))
	// Output:
	// x-ms-runtime enclave-key-1 true
	// the database password
}
