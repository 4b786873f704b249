package app

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// Replay of real MAA traffic: the recorded requests of the Azure SDK for C++
// (2022-11-17) and the .NET SDK's isolated-mode excerpts (2020-11) are sent
// to Maat, and the answers compared with MAA's: same status, same error code,
// same claim names, and the same values for every claim that does not depend
// on the signer, the time or the collateral version.
//
// The recordings live in sdk/azattest/testdata (shared with the SDK's
// playback tests; provenance in its README). SGX collateral: the May-2025
// Intel responses for FMSPC 00906ED50000 (internal/testsupport/sgxvectors/data/pcs2025),
// with the server clock pinned at 2025-06-01, where these 2021 quotes are
// OutOfDate, so the instance is configured to accept OutOfDate.

const (
	cppRecordings = "../../sdk/azattest/testdata/cpp-recordings"
	netIsolated   = "../../sdk/azattest/testdata/net-isolated"

	devToken = "replay-test-token"
)

type recording struct {
	Entries []struct {
		RequestURI     string            `json:"RequestUri"`
		RequestMethod  string            `json:"RequestMethod"`
		RequestHeaders map[string]string `json:"RequestHeaders"`
		RequestBody    json.RawMessage   `json:"RequestBody"`
		StatusCode     int               `json:"StatusCode"`
		ResponseBody   json.RawMessage   `json:"ResponseBody"`
	} `json:"Entries"`
}

func loadRecording(t *testing.T, name string) recording {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cppRecordings, name))
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func replayConfig(t *testing.T, mode string, certs ...string) config.Config {
	cfg := testConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	cfg.DevTime = "2025-06-01T00:00:00Z"
	cfg.CollateralDir = sgxvectors.Path("pcs2025")
	cfg.AcceptTCBStatus = []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate"}
	cfg.DevBearerToken = devToken
	cfg.Mode = mode
	cfg.PolicyMgmtCerts = certs
	return cfg
}

// requestBody returns the recorded body bytes as sent: test-proxy stores
// JSON bodies as objects and text bodies as strings.
func requestBody(raw json.RawMessage, contentType string) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if strings.HasPrefix(contentType, "application/json") && raw[0] == '{' {
		return raw
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && raw[0] == '"' {
		return []byte(s)
	}
	return raw
}

type reply struct {
	status  int
	token   string
	claims  map[string]any
	code    string
	message string
}

func send(t *testing.T, base, method, path string, body []byte, contentType string) reply {
	t.Helper()
	return sendReq(t, base, method, path, body, contentType, true)
}

func sendAuth(t *testing.T, base, method, path string, body []byte, auth bool) reply {
	t.Helper()
	return sendReq(t, base, method, path, body, "application/json", auth)
}

func sendReq(t *testing.T, base, method, path string, body []byte, contentType string, auth bool) reply {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+devToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return parseReply(t, resp.StatusCode, b)
}

