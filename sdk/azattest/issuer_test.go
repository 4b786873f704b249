package azattest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

// issuerServer serves tokens from an issuer named tokenIss and OpenID
// metadata naming metaIss, counting metadata requests.
func issuerServer(t *testing.T, tokenIss, metaIss string, metaCalls *int) *fake.Server {
	t.Helper()
	iss, err := fake.NewTokenIssuer(tokenIss, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(map[string]any{"x-ms-sgx-mrenclave": "ab"})
	if err != nil {
		t.Fatal(err)
	}
	srv := sgxServer(func() *azattest.Token { return tok }, iss.Signers)
	srv.GetOpenIDMetadata = func(context.Context, *azattest.GetOpenIDMetadataOptions) (resp azfake.Responder[azattest.GetOpenIDMetadataResponse], errResp azfake.ErrorResponder) {
		*metaCalls++
		resp.SetResponse(http.StatusOK, azattest.GetOpenIDMetadataResponse{OpenIDMetadata: azattest.OpenIDMetadata{Issuer: metaIss}}, nil)
		return
	}
	return srv
}

func TestDefaultIssuerFromMetadata(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint, tokenIss, metaIss string
		ok                                bool
		metaCalls                         int
	}{
		// MAA: iss is the endpoint; the metadata is never read.
		{"endpoint", "https://test.wus.attest.azure.net", "https://test.wus.attest.azure.net", "https://test.wus.attest.azure.net", true, 0},
		// A Maat dev server reached through its HTTP listener.
		{"loopback listener", "http://127.0.0.1:8080", "https://localhost:8443", "https://localhost:8443", true, 1},
		{"same host other port", "https://attest.example.com:8443", "https://attest.example.com", "https://attest.example.com", true, 1},
		// The token names an issuer the metadata does not: fail closed.
		{"metadata disagrees", "http://127.0.0.1:8080", "https://localhost:8443", "https://localhost:9443", false, 1},
		// Another host: never consults the metadata.
		{"other host", "https://test.wus.attest.azure.net", "https://evil.wus.attest.azure.net", "https://evil.wus.attest.azure.net", false, 0},
		{"loopback endpoint, remote issuer", "http://127.0.0.1:8080", "https://attest.example.com", "https://attest.example.com", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			srv := issuerServer(t, tc.tokenIss, tc.metaIss, &calls)
			o := &azattest.ClientOptions{}
			o.Transport = fake.NewServerTransport(srv)
			o.Retry.MaxRetries = -1
			c, err := azattest.NewClient(tc.endpoint, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.AttestSGXEnclave(context.Background(), []byte{1}, nil)
			if tc.ok && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !tc.ok {
				var ve *azattest.TokenValidationError
				if !errors.Is(err, azattest.ErrIssuerMismatch) || !errors.As(err, &ve) {
					t.Fatalf("want ErrIssuerMismatch, got %v", err)
				}
				if ve.Expected != tc.endpoint || ve.Got != tc.tokenIss || !strings.Contains(err.Error(), tc.endpoint) ||
					!strings.Contains(err.Error(), tc.tokenIss) || !strings.Contains(err.Error(), "ExpectedIssuer") {
					t.Fatalf("error %q (Expected %q, Got %q) must name both issuers and ExpectedIssuer", err, ve.Expected, ve.Got)
				}
			}
			if calls != tc.metaCalls {
				t.Fatalf("metadata read %d times, want %d", calls, tc.metaCalls)
			}
		})
	}
}

func TestStaticTokenCredential(t *testing.T) {
	tok, err := azattest.NewStaticTokenCredential("abc").GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{azattest.DefaultScope}})
	if err != nil || tok.Token != "abc" {
		t.Fatalf("%v %v", tok, err)
	}
	if _, err := azattest.NewStaticTokenCredential("").GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{azattest.DefaultScope}}); err == nil {
		t.Fatal("empty token accepted")
	}
}

// azcore's ClientOptions.APIVersion is honoured as ServiceVersion, or
// rejected with a message naming ServiceVersion.
func TestAPIVersionOption(t *testing.T) {
	var got string
	srv := issuerServerFor(t, &got)
	o := &azattest.ClientOptions{}
	o.APIVersion = "2025-06-01"
	o.Transport = srv
	c, err := azattest.NewClient("https://test.wus.attest.azure.net", nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOpenIDMetadata(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got != "2025-06-01" {
		t.Fatalf("api-version sent %q, want 2025-06-01", got)
	}
	for _, tc := range []struct {
		api, service, want string
	}{
		{"2099-01-01", "", "set ClientOptions.ServiceVersion"},
		{"2025-06-01", "2022-08-01", "set only ServiceVersion"},
	} {
		o := &azattest.ClientOptions{ServiceVersion: azattest.ServiceVersion(tc.service)}
		o.APIVersion = tc.api
		if _, err := azattest.NewClient("https://test.wus.attest.azure.net", nil, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("APIVersion %q ServiceVersion %q: %v, want %q", tc.api, tc.service, err, tc.want)
		}
	}
}

// issuerServerFor is a transport answering OpenID metadata and recording
// the api-version asked for.
func issuerServerFor(t *testing.T, got *string) policy.Transporter {
	t.Helper()
	return transportFunc(func(req *http.Request) (*http.Response, error) {
		*got = req.URL.Query().Get("api-version")
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"issuer":"https://test.wus.attest.azure.net"}`)), Request: req}, nil
	})
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }
