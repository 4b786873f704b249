package app

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/sdk/azattest"
)

// Fixtures shared by the JS client, SDK contract and concurrency tests: the
// Azure SDK for C++'s OpenEnclave report (and the SGX quote inside it), its
// runtime data, and the pcs2025 collateral bundle in which that quote's TCB
// is OutOfDate at 2025-06-01.
const (
	wantMrEnclave = "292a1f4b519e46627eb2478a3d9851405653c5b4b0a6925de843834d9216850e"
	wantMrSigner  = "4aea5f9a0ed04b11f889aadfe6a1d376213a29a95a85ce7337ae6f7fece6610c"
	testBearer    = "maat-contract-test-bearer"
	testDevTime   = "2025-06-01T00:00:00Z"
)

// permitPolicy and permitPolicy2 authorize any enclave and say which of
// them ran (which-policy), so a token shows the policy that produced it.
const permitPolicy = `version= 1.0;
authorizationrules
{
	=> permit();
};
issuancerules
{
	c:[type=="x-ms-sgx-mrsigner"] => issue(type="custom-mrsigner", value=c.value);
	=> issue(type="which-policy", value="one");
};`

const permitPolicy2 = `version= 1.0;
authorizationrules
{
	c:[type=="x-ms-sgx-is-debuggable"] => permit();
};
issuancerules
{
	c:[type=="x-ms-sgx-mrsigner"] => issue(type="custom-mrsigner", value=c.value);
	=> issue(type="which-policy", value="two");
};`

const denyPolicy = `version= 1.0;
authorizationrules
{
	=> deny();
};
issuancerules
{
};`

const brokenPolicy = `version= 1.0;
authorizationrules
{
	=> permit()
`

type maaEvidence struct {
	report, quote, runtime []byte
}

func (e maaEvidence) runtimeJSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimRight(e.runtime, "\x00"), &m); err != nil {
		t.Fatalf("runtime data is not JSON: %v", err)
	}
	return m
}

func loadMAAEvidence(t *testing.T) maaEvidence {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(sgxvectors.Path("maa", name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.TrimRight(strings.TrimSpace(string(b)), "=")
		out, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out
	}
	report := read("openenclave_report.b64url")
	return maaEvidence{report: report, quote: report[16:], runtime: read("runtime_data.b64url")}
}

// contractConfig is testConfig with the collateral, clock and TCB acceptance
// the MAA evidence verifies under, and a known dev bearer token.
func contractConfig(dir string) config.Config {
	cfg := testConfig(dir)
	cfg.DevTime = testDevTime
	cfg.CollateralDir = sgxvectors.Path("pcs2025")
	cfg.AcceptTCBStatus = []string{"UpToDate", "SWHardeningNeeded", "OutOfDate"}
	cfg.DevBearerToken = testBearer
	return cfg
}

// contractIsolatedConfig is contractConfig in Isolated mode with a freshly generated
// initial policy management certificate, which it returns with its key.
func contractIsolatedConfig(t *testing.T, dir string) (config.Config, *mgmtKey) {
	t.Helper()
	k := newMgmtKey(t, "maat initial management key")
	p := filepath.Join(t.TempDir(), "mgmt-cert.pem")
	if err := os.WriteFile(p, k.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := contractConfig(dir)
	cfg.Mode = "isolated"
	cfg.PolicyMgmtCerts = []string{p}
	return cfg, k
}

// mgmtKey is a key (RSA unless made by newECMgmtKey) with a self-signed certificate valid around the dev
// clock, usable as a policy signing or policy management key.
type mgmtKey struct {
	key     crypto.Signer
	cert    *x509.Certificate
	keyPEM  []byte // PKCS#8
	certPEM []byte
}

func newMgmtKey(t *testing.T, cn string) *mgmtKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return certifyMgmtKey(t, cn, key)
}

// newECMgmtKey is newMgmtKey with an ECDSA P-256 key (ES256).
func newECMgmtKey(t *testing.T, cn string) *mgmtKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return certifyMgmtKey(t, cn, key)
}

