package azattest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

const endpoint = "https://test.wus.attest.azure.net"

func newIssuer(t *testing.T) *fake.TokenIssuer {
	t.Helper()
	iss, err := fake.NewTokenIssuer(endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// countingTransport counts requests per host+path and refuses other hosts.
type countingTransport struct {
	next  policy.Transporter
	mu    sync.Mutex
	paths map[string]*atomic.Int32
}

func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	k := req.URL.Host + req.URL.Path
	c.mu.Lock()
	if c.paths[k] == nil {
		c.paths[k] = &atomic.Int32{}
	}
	c.paths[k].Add(1)
	c.mu.Unlock()
	if req.URL.Host != "test.wus.attest.azure.net" {
		return nil, errors.New("request to a foreign host: " + req.URL.Host)
	}
	return c.next.Do(req)
}

func sgxServer(tok func() *azattest.Token, signers func() []azattest.Signer) *fake.Server {
	return &fake.Server{
		GetSigners: func(context.Context, *azattest.GetSignersOptions) (resp azfake.Responder[azattest.GetSignersResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.GetSignersResponse{Signers: signers()}, nil)
			return
		},
		AttestSGXEnclave: func(context.Context, []byte, *azattest.AttestSGXEnclaveOptions) (resp azfake.Responder[azattest.AttestSGXEnclaveResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azattest.AttestSGXEnclaveResponse{AttestationResult: azattest.AttestationResult{Token: tok()}}, nil)
			return
		},
	}
}

func newClient(t *testing.T, srv *fake.Server, o *azattest.ClientOptions) (*azattest.Client, *countingTransport) {
	t.Helper()
	if o == nil {
		o = &azattest.ClientOptions{}
	}
	ct := &countingTransport{next: fake.NewServerTransport(srv), paths: map[string]*atomic.Int32{}}
	o.Transport = ct
	o.Retry.MaxRetries = -1
	c, err := azattest.NewClient(endpoint, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, ct
}

func TestClientAttestValidates(t *testing.T) {
	iss := newIssuer(t)
	tok, err := iss.Issue(map[string]any{"x-ms-sgx-mrenclave": "ab", "x-ms-sgx-is-debuggable": false, "x-ms-sgx-svn": 3, "nonce": "n1"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, sgxServer(func() *azattest.Token { return tok }, iss.Signers), nil)
	res, err := c.AttestSGXEnclave(context.Background(), []byte{1, 2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *res.SGXMrEnclave != "ab" || *res.SGXIsDebuggable || *res.SGXSVN != 3 || *res.Nonce != "n1" || res.Token.String() != tok.String() {
		t.Errorf("%+v", res)
	}
}

// A token whose jku points elsewhere and that is signed by the key served
// there fails, and the client never contacts that host.
func TestClientIgnoresJKU(t *testing.T) {
	iss := newIssuer(t)
	evil, _ := rsa.GenerateKey(rand.Reader, 2048)
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "jku": "https://evil.example/certs", "kid": "evil", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"iss": endpoint, "exp": time.Now().Add(time.Hour).Unix()})
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	d := sha256.Sum256([]byte(input))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, evil, crypto.SHA256, d[:])
	tok, _ := azattest.ParseToken(input + "." + base64.RawURLEncoding.EncodeToString(sig))

	c, ct := newClient(t, sgxServer(func() *azattest.Token { return tok }, iss.Signers), nil)
	_, err := c.AttestSGXEnclave(context.Background(), []byte{1}, nil)
	if !errors.Is(err, azattest.ErrSignatureInvalid) {
		t.Fatalf("err = %v", err)
	}
	for k := range ct.paths {
		if strings.HasPrefix(k, "evil.example") {
			t.Fatal("client fetched the token's jku")
		}
	}
}

func TestClientRejectsUnsecuredUnlessDraft(t *testing.T) {
	claims, _ := json.Marshal(map[string]any{"iss": endpoint, "exp": time.Now().Add(time.Hour).Unix()})
	tok, _ := azattest.ParseToken("eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(claims) + ".")
	iss := newIssuer(t)
	c, _ := newClient(t, sgxServer(func() *azattest.Token { return tok }, iss.Signers), nil)
	if _, err := c.AttestSGXEnclave(context.Background(), []byte{1}, nil); !errors.Is(err, azattest.ErrUnsecuredToken) {
		t.Fatalf("no draft policy: %v", err)
	}
	draft := "version=1.0; authorizationrules{=> permit();}; issuancerules{};"
	res, err := c.AttestSGXEnclave(context.Background(), []byte{1}, &azattest.AttestSGXEnclaveOptions{DraftPolicyForAttestation: &draft})
	if err != nil || !res.Token.Unsecured() {
		t.Fatalf("draft policy: %v", err)
	}
}

// Unknown kid: the client refreshes /certs (at most once per interval) and
// accepts the token only if the refreshed set has the key.
func TestClientUnknownKidRefresh(t *testing.T) {
	old, rotated := newIssuer(t), newIssuer(t)
	oldTok, _ := old.Issue(nil)
	newTok, _ := rotated.Issue(nil)
	for _, tc := range []struct {
		name      string
		refreshed []azattest.Signer
		interval  time.Duration
		wantErr   error
		wantCerts int32
	}{
		{"refreshed set has the key", append(old.Signers(), rotated.Signers()...), time.Nanosecond, nil, 2},
		{"refreshed set lacks the key", old.Signers(), time.Nanosecond, azattest.ErrSignatureInvalid, 2},
		{"refresh rate-limited", append(old.Signers(), rotated.Signers()...), time.Hour, azattest.ErrSignatureInvalid, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			cur := oldTok
			srv := sgxServer(func() *azattest.Token { return cur }, func() []azattest.Signer {
				if calls.Add(1) == 1 {
					return old.Signers()
				}
				return tc.refreshed
			})
			c, ct := newClient(t, srv, &azattest.ClientOptions{SignerRefreshInterval: tc.interval})
			if _, err := c.AttestSGXEnclave(context.Background(), []byte{1}, nil); err != nil {
				t.Fatal(err)
			}
			cur = newTok
			_, err := c.AttestSGXEnclave(context.Background(), []byte{1}, nil)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			// A further unknown-kid token within the interval fetches nothing.
			if tc.interval == time.Hour {
				_, _ = c.AttestSGXEnclave(context.Background(), []byte{1}, nil)
			}
			if n := ct.paths["test.wus.attest.azure.net/certs"].Load(); n != tc.wantCerts {
				t.Errorf("/certs fetched %d times, want %d", n, tc.wantCerts)
			}
		})
	}
}

func TestClientServiceErrors(t *testing.T) {
	srv := &fake.Server{
		AttestSGXEnclave: func(context.Context, []byte, *azattest.AttestSGXEnclaveOptions) (resp azfake.Responder[azattest.AttestSGXEnclaveResponse], errResp azfake.ErrorResponder) {
			errResp.SetResponseError(http.StatusBadRequest, "PolicyEvaluationError")
			return
		},
	}
	c, _ := newClient(t, srv, nil)
	_, err := c.AttestSGXEnclave(context.Background(), []byte{1}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != "PolicyEvaluationError" || re.StatusCode != 400 {
		t.Fatalf("err = %v", err)
	}
}

// The SDK against a plain-http local server, as the contract test against a
// Maat server will run it.
func TestHTTPEndpoint(t *testing.T) {
	var gotAuth atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"x","jwks_uri":"x/certs"}`))
	}))
	defer hs.Close()
	// No credential: fine over http.
	c, err := azattest.NewClient(hs.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOpenIDMetadata(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cred := &azfake.TokenCredential{}
	// A credential over http is refused unless explicitly allowed.
	if _, err := azattest.NewAdministrationClient(hs.URL, cred, nil); err == nil {
		t.Fatal("credential over http accepted")
	}
	a, err := azattest.NewClient(hs.URL, cred, &azattest.ClientOptions{InsecureAllowCredentialWithHTTP: true, Scopes: []string{"api://maat/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetOpenIDMetadata(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := gotAuth.Load().(string); !strings.HasPrefix(v, "Bearer ") {
		t.Errorf("Authorization %q", v)
	}
}

func TestVersionGates(t *testing.T) {
	c, _ := newClient(t, &fake.Server{}, &azattest.ClientOptions{ServiceVersion: azattest.ServiceVersion2020_10_01})
	if _, err := c.AttestTDXVM(context.Background(), []byte{1}, nil); err == nil || !strings.Contains(err.Error(), "2025-06-01") {
		t.Errorf("TDX at 2020-10-01: %v", err)
	}
	if _, err := c.AttestSEVSNPVM(context.Background(), []byte{1}, nil); err == nil {
		t.Error("SNP at 2020-10-01 accepted")
	}
	if got := azattest.PossibleServiceVersionValues(); len(got) != 3 || azattest.DefaultServiceVersion != azattest.ServiceVersion2022_08_01 {
		t.Error(got)
	}
}

// Concurrent calls share one signer cache: /certs is fetched once.
func TestClientConcurrentValidation(t *testing.T) {
	iss := newIssuer(t)
	tok, _ := iss.Issue(nil)
	c, ct := newClient(t, sgxServer(func() *azattest.Token { return tok }, iss.Signers), nil)
	errs := make(chan error, 40)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 5; i++ {
				_, err := c.AttestSGXEnclave(context.Background(), []byte{1}, nil)
				errs <- err
			}
		}()
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.paths["test.wus.attest.azure.net/certs"].Load(); n != 1 {
		t.Errorf("/certs fetched %d times", n)
	}
}

// captureTransport records request bodies and content types before passing
// requests on.
type captureTransport struct {
	next   policy.Transporter
	mu     sync.Mutex
	bodies map[string]string
	ctypes map[string]string
	query  map[string]string
}

func (c *captureTransport) Do(req *http.Request) (*http.Response, error) {
	var b []byte
	if req.Body != nil {
		b, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	c.mu.Lock()
	c.bodies[req.URL.Path], c.ctypes[req.URL.Path], c.query[req.URL.Path] = string(b), req.Header.Get("Content-Type"), req.URL.RawQuery
	c.mu.Unlock()
	return c.next.Do(req)
}

// §3.3 of the wire contract: exact body encodings per api-version.
func TestWireBodies(t *testing.T) {
	iss := newIssuer(t)
	mgmt := exampleSigningKey()
	cert := exampleSigningKey().Certificate
	srv := &fake.Server{
		GetSigners: iss.GetSigners,
		SetPolicy: func(_ context.Context, _ azattest.AttestationType, p string, _ *azattest.SetPolicyOptions) (resp azfake.Responder[azattest.SetPolicyResponse], errResp azfake.ErrorResponder) {
			tok, _ := iss.Issue(map[string]any{"x-ms-policy-result": "Updated"})
			resp.SetResponse(http.StatusOK, azattest.SetPolicyResponse{Token: tok}, nil)
			return
		},
		ResetPolicy: func(context.Context, azattest.AttestationType, *azattest.ResetPolicyOptions) (resp azfake.Responder[azattest.ResetPolicyResponse], errResp azfake.ErrorResponder) {
			tok, _ := iss.Issue(map[string]any{"x-ms-policy-result": "Removed"})
			resp.SetResponse(http.StatusOK, azattest.ResetPolicyResponse{Token: tok}, nil)
			return
		},
		AddPolicyManagementCertificate: func(context.Context, *x509.Certificate, azattest.SigningKey, *azattest.AddPolicyManagementCertificateOptions) (resp azfake.Responder[azattest.AddPolicyManagementCertificateResponse], errResp azfake.ErrorResponder) {
			tok, _ := iss.Issue(map[string]any{"x-ms-policycertificates-result": "IsPresent"})
			resp.SetResponse(http.StatusOK, azattest.AddPolicyManagementCertificateResponse{Token: tok}, nil)
			return
		},
		RemovePolicyManagementCertificate: func(context.Context, *x509.Certificate, azattest.SigningKey, *azattest.RemovePolicyManagementCertificateOptions) (resp azfake.Responder[azattest.RemovePolicyManagementCertificateResponse], errResp azfake.ErrorResponder) {
			tok, _ := iss.Issue(map[string]any{"x-ms-policycertificates-result": "IsAbsent"})
			resp.SetResponse(http.StatusOK, azattest.RemovePolicyManagementCertificateResponse{Token: tok}, nil)
			return
		},
	}
	for _, v := range azattest.PossibleServiceVersionValues() {
		t.Run(string(v), func(t *testing.T) {
			ct := &captureTransport{next: fake.NewServerTransport(srv), bodies: map[string]string{}, ctypes: map[string]string{}, query: map[string]string{}}
			o := &azattest.ClientOptions{ServiceVersion: v}
			o.Transport = ct
			a, err := azattest.NewAdministrationClient(endpoint, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := a.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, "version=1.0;", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.ResetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.AddPolicyManagementCertificate(ctx, cert, mgmt, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.RemovePolicyManagementCertificate(ctx, cert, mgmt, nil); err != nil {
				t.Fatal(err)
			}
			if b := ct.bodies["/policies/SgxEnclave"]; !strings.HasPrefix(b, "eyJhbGciOiJub25lIn0.") || !strings.HasSuffix(b, ".") || ct.ctypes["/policies/SgxEnclave"] != "text/plain" {
				t.Errorf("set policy body %q (%s)", b, ct.ctypes["/policies/SgxEnclave"])
			}
			if b := ct.bodies["/policies/SgxEnclave:reset"]; b != "eyJhbGciOiJub25lIn0.." {
				t.Errorf("reset body %q", b)
			}
			if q := ct.query["/policies/SgxEnclave"]; q != "api-version="+string(v) {
				t.Errorf("query %q", q)
			}
			add, rm := ct.bodies["/certificates:add"], ct.bodies["/certificates:remove"]
			if v == azattest.ServiceVersion2025_06_01 {
				var m map[string]string
				if json.Unmarshal([]byte(add), &m) != nil || m["policyCertificateToAdd"] == "" || json.Unmarshal([]byte(rm), &m) != nil || m["policyCertificateToRemove"] == "" {
					t.Errorf("2025 certificate bodies %q %q", add, rm)
				}
				if ct.query["/certs"] != "api-version=2025-06-01" {
					t.Errorf("/certs query %q", ct.query["/certs"])
				}
			} else {
				var s string
				if json.Unmarshal([]byte(add), &s) != nil || !strings.HasPrefix(add, `"eyJ`) || json.Unmarshal([]byte(rm), &s) != nil {
					t.Errorf("certificate bodies %q %q", add, rm)
				}
				if ct.query["/certs"] != "" {
					t.Errorf("/certs query %q", ct.query["/certs"])
				}
			}
			if ct.ctypes["/certificates:add"] != "application/json" {
				t.Errorf("certificate content type %q", ct.ctypes["/certificates:add"])
			}
		})
	}
}

