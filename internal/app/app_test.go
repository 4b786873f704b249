package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/token"
)

type running struct {
	app    *App
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned; err is then set
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("Run returned %v", r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not shut down")
	}
}

func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Dev = true
	cfg.DataDir = dir
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

func start(t *testing.T, cfg config.Config) *running {
	t.Helper()
	var logs bytes.Buffer
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = a.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// httpsClient trusts the dev certificate in dir.
func httpsClient(t *testing.T, dir string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dir, "dev-tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("dev certificate does not parse")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: content type %q", url, ct)
	}
	if resp.Header.Get("x-ms-request-id") == "" {
		t.Fatalf("GET %s: no x-ms-request-id header", url)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
}

func kids(set jose.JWKSet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

// verifyWithJWKS checks a token the way a relying party does: the key comes
// from the published JWKS by kid, never from the token.
func verifyWithJWKS(t *testing.T, tok string, set jose.JWKSet) map[string]any {
	t.Helper()
	j, err := jose.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if j.Header.Alg != "RS256" || j.Header.Typ != "JWT" || j.Header.KID == "" || !strings.HasSuffix(j.Header.JKU, "/certs") {
		t.Fatalf("token header %s is not MAA's shape", j.RawHeader)
	}
	var want = `{"alg":"RS256","jku":"` + j.Header.JKU + `","kid":"` + j.Header.KID + `","typ":"JWT"}`
	if string(j.RawHeader) != want {
		t.Fatalf("header bytes %s, want %s", j.RawHeader, want)
	}
	for _, k := range set.Keys {
		if k.KID != j.Header.KID {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(k.X5C[0])
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Verify(cert.PublicKey); err != nil {
			t.Fatalf("token does not verify with published key %s: %v", k.KID, err)
		}
		var claims map[string]any
		if err := json.Unmarshal(j.Payload, &claims); err != nil {
			t.Fatal(err)
		}
		return claims
	}
	t.Fatalf("kid %s is not in the JWKS %v", j.Header.KID, kids(set))
	return nil
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	r := start(t, cfg)
	httpsBase := "https://" + r.app.HTTPSAddr()
	httpBase := "http://" + r.app.HTTPAddr()
	hc := httpsClient(t, dir)

	var jwks jose.JWKSet
	getJSON(t, hc, httpsBase+"/certs", &jwks)
	var jwksHTTP jose.JWKSet
	getJSON(t, http.DefaultClient, httpBase+"/certs?api-version=2022-08-01", &jwksHTTP)
	if len(jwks.Keys) != 1 || kids(jwks)[0] != kids(jwksHTTP)[0] {
		t.Fatalf("JWKS over HTTPS %v and HTTP %v differ or have not one key", kids(jwks), kids(jwksHTTP))
	}
	k := jwks.Keys[0]
	if k.KTY != "RSA" || len(k.X5C) != 1 || k.N != "" {
		t.Fatalf("JWK %+v is not MAA's {x5c,kid,kty} shape", k)
	}
	der, _ := base64.StdEncoding.DecodeString(k.X5C[0])
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != r.app.Issuer() {
		t.Fatalf("signing certificate subject %q, want the issuer %q", cert.Subject.CommonName, r.app.Issuer())
	}

	var oidc map[string]any
	getJSON(t, hc, httpsBase+"/.well-known/openid-configuration", &oidc)
	if oidc["issuer"] != r.app.Issuer() || oidc["jwks_uri"] != r.app.Issuer()+"/certs" {
		t.Fatalf("OpenID document %v", oidc)
	}
	for _, key := range []string{"response_types_supported", "id_token_signing_alg_values_supported", "revocation_endpoint", "claims_supported"} {
		if _, ok := oidc[key]; !ok {
			t.Fatalf("OpenID document lacks %q", key)
		}
	}

	// The server issues a token; a relying party verifies it with the JWKS.
	tok, err := r.app.Tokens().Issue(map[string]any{"x-ms-attestation-type": "sgx"}, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	claims := verifyWithJWKS(t, tok, jwks)
	if claims["iss"] != r.app.Issuer() || claims["x-ms-ver"] != "1.0" || claims["x-ms-attestation-type"] != "sgx" {
		t.Fatalf("claims %v", claims)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 8*3600 || claims["nbf"] != claims["iat"] {
		t.Fatalf("token lifetime: iat %v nbf %v exp %v", claims["iat"], claims["nbf"], claims["exp"])
	}
	if jti, _ := claims["jti"].(string); len(jti) != 64 {
		t.Fatalf("jti %q is not 32 random bytes in hex", jti)
	}
	firstKID := kids(jwks)[0]
	r.stop(t)

	// Restart on the same directory: same keys.
	r = start(t, cfg)
	hc = httpsClient(t, dir)
	httpsBase = "https://" + r.app.HTTPSAddr()
	getJSON(t, hc, httpsBase+"/certs", &jwks)
	if got := kids(jwks); len(got) != 1 || got[0] != firstKID {
		t.Fatalf("after restart JWKS has %v, want [%s]", got, firstKID)
	}

	// Rotate: both published, the new one signs.
	newKey, err := r.app.Keys().Rotate(context.Background(), r.app.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	getJSON(t, hc, httpsBase+"/certs", &jwks)
	if got := kids(jwks); len(got) != 2 || got[0] != newKey.KID || got[1] != firstKID {
		t.Fatalf("after rotation JWKS has %v, want [%s %s]", got, newKey.KID, firstKID)
	}
	tok, err = r.app.Tokens().Issue(nil, token.Options{Management: true})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := jose.Parse(tok)
	if j.Header.KID != newKey.KID {
		t.Fatalf("token signed by %s, want the new key %s", j.Header.KID, newKey.KID)
	}
	verifyWithJWKS(t, tok, jwks)
	r.stop(t)
}

func TestSecondServerOnSameDataDirFails(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	start(t, cfg)
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second New on the same data dir = %v, want ErrDataDirLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the directory", err)
	}
}

func TestInvalidConfigIsRefusedBeforeStart(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Mode = "nonsense"
	if _, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Fatalf("New with bad mode = %v", err)
	}
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
		t.Fatalf("invalid config still touched the data directory: %v", entries)
	}
}

func TestBadRequests(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	r := start(t, cfg)
	base := "http://" + r.app.HTTPAddr()
	cases := []struct {
		name, method, path string
		body               io.Reader
		status             int
		code               string
	}{
		{"unknown api-version", "GET", "/certs?api-version=2019-01-01", nil, 400, "InvalidParameter"},
		{"empty api-version on openid", "GET", "/.well-known/openid-configuration?api-version=nope", nil, 400, "InvalidParameter"},
		{"unknown path", "GET", "/no/such/thing", nil, 404, "NotFound"},
		{"wrong method", "DELETE", "/certs", nil, 405, "MethodNotAllowed"},
		{"oversized body", "GET", "/certs", bytes.NewReader(make([]byte, cfg.MaxBodyBytes+1)), 413, "PayloadTooLarge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, tc.body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatalf("body %q is not the error envelope: %v", b, err)
			}
			if resp.StatusCode != tc.status || env.Error.Code != tc.code || env.Error.Message == "" || resp.Header.Get("x-ms-error-code") != tc.code {
				t.Fatalf("got %d %s (%q), header %q; want %d %s", resp.StatusCode, env.Error.Code, env.Error.Message, resp.Header.Get("x-ms-error-code"), tc.status, tc.code)
			}
		})
	}
	// Probes.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s = %d", path, resp.StatusCode)
		}
	}
}