func certifyMgmtKey(t *testing.T, cn string, key crypto.Signer) *mgmtKey {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &mgmtKey{
		key:     key,
		cert:    cert,
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
}

func (k *mgmtKey) signingKey() *azattest.SigningKey {
	return &azattest.SigningKey{Signer: k.key, Certificate: k.cert}
}

// thumbprint is MAA's x-ms-certificate-thumbprint of the certificate.
func (k *mgmtKey) thumbprint() string {
	h := sha1.Sum(k.cert.Raw)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

func defaultPolicyText(t *testing.T, typ string) string {
	t.Helper()
	p, ok := policy.ParsedDefault(typ)
	if !ok {
		t.Fatalf("no default policy for %s", typ)
	}
	return p.Text()
}

func defaultPolicyHash(t *testing.T, typ string) string {
	t.Helper()
	return policy.Hash(defaultPolicyText(t, typ))
}

type staticCred struct{ token string }

func (c staticCred) GetToken(context.Context, azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// sdkOptions points the SDK at r over HTTPS (trusting the dev certificate),
// expecting the server's issuer and validating at the server's (dev) clock;
// retries are off so every server failure is seen.
func sdkOptions(t *testing.T, r *running, dir string) *azattest.ClientOptions {
	t.Helper()
	o := &azattest.ClientOptions{
		Scopes: []string{"api://maat/.default"},
		TokenValidation: azattest.TokenValidationOptions{
			ExpectedIssuer: r.app.Issuer(),
			TimeSlack:      5 * time.Second,
			Now:            r.app.now,
		},
	}
	o.Transport = httpsClient(t, dir)
	o.Retry = azpolicy.RetryOptions{MaxRetries: -1}
	return o
}

func sdkClient(t *testing.T, r *running, dir string) *azattest.Client {
	t.Helper()
	c, err := azattest.NewClient("https://"+r.app.HTTPSAddr(), nil, sdkOptions(t, r, dir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sdkAdmin returns an administration client; token "" means no credential.
func sdkAdmin(t *testing.T, r *running, dir, token string) *azattest.AdministrationClient {
	t.Helper()
	var cred azcore.TokenCredential
	if token != "" {
		cred = staticCred{token}
	}
	c, err := azattest.NewAdministrationClient("https://"+r.app.HTTPSAddr(), cred, sdkOptions(t, r, dir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantResponseError fails unless err is an *azcore.ResponseError with MAA's
// status and error code.
func wantResponseError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T), want *azcore.ResponseError %d %s", what, err, err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("%s: %d %q, want %d %s (%v)", what, re.StatusCode, re.ErrorCode, status, code, err)
	}
}

func checkSGXClaims(t *testing.T, what string, r azattest.AttestationResult, issuer string) {
	t.Helper()
	switch {
	case r.Issuer == nil || *r.Issuer != issuer:
		t.Fatalf("%s: iss %v, want %s", what, r.Issuer, issuer)
	case r.SGXMrEnclave == nil || *r.SGXMrEnclave != wantMrEnclave:
		t.Fatalf("%s: mrenclave %v", what, r.SGXMrEnclave)
	case r.SGXMrSigner == nil || *r.SGXMrSigner != wantMrSigner:
		t.Fatalf("%s: mrsigner %v", what, r.SGXMrSigner)
	case r.SGXIsDebuggable == nil || !*r.SGXIsDebuggable:
		t.Fatalf("%s: is-debuggable %v", what, r.SGXIsDebuggable)
	case r.SGXProductID == nil || *r.SGXProductID != 1:
		t.Fatalf("%s: product id %v", what, r.SGXProductID)
	case r.SGXSVN == nil || *r.SGXSVN != 1:
		t.Fatalf("%s: svn %v", what, r.SGXSVN)
	case r.AttestationType == nil || *r.AttestationType != "sgx":
		t.Fatalf("%s: x-ms-attestation-type %v", what, r.AttestationType)
	}
}

// wantClaims fails unless tok is MAA's management token shape: header
// {alg RS256, jku, kid, typ JWT} and claims exp, iat, iss, nbf plus extra.
func wantClaims(t *testing.T, what string, tok *azattest.Token, extra ...string) {
	t.Helper()
	want := append([]string{"exp", "iat", "iss", "nbf"}, extra...)
	var got []string
	for k := range tok.RawClaims() {
		got = append(got, k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: token claims %v, want MAA's %v", what, got, want)
	}
	h := tok.Header()
	if h.Algorithm != "RS256" || h.Type != "JWT" || h.KeyID == "" || !strings.HasSuffix(h.JWKSetURL, "/certs") {
		t.Fatalf("%s: token header %+v", what, h)
	}
}

func TestSDKContractMetadata(t *testing.T) {
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	c := sdkClient(t, r, dir)
	ctx := context.Background()
	signers, err := c.GetSigners(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	kid := serverKID(t, r, dir)
	if len(signers.Signers) != 1 || signers.Signers[0].KeyID != kid || len(signers.Signers[0].Certificates) != 1 {
		t.Fatalf("GetSigners = %+v, want the one key %s", signers.Signers, kid)
	}
	md, err := c.GetOpenIDMetadata(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if md.Issuer != r.app.Issuer() || md.JWKSURI != r.app.Issuer()+"/certs" || len(md.ClaimsSupported) == 0 {
		t.Fatalf("GetOpenIDMetadata = %+v", md.OpenIDMetadata)
	}
}

func TestSDKContractAttest(t *testing.T) {
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	c := sdkClient(t, r, dir)
	ctx := context.Background()
	iss := r.app.Issuer()
	kid := serverKID(t, r, dir)
	defHash := defaultPolicyHash(t, "SgxEnclave")
	binary := &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary}
	jsonData := &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeJSON}

	check := func(what string, res azattest.AttestationResult, data *azattest.AttestationData) {
		t.Helper()
		checkSGXClaims(t, what, res, iss)
		if res.Token.Unsecured() || res.Token.Header().KeyID != kid {
			t.Fatalf("%s: token header %+v, want signed by %s", what, res.Token.Header(), kid)
		}
		if res.PolicyHash == nil || *res.PolicyHash != defHash {
			t.Fatalf("%s: x-ms-policy-hash %v, want the default policy's %s", what, res.PolicyHash, defHash)
		}
		// The default policy issues MAA's legacy claim names.
		if res.DeprecatedIsDebuggable == nil || !*res.DeprecatedIsDebuggable || res.DeprecatedProductID == nil || *res.DeprecatedProductID != 1 ||
			res.DeprecatedSVN == nil || *res.DeprecatedSVN != 1 || res.DeprecatedSGXMrEnclave == nil || *res.DeprecatedSGXMrEnclave != wantMrEnclave ||
			res.DeprecatedSGXMrSigner == nil || *res.DeprecatedSGXMrSigner != wantMrSigner || res.DeprecatedTee == nil || *res.DeprecatedTee != "sgx" {
			t.Fatalf("%s: default-policy claims %v", what, res.PolicyClaims)
		}
		if data.DataType == azattest.DataTypeJSON {
			if !reflect.DeepEqual(res.RuntimeClaims, ev.runtimeJSON(t)) || res.EnclaveHeldData != nil {
				t.Fatalf("%s: x-ms-runtime %v, ehd %q", what, res.RuntimeClaims, res.EnclaveHeldData)
			}
		} else if !bytes.Equal(res.EnclaveHeldData, ev.runtime) {
			t.Fatalf("%s: x-ms-sgx-ehd %q, want the runtime data", what, res.EnclaveHeldData)
		}
	}
	for _, data := range []*azattest.AttestationData{binary, jsonData} {
		s, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: data})
		if err != nil {
			t.Fatalf("AttestSGXEnclave %s: %v", data.DataType, err)
		}
		check("AttestSGXEnclave "+string(data.DataType), s.AttestationResult, data)
		o, err := c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{RuntimeData: data})
		if err != nil {
			t.Fatalf("AttestOpenEnclave %s: %v", data.DataType, err)
		}
		check("AttestOpenEnclave "+string(data.DataType), o.AttestationResult, data)
	}

	// Nonce.
	nonce := "contract-nonce-1234"
	s, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: binary, Nonce: &nonce})
	if err != nil {
		t.Fatal(err)
	}
	if s.Nonce == nil || *s.Nonce != nonce {
		t.Fatalf("nonce %v, want %q", s.Nonce, nonce)
	}

	// Draft policy: an unsecured token, accepted for this call only.
	draft := permitPolicy
	d, err := c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{RuntimeData: binary, DraftPolicyForAttestation: &draft})
	if err != nil {
		t.Fatalf("draft policy: %v", err)
	}
	if !d.Token.Unsecured() || d.PolicyHash == nil || *d.PolicyHash != policy.Hash(draft) || d.RawClaims["which-policy"] != "one" {
		t.Fatalf("draft policy token: unsecured %v, hash %v, claims %v", d.Token.Unsecured(), d.PolicyHash, d.RawClaims)
	}
	checkSGXClaims(t, "draft", d.AttestationResult, iss)
	signers, err := c.GetSigners(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	vo := sdkOptions(t, r, dir).TokenValidation
	if _, err := d.Token.Validate(signers.Signers, &vo); !errors.Is(err, azattest.ErrUnsecuredToken) {
		t.Fatalf("the draft-policy token outside a draft call: Validate = %v, want ErrUnsecuredToken", err)
	}
	vo.AllowUnsecured = true
	if _, err := d.Token.Validate(signers.Signers, &vo); err != nil {
		t.Fatalf("the draft-policy token with AllowUnsecured: %v", err)
	}
	// A signed token still validates with the same options.
	if _, err := s.Token.Validate(signers.Signers, &vo); err != nil {
		t.Fatalf("signed token: %v", err)
	}

	// Error paths.
	deny := denyPolicy
	_, err = c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: binary, DraftPolicyForAttestation: &deny})
	wantResponseError(t, "denying draft policy", err, 400, "PolicyEvaluationError")
	broken := brokenPolicy
	_, err = c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{RuntimeData: binary, DraftPolicyForAttestation: &broken})
	wantResponseError(t, "broken draft policy", err, 400, "PolicyParsingError")
	wrong := append(append([]byte(nil), ev.runtime...), 'x')
	_, err = c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: &azattest.AttestationData{Data: wrong, DataType: azattest.DataTypeBinary}})
	wantResponseError(t, "runtime data not matching report_data", err, 400, "InvalidParameter")
	_, err = c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{RuntimeData: &azattest.AttestationData{Data: wrong, DataType: azattest.DataTypeJSON}})
	wantResponseError(t, "JSON runtime data not matching report_data", err, 400, "InvalidParameter")
}

