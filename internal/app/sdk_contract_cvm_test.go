package app

import (
	"context"
	"strings"
	"testing"

	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
	"github.com/maat-attest/maat/sdk/azattest"
)

// plainSDKClient is an SDK client for a local server over http (the SDK
// README's recipe), validating against the server's issuer and dev clock.
func plainSDKClient(t *testing.T, r *running) *azattest.Client {
	t.Helper()
	o := &azattest.ClientOptions{
		ServiceVersion:  azattest.ServiceVersion2025_06_01,
		TokenValidation: azattest.TokenValidationOptions{ExpectedIssuer: r.app.Issuer(), Now: r.app.now},
	}
	o.Retry = azpolicy.RetryOptions{MaxRetries: -1}
	c, err := azattest.NewClient("http://"+r.app.HTTPAddr(), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSDKContractTdxVm: the SDK's AttestTDXVM against the real server with
// the Azure DCesv5 quote and the runtime data of its HCL report: a
// validated token with MAA's TDX EAT-profile claims and x-ms-runtime.
func TestSDKContractTdxVm(t *testing.T) {
	r := start(t, tdxConfig(t, "azure_dcesv5", "2025-06-01T00:00:00Z"))
	c := plainSDKClient(t, r)
	quote := tdxvectors.MustRead("azure_dcesv5", "quote.bin")
	rd := hclRuntimeData(t, tdxvectors.MustRead("azure_dcesv5", "hcl-report.bin"))
	nonce := "sdk-tdx"
	res, err := c.AttestTDXVM(context.Background(), quote, &azattest.AttestTDXVMOptions{
		RuntimeData: &azattest.AttestationData{Data: rd, DataType: azattest.DataTypeJSON}, Nonce: &nonce,
	})
	if err != nil {
		t.Fatal(err)
	}
	claims := res.Token.RawClaims()
	if claims["x-ms-attestation-type"] != "tdxvm" || claims["attester_tcb_status"] != "OutOfDate" || claims["eat_profile"] == nil || claims["tdx_mrtd"] == nil {
		t.Fatalf("claims %v", claims)
	}
	if res.Nonce == nil || *res.Nonce != nonce || res.RuntimeClaims == nil {
		t.Fatalf("nonce %v, x-ms-runtime %v", res.Nonce, res.RuntimeClaims)
	}
	// A quote with one flipped byte in its signed region is refused.
	bad := append([]byte(nil), quote...)
	bad[100] ^= 1
	if _, err := c.AttestTDXVM(context.Background(), bad, nil); err == nil {
		t.Fatal("tampered quote attested")
	}
}

// TestSDKContractTCBBaselines: the SDK's GetTCBBaselines and `maat tcb
// baselines` against the real server (Intel's signed evaluation numbers of
// May 2025).
func TestSDKContractTCBBaselines(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	c := plainSDKClient(t, r)
	res, err := c.GetTCBBaselines(context.Background(), azattest.AttestationTypeSGXEnclave, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Baselines) != 3 || res.Baselines[0].TCBIdentifier != "19" || res.Baselines[0].TCBEvaluationDataNumber != 19 || res.Baselines[0].TCBReleaseDate.IsZero() {
		t.Fatalf("baselines %+v", res.Baselines)
	}
	if _, err := c.GetTCBBaselines(context.Background(), azattest.AttestationTypeTPM, nil); err == nil || !strings.Contains(err.Error(), "Tpm") {
		t.Fatalf("Tpm baselines: %v", err)
	}
}