func TestAttestWireBodies(t *testing.T) {
	ct := &captureTransport{next: fake.NewServerTransport(exampleServer()), bodies: map[string]string{}, ctypes: map[string]string{}, query: map[string]string{}}
	o := &azattest.ClientOptions{ServiceVersion: azattest.ServiceVersion2025_06_01}
	o.Transport = ct
	c, err := azattest.NewClient(exampleEndpoint, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nonce, draft := "n", "version=1.0;"
	rt := &azattest.AttestationData{Data: []byte{0xfb, 0xff}, DataType: azattest.DataTypeBinary}
	it := &azattest.AttestationData{Data: []byte(`{"a":1}`), DataType: azattest.DataTypeJSON}
	ev := []byte{0xfb, 0xef, 0xff}
	if _, err := c.AttestSGXEnclave(ctx, ev, &azattest.AttestSGXEnclaveOptions{RuntimeData: rt, InitTimeData: it, Nonce: &nonce}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttestOpenEnclave(ctx, ev, &azattest.AttestOpenEnclaveOptions{RuntimeData: rt}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.AttestOpenEnclave(ctx, ev, &azattest.AttestOpenEnclaveOptions{DraftPolicyForAttestation: &draft}) // fake answers 400
	if _, err := c.AttestSEVSNPVM(ctx, ev, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttestTDXVM(ctx, ev, &azattest.AttestTDXVMOptions{Nonce: &nonce}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttestTPM(ctx, []byte(`{"payload":{}}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttestAzureGuest(ctx, "info", nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/attest/SgxEnclave":  `{"quote":"--__","runtimeData":{"data":"-_8","dataType":"Binary"},"initTimeData":{"data":"eyJhIjoxfQ","dataType":"JSON"},"nonce":"n"}`,
		"/attest/OpenEnclave": `{"report":"--__","draftPolicyForAttestation":"version=1.0;"}`,
		"/attest/SevSnpVm":    `{"report":"--__"}`,
		"/attest/TdxVm":       `{"quote":"--__","nonce":"n"}`,
		"/attest/Tpm":         `{"data":"eyJwYXlsb2FkIjp7fX0"}`,
		"/attest/AzureGuest":  `{"attestationInfo":"info"}`,
	}
	for p, w := range want {
		if ct.bodies[p] != w {
			t.Errorf("%s body %s, want %s", p, ct.bodies[p], w)
		}
		if ct.ctypes[p] != "application/json" || ct.query[p] != "api-version=2025-06-01" {
			t.Errorf("%s: %s ?%s", p, ct.ctypes[p], ct.query[p])
		}
	}
}

func TestEndpointNormalized(t *testing.T) {
	for in, want := range map[string]string{
		"https://MyInstance.WUS.attest.azure.net/": "https://myinstance.wus.attest.azure.net",
		"http://127.0.0.1:8080":                    "http://127.0.0.1:8080",
		"https://gw.example/maat/":                 "https://gw.example/maat",
	} {
		c, err := azattest.NewClient(in, nil, nil)
		if err != nil || c.Endpoint() != want {
			t.Errorf("%s -> %q %v", in, c.Endpoint(), err)
		}
	}
	for _, bad := range []string{"", "attest.azure.net", "ftp://x", "https://"} {
		if _, err := azattest.NewClient(bad, nil, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