func TestSDKContractPolicyAAD(t *testing.T) {
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	c := sdkClient(t, r, dir)
	admin := sdkAdmin(t, r, dir, testBearer)
	ctx := context.Background()
	binary := &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary}

	// Default.
	g, err := admin.GetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Policy != defaultPolicyText(t, "SgxEnclave") || !g.PolicyToken.Unsecured() {
		t.Fatalf("default GetPolicy = %q (unsecured %v)", g.Policy, g.PolicyToken.Unsecured())
	}

	// Unsigned set.
	s, err := admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantClaims(t, "unsigned SetPolicy", s.Token, "x-ms-policy-result", "x-ms-policy-token-hash")
	want, _ := azattest.CreatePolicyToken(permitPolicy, nil)
	if s.Result != azattest.PolicyModificationUpdated || !bytes.Equal(s.TokenHash, azattest.PolicyTokenHash(want.String())) || s.Signer != nil {
		t.Fatalf("unsigned SetPolicy = %+v", s.PolicyResult)
	}
	g, err = admin.GetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Policy != permitPolicy || g.PolicyToken.String() != want.String() {
		t.Fatalf("GetPolicy after SetPolicy = %q, JWS %s", g.Policy, g.PolicyToken)
	}
	a, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: binary})
	if err != nil {
		t.Fatal(err)
	}
	if *a.PolicyHash != policy.Hash(permitPolicy) || a.RawClaims["which-policy"] != "one" || a.PolicySigner != nil {
		t.Fatalf("attestation after SetPolicy: hash %v claims %v", *a.PolicyHash, a.RawClaims)
	}

	// Signed set (optional in AAD mode).
	k := newMgmtKey(t, "maat sdk policy signer")
	s, err = admin.SetPolicy(ctx, azattest.AttestationTypeOpenEnclave, permitPolicy2, &azattest.SetPolicyOptions{SigningKey: k.signingKey()})
	if err != nil {
		t.Fatal(err)
	}
	if s.Result != azattest.PolicyModificationUpdated || s.Signer == nil || !s.Signer.Certificates[0].Equal(k.cert) {
		t.Fatalf("signed SetPolicy = %+v", s.PolicyResult)
	}
	wantClaims(t, "signed SetPolicy", s.Token, "x-ms-policy-result", "x-ms-policy-token-hash", "x-ms-policy-signer")
	g, err = admin.GetPolicy(ctx, azattest.AttestationTypeOpenEnclave, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Policy != permitPolicy2 || g.PolicyToken.Unsecured() {
		t.Fatalf("GetPolicy after signed SetPolicy = %q (unsecured %v)", g.Policy, g.PolicyToken.Unsecured())
	}
	o, err := c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{RuntimeData: binary})
	if err != nil {
		t.Fatal(err)
	}
	if *o.PolicyHash != policy.Hash(permitPolicy2) || o.PolicySigner == nil || !o.PolicySigner.Certificates[0].Equal(k.cert) {
		t.Fatalf("attestation under a signed policy: hash %v signer %v", *o.PolicyHash, o.PolicySigner)
	}

	// A broken policy is refused, the previous one kept.
	_, err = admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, brokenPolicy, nil)
	wantResponseError(t, "SetPolicy with a broken policy", err, 400, "PolicyParsingError")
	if g, err = admin.GetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil); err != nil || g.Policy != permitPolicy {
		t.Fatalf("after a refused SetPolicy: %q, %v", g.Policy, err)
	}

	// Reset.
	for _, typ := range []azattest.AttestationType{azattest.AttestationTypeSGXEnclave, azattest.AttestationTypeOpenEnclave} {
		rs, err := admin.ResetPolicy(ctx, typ, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rs.Result != azattest.PolicyModificationRemoved {
			t.Fatalf("ResetPolicy %s = %+v", typ, rs.PolicyResult)
		}
		wantClaims(t, "ResetPolicy", rs.Token, "x-ms-policy-result")
		g, err := admin.GetPolicy(ctx, typ, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.Policy != defaultPolicyText(t, string(typ)) {
			t.Fatalf("GetPolicy %s after reset = %q", typ, g.Policy)
		}
	}

	// Management tokens carry exactly MAA's claims (C++ SDK recordings,
	// Policy-PolicyTests.*).
	wantClaims(t, "GetPolicy", g.Token, "x-ms-policy")

	// Tpm has no default policy: MAA answers x-ms-policy
	// "eyJhbGciOiJub25lIn0.." (C++ SDK recording GetPolicy_AAD_Tpm), the SDK
	// an empty policy.
	tpm, err := admin.GetPolicy(ctx, azattest.AttestationTypeTPM, nil)
	if err != nil {
		t.Fatalf("GetPolicy Tpm: %v", err)
	}
	if tpm.Policy != "" || tpm.PolicyToken.String() != "eyJhbGciOiJub25lIn0.." {
		t.Fatalf("GetPolicy Tpm = %q, JWS %s; want MAA's empty unsecured JWS", tpm.Policy, tpm.PolicyToken)
	}

	// Certificates: empty list, and changes refused in AAD mode.
	certs, err := admin.GetPolicyManagementCertificates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs.Signers) != 0 {
		t.Fatalf("AAD-mode certificates = %d, want none", len(certs.Signers))
	}
	wantClaims(t, "GetPolicyManagementCertificates", certs.Token, "x-ms-policy-certificates")
	_, err = admin.AddPolicyManagementCertificate(ctx, k.cert, *k.signingKey(), nil)
	wantResponseError(t, "certificates:add in AAD mode", err, 400, "InvalidOperation")
	_, err = admin.RemovePolicyManagementCertificate(ctx, k.cert, *k.signingKey(), nil)
	wantResponseError(t, "certificates:remove in AAD mode", err, 400, "InvalidOperation")

	// Authentication.
	for name, tok := range map[string]string{"no bearer token": "", "wrong bearer token": "not-the-token"} {
		bad := sdkAdmin(t, r, dir, tok)
		_, err := bad.GetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil)
		wantResponseError(t, "GetPolicy with "+name, err, 401, "Unauthorized")
		_, err = bad.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy, nil)
		wantResponseError(t, "SetPolicy with "+name, err, 401, "Unauthorized")
		_, err = bad.ResetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil)
		wantResponseError(t, "ResetPolicy with "+name, err, 401, "Unauthorized")
		_, err = bad.GetPolicyManagementCertificates(ctx, nil)
		wantResponseError(t, "GetPolicyManagementCertificates with "+name, err, 401, "Unauthorized")
	}
	// Attestation needs no credential.
	if _, err := c.AttestSGXEnclave(ctx, ev.quote, nil); err != nil {
		t.Fatalf("attestation without runtime data or credential: %v", err)
	}
}