func parseReply(t *testing.T, status int, b []byte) reply {
	t.Helper()
	r := reply{status: status}
	var env struct {
		Token string `json:"token"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("response %q is not JSON: %v", b, err)
	}
	r.code, r.message = env.Error.Code, env.Error.Message
	if env.Token != "" {
		r.token = env.Token
		j, err := jose.Parse(env.Token)
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		if err := json.Unmarshal(j.Payload, &r.claims); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// timeOrSigner are claims whose values legitimately differ.
var timeOrSigner = map[string]bool{"iat": true, "nbf": true, "exp": true, "jti": true, "iss": true}

// collateralDependent are the collateral hashes: Maat verifies with 2025
// collateral, MAA used 2022 collateral; only quotehash must match.
func compareCollateral(t *testing.T, label string, mine, theirs any) {
	t.Helper()
	m, _ := mine.(map[string]any)
	th, _ := theirs.(map[string]any)
	if !reflect.DeepEqual(sortedKeys(m), sortedKeys(th)) {
		t.Errorf("%s: collateral keys %v, MAA %v", label, sortedKeys(m), sortedKeys(th))
	}
	if m["quotehash"] != th["quotehash"] {
		t.Errorf("%s: quotehash %v, MAA %v", label, m["quotehash"], th["quotehash"])
	}
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// compareClaims checks Maat's claims against MAA's: every MAA claim is
// present with an equal value (except time/signer and collateral hashes),
// and Maat adds nothing outside its own x-maat- namespace.
func compareClaims(t *testing.T, label string, mine, theirs map[string]any) {
	t.Helper()
	for k, v := range theirs {
		if timeOrSigner[k] {
			if _, ok := mine[k]; !ok {
				t.Errorf("%s: claim %s missing", label, k)
			}
			continue
		}
		switch k {
		case "x-ms-sgx-collateral", "maa-attestationcollateral":
			compareCollateral(t, label+" "+k, mine[k], v)
			continue
		case "x-ms-policy-signer":
			// Compare the certificate, not the JWK member order.
			if !reflect.DeepEqual(x5cOf(mine[k]), x5cOf(v)) {
				t.Errorf("%s: x-ms-policy-signer %v, MAA %v", label, mine[k], v)
			}
			continue
		}
		if !reflect.DeepEqual(mine[k], v) {
			t.Errorf("%s: claim %s = %v, MAA %v", label, k, mine[k], v)
		}
	}
	for k := range mine {
		if _, ok := theirs[k]; !ok && !strings.HasPrefix(k, "x-maat-") {
			t.Errorf("%s: Maat adds claim %s that MAA does not emit", label, k)
		}
	}
}

func x5cOf(v any) any {
	m, _ := v.(map[string]any)
	return m["x5c"]
}

func recordedReply(t *testing.T, status int, body json.RawMessage) reply {
	return parseReply(t, status, body)
}

func pathOf(uri string) string {
	_, p, _ := strings.Cut(uri, ".attest.azure.net")
	return p
}

func TestReplayAttestation(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	base := "http://" + r.app.HTTPAddr()
	files, _ := filepath.Glob(filepath.Join(cppRecordings, "Attestation-AttestationTests.*.json"))
	if len(files) < 24 {
		t.Fatalf("found %d attestation recordings, want 30", len(files))
	}
	n := 0
	for _, f := range files {
		rec := loadRecording(t, filepath.Base(f))
		for i, e := range rec.Entries {
			if !strings.Contains(e.RequestURI, "/attest/") {
				continue
			}
			n++
			label := filepath.Base(f) + "#" + string(rune('0'+i))
			ct := e.RequestHeaders["Content-Type"]
			got := send(t, base, e.RequestMethod, pathOf(e.RequestURI), requestBody(e.RequestBody, ct), ct)
			want := recordedReply(t, e.StatusCode, e.ResponseBody)
			if got.status != want.status || got.code != want.code {
				t.Errorf("%s: %d %s, MAA %d %s", label, got.status, got.code, want.status, want.code)
				continue
			}
			if want.claims != nil {
				compareClaims(t, label, got.claims, want.claims)
				// Draft-policy results are unsecured, as MAA's.
				gj, _ := jose.Parse(got.token)
				wj, _ := jose.Parse(want.token)
				if gj.Unsecured() != wj.Unsecured() {
					t.Errorf("%s: unsecured=%v, MAA %v", label, gj.Unsecured(), wj.Unsecured())
				}
			}
		}
	}
	t.Logf("replayed %d recorded attestations", n)
}

// policyRecordings replays policy get/set/reset recordings against an AAD
// instance (unsigned and signed-with-a-generated-key sets are both allowed
// there, as MAA allows them).
func TestReplayPolicies(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(cppRecordings, "Policy-PolicyTests.PolicyTests-*.json"))
	if len(files) == 0 {
		t.Fatal("no policy recordings")
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(strings.TrimPrefix(name, "Policy-PolicyTests.PolicyTests-"), ".json"), func(t *testing.T) {
			r := start(t, replayConfig(t, "aad"))
			replayEntries(t, "http://"+r.app.HTTPAddr(), name, "/policies/")
		})
	}
}

// TestReplayCertificates replays the C++ certificate recordings: GET on AAD
// (empty set), add on an Isolated instance whose management certificate is
// the one that signed the recorded request, and the failed add/remove on AAD.
func TestReplayCertificates(t *testing.T) {
	t.Run("AAD", func(t *testing.T) {
		r := start(t, replayConfig(t, "aad"))
		base := "http://" + r.app.HTTPAddr()
		for _, name := range []string{"CertificateTests.GetPolicyManagementCertificatesAad.json", "CertificateTests.VerifyFailedAddCertificate.json", "CertificateTests.VerifyFailedRemoveCertificate.json"} {
			replayEntries(t, base, name, "/certificates")
		}
	})
	t.Run("Isolated", func(t *testing.T) {
		rec := loadRecording(t, "CertificateTests.AddPolicyManagementCertificate.json")
		var signer string
		for _, e := range rec.Entries {
			if strings.Contains(e.RequestURI, "certificates:add") {
				var jws string
				if err := json.Unmarshal(requestBody(e.RequestBody, "application/json"), &jws); err != nil {
					t.Fatalf("recorded add body is not a JSON string: %v", err)
				}
				signer = headerCertPEM(t, jws)
			}
		}
		certFile := filepath.Join(t.TempDir(), "mgmt.pem")
		os.WriteFile(certFile, []byte(signer), 0o600)
		cfg := replayConfig(t, "isolated", certFile)
		// Isolated mode holds the signer to its validity window: replay at
		// the time of the recording (the signer was issued that day).
		blk, _ := pem.Decode([]byte(signer))
		sc, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DevTime = sc.NotBefore.Add(time.Hour).UTC().Format(time.RFC3339)
		r := start(t, cfg)
		base := "http://" + r.app.HTTPAddr()
		replayEntries(t, base, "CertificateTests.AddPolicyManagementCertificate.json", "/certificates")
		// Then the recorded remove (of the same certificate) succeeds.
		replayEntries(t, base, "CertificateTests.RemovePolicyManagementCertificate.json", "/certificates:remove")
	})
}

func replayEntries(t *testing.T, base, name, pathContains string) {
	t.Helper()
	rec := loadRecording(t, name)
	for i, e := range rec.Entries {
		if !strings.Contains(e.RequestURI, pathContains) {
			continue
		}
		ct := e.RequestHeaders["Content-Type"]
		got := send(t, base, e.RequestMethod, pathOf(e.RequestURI), requestBody(e.RequestBody, ct), ct)
		want := recordedReply(t, e.StatusCode, e.ResponseBody)
		label := name + "#" + string(rune('0'+i)) + " " + e.RequestMethod + " " + pathOf(e.RequestURI)
		if got.status != want.status || got.code != want.code {
			t.Fatalf("%s: %d %s, MAA %d %s", label, got.status, got.code, want.status, want.code)
		}
		if want.claims != nil {
			compareClaims(t, label, got.claims, want.claims)
		}
	}
}

func headerCertPEM(t *testing.T, jws string) string {
	t.Helper()
	j, err := jose.Parse(jws)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := j.HeaderCertificates()
	if err != nil {
		t.Fatal(err)
	}
	return "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(certs[0].Raw) + "\n-----END CERTIFICATE-----\n"
}

// TestReplayNETIsolated replays the .NET SDK's 2020 isolated-mode traffic
// (alg "RSA256" headers, JSON-escaped x5c) with the server clock at the time
// of the recording.
func TestReplayNETIsolated(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(netIsolated, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	claimsOf := func(tok string) map[string]any {
		j, err := jose.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		json.Unmarshal(j.Payload, &c)
		return c
	}
	t.Run("SetPolicySecuredIsolated", func(t *testing.T) {
		cfg := replayConfig(t, "isolated", filepath.Join(netIsolated, "isolatedSigningCertificate.larryoattestationiso_2020-11-22.pem"))
		cfg.DevTime = "2020-11-23T23:59:30Z"
		// The recorded flow re-sends the first signed reset (byte-identical)
		// after a set: MAA has no replay protection. Replay it as MAA
		// answered, with Maat's anti-rollback off; the default refuses that
		// step (checked after the loop).
		cfg.AllowManagementReplay = true
		r := start(t, cfg)
		base := "http://" + r.app.HTTPAddr()
		steps := []struct{ method, path, body, resp string }{
			{"POST", "/policies/OpenEnclave:reset?api-version=2020-10-01", "SetPolicySecuredIsolated.entry0.reset_OpenEnclave.request_body.jws", "SetPolicySecuredIsolated.entry0.reset_OpenEnclave.response_token.jwt"},
			{"GET", "/policies/OpenEnclave?api-version=2020-10-01", "", "SetPolicySecuredIsolated.entry2.GET_policies_OpenEnclave_default.response_token.jwt"},
			{"PUT", "/policies/OpenEnclave?api-version=2020-10-01", "SetPolicySecuredIsolated.entry3.PUT_policies_OpenEnclave.request_body.jws", "SetPolicySecuredIsolated.entry3.PUT_policies_OpenEnclave.response_token.jwt"},
			{"POST", "/policies/OpenEnclave:reset?api-version=2020-10-01", "SetPolicySecuredIsolated.entry0.reset_OpenEnclave.request_body.jws", "SetPolicySecuredIsolated.entry5.reset_OpenEnclave.response_token.jwt"},
		}
		for _, s := range steps {
			var body []byte
			if s.body != "" {
				body = []byte(read(s.body))
			}
			got := send(t, base, s.method, s.path, body, "text/plain")
			if got.status != 200 {
				t.Fatalf("%s %s: %d %s", s.method, s.path, got.status, got.code)
			}
			want := claimsOf(read(s.resp))
			if s.method == "GET" {
				// The 2020 service's default OpenEnclave policy differs from
				// today's; compare the shape (an unsecured policy JWS).
				gp, _ := jose.Parse(got.claims["x-ms-policy"].(string))
				wp, _ := jose.Parse(want["x-ms-policy"].(string))
				if !gp.Unsecured() || !wp.Unsecured() {
					t.Fatalf("default policy JWS not unsecured")
				}
				continue
			}
			compareClaims(t, s.method+" "+s.path, got.claims, want)
		}

		cfg = replayConfig(t, "isolated", filepath.Join(netIsolated, "isolatedSigningCertificate.larryoattestationiso_2020-11-22.pem"))
		cfg.DevTime = "2020-11-23T23:59:30Z"
		r = start(t, cfg)
		base = "http://" + r.app.HTTPAddr()
		for i, s := range steps {
			if s.body == "" {
				continue
			}
			got := send(t, base, s.method, s.path, []byte(read(s.body)), "text/plain")
			if want := 200; i == len(steps)-1 {
				if got.status != 409 || got.code != "Conflict" || !strings.Contains(got.message, "replay") {
					t.Fatalf("replayed reset after a set: %d %s %s; want 409 Conflict", got.status, got.code, got.message)
				}
			} else if got.status != want {
				t.Fatalf("%s %s: %d %s", s.method, s.path, got.status, got.code)
			}
		}
	})
	t.Run("AddRemovePolicyManagementCertificate", func(t *testing.T) {
		cfg := replayConfig(t, "isolated", filepath.Join(netIsolated, "isolatedSigningCertificate.attestisosdktests_2020-11-19.pem"))
		cfg.DevTime = "2020-11-21T22:12:30Z"
		r := start(t, cfg)
		base := "http://" + r.app.HTTPAddr()
		req := read("AddRemovePolicyManagementCertificate.entry0.certificates_add.request_body.jws")
		quoted, _ := json.Marshal(req)
		got := send(t, base, "POST", "/certificates:add?api-version=2020-10-01", quoted, "application/json")
		compareClaims(t, "add", got.claims, claimsOf(read("AddRemovePolicyManagementCertificate.entry0.certificates_add.response_token.jwt")))
		// The 2025-06-01 body shape is accepted too (a retry of the add in
		// force; after the remove it would be a refused replay).
		obj, _ := json.Marshal(map[string]string{"policyCertificateToAdd": req})
		got = send(t, base, "POST", "/certificates:add?api-version=2025-06-01", obj, "application/json")
		if got.claims["x-ms-policycertificates-result"] != "IsPresent" {
			t.Fatalf("2025 add body: %+v", got)
		}
		// The remove body is byte-identical to the add body (F9).
		got = send(t, base, "POST", "/certificates:remove?api-version=2020-10-01", quoted, "application/json")
		compareClaims(t, "remove", got.claims, claimsOf(read("AddRemovePolicyManagementCertificate.remove.response_token.jwt")))
		got = send(t, base, "GET", "/certificates?api-version=2020-10-01", nil, "")
		want := claimsOf(read("AddRemovePolicyManagementCertificate.lastentry.GET_certificates.response_token.jwt"))
		compareClaims(t, "GET certificates", got.claims, want)
		// Replaying the add after the remove would re-add a removed
		// (perhaps compromised) certificate: refused.
		got = send(t, base, "POST", "/certificates:add?api-version=2020-10-01", quoted, "application/json")
		if got.status != 409 || got.code != "Conflict" {
			t.Fatalf("replayed add after remove: %d %s %s", got.status, got.code, got.message)
		}
	})
}
