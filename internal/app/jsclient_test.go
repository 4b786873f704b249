package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/policy"
)

// jsStep is one step of a client.mjs "run" job; see test/js/client.mjs.
type jsStep struct {
	Op          string  `json:"op"`
	Type        string  `json:"type,omitempty"`
	Evidence    []byte  `json:"evidence,omitempty"` // base64 in JSON
	RuntimeData []byte  `json:"runtimeData,omitempty"`
	RuntimeJSON bool    `json:"runtimeJson,omitempty"`
	DraftPolicy *string `json:"draftPolicy,omitempty"`
	Policy      string  `json:"policy,omitempty"`
	Key         string  `json:"key,omitempty"`
	Cert        string  `json:"cert,omitempty"`
	// DefaultValidation validates with the client's default options (no
	// issuer check, no callback) instead of everything on.
	DefaultValidation bool    `json:"defaultValidation,omitempty"`
	Bearer            *string `json:"bearer,omitempty"`
}

type jsToken struct {
	Raw    string         `json:"raw"`
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// jsResult is what client.mjs reports for one step.
type jsResult struct {
	Op         string `json:"op"`
	OK         bool   `json:"ok"`
	Validation struct {
		Called      bool   `json:"called"`
		SignerKeyID string `json:"signerKeyId"`
	} `json:"validation"`
	Error *struct {
		Name       string `json:"name"`
		Message    string `json:"message"`
		StatusCode int    `json:"statusCode"`
		Code       string `json:"code"`
		Body       string `json:"body"`
	} `json:"error"`
	Token  jsToken `json:"token"`
	Result struct {
		Issuer          string         `json:"issuer"`
		MrEnclave       string         `json:"mrEnclave"`
		MrSigner        string         `json:"mrSigner"`
		IsDebuggable    bool           `json:"isDebuggable"`
		ProductID       int            `json:"productId"`
		SVN             int            `json:"svn"`
		EnclaveHeldData []byte         `json:"enclaveHeldData"`
		RunTimeClaims   map[string]any `json:"runTimeClaims"`
		PolicyHash      []byte         `json:"policyHash"`
		VerifierType    string         `json:"verifierType"`
		PolicySigner    *struct {
			Certificates []string `json:"certificates"`
		} `json:"policySigner"`
	} `json:"result"`
	Policy            string `json:"policy"`
	PolicyResolution  string `json:"policyResolution"`
	PolicyTokenHash   string `json:"policyTokenHash"`
	ExpectedTokenHash string `json:"expectedTokenHash"`
	SentIsCreated     bool   `json:"sentIsCreated"`
	SentAlg           string `json:"sentAlg"`
	PolicySigner      *struct {
		Certificates []string `json:"certificates"`
	} `json:"policySigner"`
	Certificates [][]string `json:"certificates"`
	Thumbprint   string     `json:"thumbprint"`
	CertResult   string     `json:"certResult"`
}

// jsRun runs steps with the official JS client against r over HTTPS, its
// clock shifted to the server's (dev) clock, and returns one result per step.
func jsRun(t *testing.T, r *running, dir string, keys map[string]*mgmtKey, steps []jsStep) []jsResult {
	t.Helper()
	node, jsDir := requireJSClient(t)
	jk := map[string]map[string]string{}
	for name, k := range keys {
		jk[name] = map[string]string{"key": string(k.keyPEM), "cert": string(k.certPEM)}
	}
	job := map[string]any{
		"issuer": r.app.Issuer(),
		// The server's dev clock runs at the real rate from DevTime.
		"clockOffsetMs": r.app.now().Sub(time.Now()).Milliseconds(),
		"keys":          jk,
		"steps":         steps,
	}
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	jobFile := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(jobFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "client.mjs", "run", "https://"+r.app.HTTPSAddr(), jobFile)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+filepath.Join(dir, "dev-tls-cert.pem"),
		"MAAT_BEARER="+testBearer)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs run: %v\n%s", err, stderr.String())
	}
	var got struct {
		Results []jsResult `json:"results"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if len(got.Results) != len(steps) {
		t.Fatalf("client ran %d steps, want %d", len(got.Results), len(steps))
	}
	return got.Results
}

// jsMustOK fails unless the step succeeded and the client's own token
// validation ran and found a signer from the server's /certs (kid).
func jsMustOK(t *testing.T, i int, res jsResult, kid string) {
	t.Helper()
	if !res.OK {
		t.Fatalf("step %d (%s) failed in the JS client: %+v", i, res.Op, *res.Error)
	}
	if !res.Validation.Called {
		t.Fatalf("step %d (%s): the client's validation callback did not run", i, res.Op)
	}
	if kid != "" && res.Validation.SignerKeyID != kid {
		t.Fatalf("step %d (%s): client validated with signer %q, want the server's key %q", i, res.Op, res.Validation.SignerKeyID, kid)
	}
}

func jsMustFail(t *testing.T, i int, res jsResult, status int, code string) {
	t.Helper()
	if res.OK {
		t.Fatalf("step %d (%s) succeeded, want %d %s", i, res.Op, status, code)
	}
	if res.Error.StatusCode != status || res.Error.Code != code {
		t.Fatalf("step %d (%s) failed with %d %q (%s), want %d %s", i, res.Op, res.Error.StatusCode, res.Error.Code, res.Error.Message, status, code)
	}
}

func serverKID(t *testing.T, r *running, dir string) string {
	t.Helper()
	var jwks jose.JWKSet
	getJSON(t, httpsClient(t, dir), "https://"+r.app.HTTPSAddr()+"/certs", &jwks)
	if len(jwks.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(jwks.Keys))
	}
	return jwks.Keys[0].KID
}

// TestJSClientAttest: attestSgxEnclave and attestOpenEnclave with binary and
// JSON runtime data (and a draft policy), the client validating every token
// itself against the server's signers and issuer.
func TestJSClientAttest(t *testing.T) {
	requireJSClient(t)
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	kid := serverKID(t, r, dir)
	draft := permitPolicy
	steps := []jsStep{
		{Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime},
		{Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime, RuntimeJSON: true},
		{Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: ev.runtime},
		{Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: ev.runtime, RuntimeJSON: true},
		{Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: ev.runtime, DraftPolicy: &draft},
	}
	wrong := append(append([]byte(nil), ev.runtime...), 'x')
	deny, broken := denyPolicy, brokenPolicy
	errSteps := []jsStep{
		{Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime, DefaultValidation: true},
		{Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: wrong},
		{Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: wrong, RuntimeJSON: true},
		{Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: ev.runtime, DraftPolicy: &deny},
		{Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime, DraftPolicy: &broken},
		{Op: "attestSgxEnclave", Evidence: ev.quote[:len(ev.quote)/2], RuntimeData: ev.runtime},
	}
	res := jsRun(t, r, dir, nil, append(steps, errSteps...))
	errRes := res[len(steps):]
	res = res[:len(steps)]
	// The client's default validation (signature and times) passes too.
	if !errRes[0].OK || errRes[0].Result.MrEnclave != wantMrEnclave {
		t.Fatalf("attestSgxEnclave with the client's default validation: %+v", errRes[0])
	}
	jsMustFail(t, 1, errRes[1], 400, "InvalidParameter") // binary runtime data not matching report_data
	jsMustFail(t, 2, errRes[2], 400, "InvalidParameter") // JSON runtime data not matching report_data
	jsMustFail(t, 3, errRes[3], 400, "PolicyEvaluationError")
	jsMustFail(t, 4, errRes[4], 400, "PolicyParsingError")
	if errRes[5].OK || errRes[5].Error.StatusCode != 400 || (errRes[5].Error.Code != "InvalidParameter" && errRes[5].Error.Code != "InvalidQuote") {
		t.Fatalf("truncated quote: %+v", errRes[5])
	}
	defHash := defaultPolicyHash(t, "SgxEnclave")
	for i, got := range res {
		wantKID := kid
		if steps[i].DraftPolicy != nil {
			wantKID = "" // unsecured token: the client checks times and issuer only
			if got.OK && got.Token.Header["alg"] != "none" {
				t.Fatalf("step %d: draft-policy token alg %v, want none", i, got.Token.Header["alg"])
			}
		}
		jsMustOK(t, i, got, wantKID)
		g := got.Result
		if g.Issuer != r.app.Issuer() || g.MrEnclave != wantMrEnclave || g.MrSigner != wantMrSigner ||
			!g.IsDebuggable || g.ProductID != 1 || g.SVN != 1 || g.VerifierType != "sgx" || g.PolicySigner != nil {
			t.Fatalf("step %d (%s): client result %+v", i, got.Op, g)
		}
		wantHash := defHash
		if steps[i].DraftPolicy != nil {
			wantHash = policy.Hash(draft)
		} else {
			// The default policy's issuance rules: MAA's legacy claim names.
			c := got.Token.Claims
			if c["is-debuggable"] != true || c["product-id"] != 1.0 || c["svn"] != 1.0 || c["sgx-mrenclave"] != wantMrEnclave ||
				c["sgx-mrsigner"] != wantMrSigner || c["tee"] != "sgx" {
				t.Fatalf("step %d: default-policy claims %v", i, c)
			}
		}
		if got.Token.Claims["x-ms-policy-hash"] != wantHash || base64.RawURLEncoding.EncodeToString(g.PolicyHash) != wantHash {
			t.Fatalf("step %d: x-ms-policy-hash %v (client decoded %x), want %s", i, got.Token.Claims["x-ms-policy-hash"], g.PolicyHash, wantHash)
		}
		if steps[i].RuntimeJSON {
			if !reflect.DeepEqual(g.RunTimeClaims, ev.runtimeJSON(t)) {
				t.Fatalf("step %d: x-ms-runtime %v, want %v", i, g.RunTimeClaims, ev.runtimeJSON(t))
			}
			if g.EnclaveHeldData != nil {
				t.Fatalf("step %d: JSON runtime data also produced x-ms-sgx-ehd", i)
			}
		} else if !bytes.Equal(g.EnclaveHeldData, ev.runtime) {
			t.Fatalf("step %d: x-ms-sgx-ehd %q, want the runtime data", i, g.EnclaveHeldData)
		}
	}
}

// TestJSClientPolicyAAD: getPolicy / setPolicy (unsigned and signed) /
// resetPolicy in AAD mode, and certificate management refused there.
func TestJSClientPolicyAAD(t *testing.T) {
	requireJSClient(t)
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	kid := serverKID(t, r, dir)
	signer := newMgmtKey(t, "maat js policy signer")
	keys := map[string]*mgmtKey{"signer": signer}
	wrongBearer := "not-the-bearer-token"
	steps := []jsStep{
		0:  {Op: "getPolicy", Type: "SgxEnclave"},
		1:  {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy},
		2:  {Op: "getPolicy", Type: "SgxEnclave"},
		3:  {Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime},
		4:  {Op: "setPolicy", Type: "OpenEnclave", Policy: permitPolicy2, Key: "signer"},
		5:  {Op: "getPolicy", Type: "OpenEnclave"},
		6:  {Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: ev.runtime},
		7:  {Op: "resetPolicy", Type: "SgxEnclave"},
		8:  {Op: "getPolicy", Type: "SgxEnclave"},
		9:  {Op: "resetPolicy", Type: "OpenEnclave", Key: "signer"},
		10: {Op: "getPolicy", Type: "OpenEnclave"},
		11: {Op: "getCerts"},
		12: {Op: "addCert", Cert: "signer", Key: "signer"},
		13: {Op: "setPolicy", Type: "SgxEnclave", Policy: brokenPolicy},
		14: {Op: "getPolicy", Type: "SgxEnclave", Bearer: &wrongBearer},
		15: {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy, Bearer: &wrongBearer},
		16: {Op: "getPolicy", Type: "SgxEnclave", DefaultValidation: true},
		17: {Op: "getPolicy", Type: "Tpm"},
	}
	res := jsRun(t, r, dir, keys, steps)
	defText := defaultPolicyText(t, "SgxEnclave")

	jsMustOK(t, 0, res[0], kid)
	if res[0].Policy != defText {
		t.Fatalf("default SgxEnclave policy from the client:\n%q\nwant\n%q", res[0].Policy, defText)
	}
	for _, i := range []int{1, 4} {
		jsMustOK(t, i, res[i], kid)
		checkSetPolicy(t, i, res[i])
	}
	if res[1].PolicySigner != nil && len(res[1].PolicySigner.Certificates) != 0 {
		t.Fatalf("unsigned setPolicy reported a signer %+v", res[1].PolicySigner)
	}
	if res[4].PolicySigner == nil || len(res[4].PolicySigner.Certificates) != 1 || jsPEMBody(res[4].PolicySigner.Certificates[0]) != jsPEMBody(string(signer.certPEM)) {
		t.Fatalf("signed setPolicy: x-ms-policy-signer %+v, want the signing certificate", res[4].PolicySigner)
	}
	jsMustOK(t, 2, res[2], kid)
	if res[2].Policy != permitPolicy {
		t.Fatalf("getPolicy after setPolicy = %q, want %q", res[2].Policy, permitPolicy)
	}
	jsMustOK(t, 5, res[5], kid)
	if res[5].Policy != permitPolicy2 {
		t.Fatalf("getPolicy after signed setPolicy = %q, want %q", res[5].Policy, permitPolicy2)
	}
	for i, want := range map[int]string{3: permitPolicy, 6: permitPolicy2} {
		jsMustOK(t, i, res[i], kid)
		if h := res[i].Token.Claims["x-ms-policy-hash"]; h != policy.Hash(want) {
			t.Fatalf("step %d: attestation after setPolicy has x-ms-policy-hash %v, want %s", i, h, policy.Hash(want))
		}
		if res[i].Token.Claims["custom-mrsigner"] != wantMrSigner {
			t.Fatalf("step %d: the set policy's issuance rule did not run: claims %v", i, res[i].Token.Claims)
		}
	}
	if res[6].Token.Claims["x-ms-policy-signer"] == nil {
		t.Fatalf("attestation under a signed policy has no x-ms-policy-signer")
	}
	for _, i := range []int{7, 9} {
		jsMustOK(t, i, res[i], kid)
		if res[i].PolicyResolution != "Removed" {
			t.Fatalf("step %d resetPolicy: resolution %q", i, res[i].PolicyResolution)
		}
	}
	for i, typ := range map[int]string{8: "SgxEnclave", 10: "OpenEnclave"} {
		jsMustOK(t, i, res[i], kid)
		if res[i].Policy != defaultPolicyText(t, typ) {
			t.Fatalf("step %d: getPolicy after reset = %q, want the default", i, res[i].Policy)
		}
	}
	jsMustOK(t, 11, res[11], kid)
	if len(res[11].Certificates) != 0 {
		t.Fatalf("AAD-mode getPolicyManagementCertificates = %v, want none", res[11].Certificates)
	}
	jsMustFail(t, 12, res[12], 400, "InvalidOperation")
	jsMustFail(t, 13, res[13], 400, "PolicyParsingError")
	jsMustFail(t, 14, res[14], 401, "Unauthorized")
	jsMustFail(t, 15, res[15], 401, "Unauthorized")
	// Tpm has no default policy. MAA then answers x-ms-policy
	// "eyJhbGciOiJub25lIn0.." (C++ SDK recording GetPolicy_AAD_Tpm), on which
	// @azure/attestation 1.0.0 itself throws a TypeError after the HTTP call
	// succeeded; Maat answers the same and the client fails the same way.
	if res[17].OK || res[17].Error.StatusCode != 0 || res[17].Error.Name != "TypeError" {
		t.Fatalf("getPolicy Tpm: %+v %+v; want the client's own TypeError on MAA's empty policy JWS", res[17], res[17].Error)
	}
	if !res[16].OK || res[16].Policy != defText {
		t.Fatalf("getPolicy with the client's default validation: %+v %+v", res[16], res[16].Error)
	}
}

// TestJSClientIsolated: signed policy management and policy-management
// certificate add/list/remove in Isolated mode, with keys generated here.
func TestJSClientIsolated(t *testing.T) {
	requireJSClient(t)
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	cfg, k1 := contractIsolatedConfig(t, dir)
	r := start(t, cfg)
	kid := serverKID(t, r, dir)
	k2 := newMgmtKey(t, "maat js second management key")
	ec := newECMgmtKey(t, "maat js EC management key")
	keys := map[string]*mgmtKey{"k1": k1, "k2": k2, "ec": ec}
	steps := []jsStep{
		0:  {Op: "getCerts"},
		1:  {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy, Key: "k1"},
		2:  {Op: "getPolicy", Type: "SgxEnclave"},
		3:  {Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime},
		4:  {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy2},
		5:  {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy2, Key: "k2"},
		6:  {Op: "addCert", Cert: "k2", Key: "k1"},
		7:  {Op: "getCerts"},
		8:  {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy2, Key: "k2"},
		9:  {Op: "getPolicy", Type: "SgxEnclave"},
		10: {Op: "removeCert", Cert: "k2", Key: "k1"},
		11: {Op: "getCerts"},
		12: {Op: "resetPolicy", Type: "SgxEnclave", Key: "k2"},
		13: {Op: "resetPolicy", Type: "SgxEnclave"},
		14: {Op: "resetPolicy", Type: "SgxEnclave", Key: "k1"},
		15: {Op: "getPolicy", Type: "SgxEnclave"},
		// ES256: an ECDSA P-256 management key.
		16: {Op: "addCert", Cert: "ec", Key: "k1"},
		17: {Op: "setPolicy", Type: "SgxEnclave", Policy: permitPolicy, Key: "ec"},
		18: {Op: "getPolicy", Type: "SgxEnclave"},
		19: {Op: "attestSgxEnclave", Evidence: ev.quote, RuntimeData: ev.runtime},
		20: {Op: "resetPolicy", Type: "SgxEnclave", Key: "ec"},
		21: {Op: "removeCert", Cert: "ec", Key: "ec"},
		22: {Op: "getCerts"},
	}
	res := jsRun(t, r, dir, keys, steps)
	certsAre := func(i int, want ...*mgmtKey) {
		t.Helper()
		jsMustOK(t, i, res[i], kid)
		var got []string
		for _, chain := range res[i].Certificates {
			if len(chain) != 1 {
				t.Fatalf("step %d: certificate entry with %d certificates", i, len(chain))
			}
			got = append(got, jsPEMBody(chain[0]))
		}
		var w []string
		for _, k := range want {
			w = append(w, jsPEMBody(string(k.certPEM)))
		}
		if !jsSameSet(got, w) {
			t.Fatalf("step %d: policy management certificates differ: got %d, want %d", i, len(got), len(w))
		}
	}
	certsAre(0, k1)
	for _, i := range []int{1, 8} {
		jsMustOK(t, i, res[i], kid)
		checkSetPolicy(t, i, res[i])
	}
	if res[1].PolicySigner == nil || len(res[1].PolicySigner.Certificates) != 1 || jsPEMBody(res[1].PolicySigner.Certificates[0]) != jsPEMBody(string(k1.certPEM)) {
		t.Fatalf("signed setPolicy: x-ms-policy-signer %+v, want k1", res[1].PolicySigner)
	}
	jsMustOK(t, 2, res[2], kid)
	if res[2].Policy != permitPolicy {
		t.Fatalf("getPolicy = %q, want the set policy", res[2].Policy)
	}
	jsMustOK(t, 3, res[3], kid)
	if res[3].Token.Claims["x-ms-policy-hash"] != policy.Hash(permitPolicy) {
		t.Fatalf("attestation under the signed policy: x-ms-policy-hash %v", res[3].Token.Claims["x-ms-policy-hash"])
	}
	if ps := res[3].Result.PolicySigner; ps == nil || len(ps.Certificates) != 1 || jsPEMBody(ps.Certificates[0]) != jsPEMBody(string(k1.certPEM)) {
		t.Fatalf("attestation under the signed policy: client's policySigner %+v, want k1", ps)
	}
	jsMustFail(t, 4, res[4], 400, "InvalidOperation") // unsigned in Isolated mode
	jsMustFail(t, 5, res[5], 400, "InvalidParameter") // k2 is not (yet) a management certificate
	jsMustOK(t, 6, res[6], kid)
	if res[6].CertResult != "IsPresent" || res[6].Thumbprint != k2.thumbprint() {
		t.Fatalf("addCert: %q %q, want IsPresent %s", res[6].CertResult, res[6].Thumbprint, k2.thumbprint())
	}
	certsAre(7, k1, k2)
	jsMustOK(t, 9, res[9], kid)
	if res[9].Policy != permitPolicy2 {
		t.Fatalf("getPolicy after k2's setPolicy = %q", res[9].Policy)
	}
	jsMustOK(t, 10, res[10], kid)
	if res[10].CertResult != "IsAbsent" || res[10].Thumbprint != k2.thumbprint() {
		t.Fatalf("removeCert: %q %q, want IsAbsent %s", res[10].CertResult, res[10].Thumbprint, k2.thumbprint())
	}
	certsAre(11, k1)
	jsMustFail(t, 12, res[12], 400, "InvalidParameter") // k2 removed
	jsMustFail(t, 13, res[13], 400, "InvalidOperation") // unsigned
	jsMustOK(t, 14, res[14], kid)
	if res[14].PolicyResolution != "Removed" {
		t.Fatalf("resetPolicy: %q", res[14].PolicyResolution)
	}
	jsMustOK(t, 15, res[15], kid)
	if res[15].Policy != defaultPolicyText(t, "SgxEnclave") {
		t.Fatalf("getPolicy after reset = %q, want the default", res[15].Policy)
	}

	jsMustOK(t, 16, res[16], kid)
	if res[16].CertResult != "IsPresent" || res[16].Thumbprint != ec.thumbprint() {
		t.Fatalf("addCert EC: %q %q", res[16].CertResult, res[16].Thumbprint)
	}
	jsMustOK(t, 17, res[17], kid)
	checkSetPolicy(t, 17, res[17])
	if res[17].SentAlg != "ES256" || res[17].PolicySigner == nil || len(res[17].PolicySigner.Certificates) != 1 || jsPEMBody(res[17].PolicySigner.Certificates[0]) != jsPEMBody(string(ec.certPEM)) {
		t.Fatalf("ES256 setPolicy: sent %s, x-ms-policy-signer %+v", res[17].SentAlg, res[17].PolicySigner)
	}
	jsMustOK(t, 18, res[18], kid)
	if res[18].Policy != permitPolicy {
		t.Fatalf("getPolicy after the ES256 setPolicy = %q", res[18].Policy)
	}
	jsMustOK(t, 19, res[19], kid)
	if res[19].Token.Claims["x-ms-policy-hash"] != policy.Hash(permitPolicy) {
		t.Fatalf("attestation under the ES256-signed policy: claims %v", res[19].Token.Claims)
	}
	if ps := res[19].Result.PolicySigner; ps == nil || len(ps.Certificates) != 1 || jsPEMBody(ps.Certificates[0]) != jsPEMBody(string(ec.certPEM)) {
		t.Fatalf("attestation under the ES256-signed policy: client's policySigner %+v, want the EC certificate", ps)
	}
	jsMustOK(t, 20, res[20], kid)
	if res[20].PolicyResolution != "Removed" {
		t.Fatalf("ES256 resetPolicy: %q", res[20].PolicyResolution)
	}
	jsMustOK(t, 21, res[21], kid)
	if res[21].CertResult != "IsAbsent" || res[21].Thumbprint != ec.thumbprint() {
		t.Fatalf("removeCert EC: %q %q", res[21].CertResult, res[21].Thumbprint)
	}
	certsAre(22, k1)
}

// checkSetPolicy: the policy was Updated, and x-ms-policy-token-hash is
// SHA-256 of the JWS the client sent, which (RS256 or unsigned) is what the
// client's createAttestationPolicyToken builds.
func checkSetPolicy(t *testing.T, i int, res jsResult) {
	t.Helper()
	if res.PolicyResolution != "Updated" || res.ExpectedTokenHash == "" || res.PolicyTokenHash != res.ExpectedTokenHash {
		t.Fatalf("step %d setPolicy: resolution %q, x-ms-policy-token-hash %q, SHA-256 of the JWS sent %q", i, res.PolicyResolution, res.PolicyTokenHash, res.ExpectedTokenHash)
	}
	if res.SentAlg != "ES256" && !res.SentIsCreated {
		t.Fatalf("step %d setPolicy: the %s JWS sent is not what createAttestationPolicyToken builds", i, res.SentAlg)
	}
}

// jsPEMBody is the base64 of a PEM block without line breaks or armour.
func jsPEMBody(p string) string {
	var b strings.Builder
	for _, line := range strings.Split(p, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-----") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func jsSameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s] == 0 {
			return false
		}
		seen[s]--
	}
	return true
}