func TestSDKContractIsolated(t *testing.T) {
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	cfg, k1 := contractIsolatedConfig(t, dir)
	r := start(t, cfg)
	c := sdkClient(t, r, dir)
	admin := sdkAdmin(t, r, dir, testBearer)
	ctx := context.Background()
	k2 := newMgmtKey(t, "maat sdk second management key")
	sgx := azattest.AttestationTypeSGXEnclave

	certsAre := func(what string, want ...*mgmtKey) {
		t.Helper()
		res, err := admin.GetPolicyManagementCertificates(ctx, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(res.Signers) != len(want) {
			t.Fatalf("%s: %d certificates, want %d", what, len(res.Signers), len(want))
		}
	next:
		for _, k := range want {
			for _, s := range res.Signers {
				if len(s.Certificates) == 1 && s.Certificates[0].Equal(k.cert) {
					continue next
				}
			}
			t.Fatalf("%s: certificate %s missing", what, k.cert.Subject.CommonName)
		}
	}
	certsAre("initial", k1)

	// Unsigned management is refused.
	_, err := admin.SetPolicy(ctx, sgx, permitPolicy, nil)
	wantResponseError(t, "unsigned SetPolicy in Isolated mode", err, 400, "InvalidOperation")
	_, err = admin.ResetPolicy(ctx, sgx, nil)
	wantResponseError(t, "unsigned ResetPolicy in Isolated mode", err, 400, "InvalidOperation")
	// Signed by a key that is not a management key.
	_, err = admin.SetPolicy(ctx, sgx, permitPolicy, &azattest.SetPolicyOptions{SigningKey: k2.signingKey()})
	wantResponseError(t, "SetPolicy signed by an unknown key", err, 400, "InvalidParameter")

	// Signed by the management key.
	s, err := admin.SetPolicy(ctx, sgx, permitPolicy, &azattest.SetPolicyOptions{SigningKey: k1.signingKey()})
	if err != nil {
		t.Fatal(err)
	}
	jws, _ := azattest.CreatePolicyToken(permitPolicy, k1.signingKey())
	if s.Result != azattest.PolicyModificationUpdated || !bytes.Equal(s.TokenHash, azattest.PolicyTokenHash(jws.String())) || s.Signer == nil || !s.Signer.Certificates[0].Equal(k1.cert) {
		t.Fatalf("signed SetPolicy = %+v", s.PolicyResult)
	}
	g, err := admin.GetPolicy(ctx, sgx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Policy != permitPolicy || g.PolicyToken.String() != jws.String() {
		t.Fatalf("GetPolicy = %q", g.Policy)
	}
	a, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeJSON}})
	if err != nil {
		t.Fatal(err)
	}
	if *a.PolicyHash != policy.Hash(permitPolicy) || a.PolicySigner == nil || !a.PolicySigner.Certificates[0].Equal(k1.cert) {
		t.Fatalf("attestation in Isolated mode: hash %v signer %v", *a.PolicyHash, a.PolicySigner)
	}

	// Add k2, use it, remove it.
	add, err := admin.AddPolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if add.Result != azattest.CertificateModificationIsPresent || add.Thumbprint != k2.thumbprint() {
		t.Fatalf("AddPolicyManagementCertificate = %+v", add.PolicyCertificatesModificationResult)
	}
	// As MAA's (.NET SDK isolated recordings).
	wantClaims(t, "certificates:add", add.Token, "x-ms-certificate-thumbprint", "x-ms-policycertificates-result")
	certsAre("after add", k1, k2)
	// Adding a present certificate is idempotent.
	if again, err := admin.AddPolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil); err != nil || again.Result != azattest.CertificateModificationIsPresent {
		t.Fatalf("adding k2 again = %+v, %v", again.PolicyCertificatesModificationResult, err)
	}
	certsAre("after adding twice", k1, k2)
	if _, err := admin.SetPolicy(ctx, sgx, permitPolicy2, &azattest.SetPolicyOptions{SigningKey: k2.signingKey()}); err != nil {
		t.Fatalf("SetPolicy signed by the added key: %v", err)
	}
	if g, err := admin.GetPolicy(ctx, sgx, nil); err != nil || g.Policy != permitPolicy2 {
		t.Fatalf("GetPolicy after k2's SetPolicy = %q, %v", g.Policy, err)
	}
	rm, err := admin.RemovePolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rm.Result != azattest.CertificateModificationIsAbsent || rm.Thumbprint != k2.thumbprint() {
		t.Fatalf("RemovePolicyManagementCertificate = %+v", rm.PolicyCertificatesModificationResult)
	}
	wantClaims(t, "certificates:remove", rm.Token, "x-ms-certificate-thumbprint", "x-ms-policycertificates-result")
	certsAre("after remove", k1)
	// Removing an absent certificate is idempotent.
	if again, err := admin.RemovePolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil); err != nil || again.Result != azattest.CertificateModificationIsAbsent {
		t.Fatalf("removing k2 again = %+v, %v", again.PolicyCertificatesModificationResult, err)
	}
	_, err = admin.ResetPolicy(ctx, sgx, &azattest.ResetPolicyOptions{SigningKey: k2.signingKey()})
	wantResponseError(t, "ResetPolicy signed by the removed key", err, 400, "InvalidParameter")
	_, err = admin.RemovePolicyManagementCertificate(ctx, k1.cert, *k1.signingKey(), nil)
	wantResponseError(t, "removing the last management certificate", err, 400, "InvalidOperation")

	rs, err := admin.ResetPolicy(ctx, sgx, &azattest.ResetPolicyOptions{SigningKey: k1.signingKey()})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Result != azattest.PolicyModificationRemoved {
		t.Fatalf("signed ResetPolicy = %+v", rs.PolicyResult)
	}
	if g, err := admin.GetPolicy(ctx, sgx, nil); err != nil || g.Policy != defaultPolicyText(t, "SgxEnclave") {
		t.Fatalf("GetPolicy after reset = %q, %v", g.Policy, err)
	}

	// Without a bearer token.
	_, err = sdkAdmin(t, r, dir, "").SetPolicy(ctx, sgx, permitPolicy, &azattest.SetPolicyOptions{SigningKey: k1.signingKey()})
	wantResponseError(t, "SetPolicy without bearer token", err, 401, "Unauthorized")
	_, err = sdkAdmin(t, r, dir, "").AddPolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil)
	wantResponseError(t, "certificates:add without bearer token", err, 401, "Unauthorized")
}