// TestOfficialJSClient runs the official MAA JavaScript client
// (@azure/attestation, installed by `npm ci` in test/js) against the server
// over HTTPS and checks it sees the keys and metadata the Go client sees.
func TestOfficialJSClient(t *testing.T) {
	node, jsDir := requireJSClient(t)
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	base := "https://" + r.app.HTTPSAddr()
	var jwks jose.JWKSet
	getJSON(t, httpsClient(t, dir), base+"/certs", &jwks)

	cmd := exec.Command(node, "client.mjs", "metadata", base)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+filepath.Join(dir, "dev-tls-cert.pem"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs metadata: %v\n%s", err, stderr.String())
	}
	var got struct {
		OpenID  map[string]any `json:"openId"`
		Signers []struct {
			KeyID        string   `json:"keyId"`
			Certificates []string `json:"certificates"`
		} `json:"signers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if got.OpenID["issuer"] != r.app.Issuer() || got.OpenID["jwks_uri"] != r.app.Issuer()+"/certs" {
		t.Fatalf("JS client OpenID metadata %v", got.OpenID)
	}
	if len(got.Signers) != len(jwks.Keys) {
		t.Fatalf("JS client saw %d signers, Go saw %d", len(got.Signers), len(jwks.Keys))
	}
	for i, s := range got.Signers {
		if s.KeyID != jwks.Keys[i].KID || len(s.Certificates) != 1 {
			t.Fatalf("JS signer %d = %s with %d certs; Go sees %s", i, s.KeyID, len(s.Certificates), jwks.Keys[i].KID)
		}
		if !strings.Contains(strings.ReplaceAll(s.Certificates[0], "\n", ""), jwks.Keys[i].X5C[0][:64]) {
			t.Fatalf("JS signer %d certificate differs from the JWKS x5c", i)
		}
	}
}

// requireJSClient returns node and the test/js directory, skipping when the
// client is not installed, unless MAAT_REQUIRE_JS_CLIENT=1 (set by .ci/run),
// where a missing client fails the test.
func requireJSClient(t *testing.T) (node, dir string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "..", "test", "js")
	node, err := exec.LookPath("node")
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "@azure", "attestation"))
	if err != nil || statErr != nil {
		msg := "official JS client not installed (run `npm ci` in test/js); skipping"
		if os.Getenv("MAAT_REQUIRE_JS_CLIENT") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, dir
}
