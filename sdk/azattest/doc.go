// Package azattest is a client library for the data plane of Microsoft Azure
// Attestation (MAA) and of MAA-compatible services such as Maat.
//
// It follows the conventions of the Azure SDK for Go: clients are created with
// [NewClient] and [NewAdministrationClient] from an endpoint, an
// [azcore.TokenCredential] and a *[ClientOptions]; every method takes a
// context first and an optional *XxxOptions last, and returns an XxxResponse.
// HTTP failures are returned as *[azcore.ResponseError].
//
// Every call that returns a service token validates it before returning, and
// fails closed: the signature must verify with a key served by the same
// endpoint's /certs (never a key carried by the token itself in x5c, jwk or
// jku), the token must be within its validity window and its issuer must match.
// Token validation failures are returned as *[TokenValidationError]; test
// them with errors.Is against the ErrXxx sentinels.
//
// [azcore.TokenCredential]: https://pkg.go.dev/github.com/Azure/azure-sdk-for-go/sdk/azcore#TokenCredential
// [azcore.ResponseError]: https://pkg.go.dev/github.com/Azure/azure-sdk-for-go/sdk/azcore#ResponseError
package azattest

const (
	moduleName    = "github.com/maat-attest/maat/sdk/azattest"
	moduleVersion = "v0.1.0"
)