// Make sure the http package is used for the transport type assertion in
// sdkOptions (httpsClient returns *http.Client, a policy.Transporter).
var _ azpolicy.Transporter = (*http.Client)(nil)

// TestSDKContractServiceVersions runs attestation, signed policy management
// and certificate add/list/remove with every api-version the SDK speaks
// (2025-06-01 wraps the certificate JWS in an object).
func TestSDKContractServiceVersions(t *testing.T) {
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	cfg, k1 := contractIsolatedConfig(t, dir)
	r := start(t, cfg)
	ctx := context.Background()
	sgx := azattest.AttestationTypeSGXEnclave
	for _, v := range azattest.PossibleServiceVersionValues() {
		t.Run(string(v), func(t *testing.T) {
			// Fresh requests per version: re-sending the previous version's
			// byte-identical signed policy or certificate add after its reset
			// or removal would be a refused replay (anti-rollback).
			k2 := newMgmtKey(t, "maat sdk versioned management key "+string(v))
			permitPolicy2 := permitPolicy2 + "\n// " + string(v)
			o := sdkOptions(t, r, dir)
			o.ServiceVersion = v
			c, err := azattest.NewClient("https://"+r.app.HTTPSAddr(), nil, o)
			if err != nil {
				t.Fatal(err)
			}
			admin, err := azattest.NewAdministrationClient("https://"+r.app.HTTPSAddr(), staticCred{testBearer}, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetSigners(ctx, nil); err != nil {
				t.Fatalf("GetSigners: %v", err)
			}
			if _, err := c.GetOpenIDMetadata(ctx, nil); err != nil {
				t.Fatalf("GetOpenIDMetadata: %v", err)
			}
			nonce := "n-" + string(v)
			a, err := c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{
				RuntimeData: &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeJSON}, Nonce: &nonce,
			})
			if err != nil {
				t.Fatalf("AttestOpenEnclave: %v", err)
			}
			checkSGXClaims(t, "AttestOpenEnclave", a.AttestationResult, r.app.Issuer())
			if a.Nonce == nil || *a.Nonce != nonce || a.RuntimeClaims == nil {
				t.Fatalf("nonce %v, x-ms-runtime %v", a.Nonce, a.RuntimeClaims)
			}
			if _, err := admin.SetPolicy(ctx, sgx, permitPolicy2, &azattest.SetPolicyOptions{SigningKey: k1.signingKey()}); err != nil {
				t.Fatalf("SetPolicy: %v", err)
			}
			if g, err := admin.GetPolicy(ctx, sgx, nil); err != nil || g.Policy != permitPolicy2 {
				t.Fatalf("GetPolicy = %q, %v", g.Policy, err)
			}
			s, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{
				RuntimeData: &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary},
			})
			if err != nil {
				t.Fatalf("AttestSGXEnclave: %v", err)
			}
			if *s.PolicyHash != policy.Hash(permitPolicy2) {
				t.Fatalf("x-ms-policy-hash %s", *s.PolicyHash)
			}
			add, err := admin.AddPolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil)
			if err != nil || add.Result != azattest.CertificateModificationIsPresent || add.Thumbprint != k2.thumbprint() {
				t.Fatalf("AddPolicyManagementCertificate = %+v, %v", add.PolicyCertificatesModificationResult, err)
			}
			list, err := admin.GetPolicyManagementCertificates(ctx, nil)
			if err != nil || len(list.Signers) != 2 {
				t.Fatalf("GetPolicyManagementCertificates = %d, %v", len(list.Signers), err)
			}
			// The reset is signed by this version's key k2: an RSA-signed
			// reset has an empty payload, so k1's would be byte-identical to
			// the previous version's and, after this version's set, a
			// refused replay.
			rs, err := admin.ResetPolicy(ctx, sgx, &azattest.ResetPolicyOptions{SigningKey: k2.signingKey()})
			if err != nil || rs.Result != azattest.PolicyModificationRemoved {
				t.Fatalf("ResetPolicy = %+v, %v", rs.PolicyResult, err)
			}
			rm, err := admin.RemovePolicyManagementCertificate(ctx, k2.cert, *k1.signingKey(), nil)
			if err != nil || rm.Result != azattest.CertificateModificationIsAbsent || rm.Thumbprint != k2.thumbprint() {
				t.Fatalf("RemovePolicyManagementCertificate = %+v, %v", rm.PolicyCertificatesModificationResult, err)
			}
		})
	}
}

