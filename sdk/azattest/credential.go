package azattest

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// StaticTokenCredential is an azcore.TokenCredential that always presents
// one bearer token, whatever the scope: a Maat development server's token
// (printed at start, or set with --dev-bearer-token), or a token obtained
// elsewhere. It does not refresh; a rejected token surfaces as the service's
// 401 *azcore.ResponseError.
type StaticTokenCredential struct {
	token string
}

// NewStaticTokenCredential returns a credential presenting token. An empty
// token makes every GetToken call fail (the request is then not sent).
func NewStaticTokenCredential(token string) *StaticTokenCredential {
	return &StaticTokenCredential{token: token}
}

// GetToken implements azcore.TokenCredential. It returns an error only when
// the token is empty.
func (c *StaticTokenCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.token == "" {
		return azcore.AccessToken{}, errors.New("azattest: StaticTokenCredential has an empty token")
	}
	// The token's real lifetime is unknown; an hour from now keeps azcore
	// from asking again on every request.
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}