// TestSDKContractPlainHTTP follows the SDK README's recipe for a local
// server over plain http: ExpectedIssuer set to the server's issuer, and
// InsecureAllowCredentialWithHTTP for management.
func TestSDKContractPlainHTTP(t *testing.T) {
	ev := loadMAAEvidence(t)
	cfg := contractConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	r := start(t, cfg)
	endpoint := "http://" + r.app.HTTPAddr()
	o := &azattest.ClientOptions{
		Scopes:                          []string{"api://maat/.default"},
		InsecureAllowCredentialWithHTTP: true,
		TokenValidation:                 azattest.TokenValidationOptions{ExpectedIssuer: r.app.Issuer(), Now: r.app.now},
	}
	o.Retry = azpolicy.RetryOptions{MaxRetries: -1}
	ctx := context.Background()
	c, err := azattest.NewClient(endpoint, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := azattest.NewAdministrationClient(endpoint, staticCred{testBearer}, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy, nil); err != nil {
		t.Fatalf("SetPolicy over http: %v", err)
	}
	s, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{
		RuntimeData: &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary},
	})
	if err != nil {
		t.Fatalf("AttestSGXEnclave over http: %v", err)
	}
	checkSGXClaims(t, "over http", s.AttestationResult, r.app.Issuer())
	if *s.PolicyHash != policy.Hash(permitPolicy) {
		t.Fatalf("x-ms-policy-hash %s", *s.PolicyHash)
	}
	// The issuer check is real. Without an expected issuer the client takes
	// the server's metadata issuer only because both are loopback (a local
	// dev server, issue 12); an issuer it was told to expect is enforced.
	strict := *o
	strict.TokenValidation.ExpectedIssuer = ""
	c2, err := azattest.NewClient(endpoint, nil, &strict)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c2.AttestSGXEnclave(ctx, ev.quote, nil); err != nil {
		t.Fatalf("loopback server issuer %s from %s: %v", r.app.Issuer(), endpoint, err)
	}
	wrong := *o
	wrong.TokenValidation.ExpectedIssuer = "https://attest.example.com"
	c3, err := azattest.NewClient(endpoint, nil, &wrong)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c3.AttestSGXEnclave(ctx, ev.quote, nil)
	if !errors.Is(err, azattest.ErrIssuerMismatch) {
		t.Fatalf("token from %s validated against issuer https://attest.example.com: %v, want ErrIssuerMismatch", r.app.Issuer(), err)
	}
}

// TestSDKContractES256: ECDSA P-256 policy signing and management keys
// (the SDK signs ES256 with them), in AAD and Isolated mode.
func TestSDKContractES256(t *testing.T) {
	ev := loadMAAEvidence(t)
	ctx := context.Background()
	ec := newECMgmtKey(t, "maat sdk EC key")
	binary := &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary}
	setAndAttest := func(t *testing.T, r *running, dir string) {
		t.Helper()
		c, admin := sdkClient(t, r, dir), sdkAdmin(t, r, dir, testBearer)
		s, err := admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy, &azattest.SetPolicyOptions{SigningKey: ec.signingKey()})
		if err != nil {
			t.Fatalf("SetPolicy signed ES256: %v", err)
		}
		if s.Signer == nil || !s.Signer.Certificates[0].Equal(ec.cert) {
			t.Fatalf("SetPolicy signer %+v, want the EC certificate", s.Signer)
		}
		g, err := admin.GetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil)
		if err != nil || g.Policy != permitPolicy || g.PolicyToken.Header().Algorithm != "ES256" {
			t.Fatalf("GetPolicy = %q (%v), %v", g.Policy, g.PolicyToken, err)
		}
		a, err := c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: binary})
		if err != nil {
			t.Fatal(err)
		}
		if a.PolicySigner == nil || !a.PolicySigner.Certificates[0].Equal(ec.cert) {
			t.Fatalf("attestation x-ms-policy-signer %v, want the EC certificate", a.PolicySigner)
		}
		if _, err := admin.ResetPolicy(ctx, azattest.AttestationTypeSGXEnclave, &azattest.ResetPolicyOptions{SigningKey: ec.signingKey()}); err != nil {
			t.Fatalf("ResetPolicy signed ES256: %v", err)
		}
	}
	t.Run("AAD", func(t *testing.T) {
		dir := t.TempDir()
		setAndAttest(t, start(t, contractConfig(dir)), dir)
	})
	t.Run("Isolated", func(t *testing.T) {
		dir := t.TempDir()
		cfg, k1 := contractIsolatedConfig(t, dir)
		r := start(t, cfg)
		admin := sdkAdmin(t, r, dir, testBearer)
		add, err := admin.AddPolicyManagementCertificate(ctx, ec.cert, *k1.signingKey(), nil)
		if err != nil || add.Thumbprint != ec.thumbprint() {
			t.Fatalf("adding an EC management certificate: %+v, %v", add, err)
		}
		setAndAttest(t, r, dir)
		// The EC key removes itself; then it is no management key anymore.
		if _, err := admin.RemovePolicyManagementCertificate(ctx, ec.cert, *ec.signingKey(), nil); err != nil {
			t.Fatalf("EC key removing itself: %v", err)
		}
		_, err = admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy, &azattest.SetPolicyOptions{SigningKey: ec.signingKey()})
		wantResponseError(t, "SetPolicy signed by the removed EC key", err, 400, "InvalidParameter")
	})
}

// TestSDKContractKeyRotation: after the server rotates its signing key, a
// client that cached the old /certs fetches them again for the unknown kid
// and validates the new tokens.
func TestSDKContractKeyRotation(t *testing.T) {
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	o := sdkOptions(t, r, dir)
	o.SignerRefreshInterval = time.Millisecond
	c, err := azattest.NewClient("https://"+r.app.HTTPSAddr(), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, err := c.AttestSGXEnclave(ctx, ev.quote, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.app.Keys().Rotate(ctx, r.app.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	after, err := c.AttestSGXEnclave(ctx, ev.quote, nil)
	if err != nil {
		t.Fatalf("attestation after key rotation: %v", err)
	}
	if after.Token.Header().KeyID != k.KID || before.Token.Header().KeyID == k.KID {
		t.Fatalf("kid before %s, after %s; rotated to %s", before.Token.Header().KeyID, after.Token.Header().KeyID, k.KID)
	}
}
