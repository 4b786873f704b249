//go:build simulator

package app

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/jose"
)

// TestTPMOverHTTP drives /attest/Tpm end to end over HTTP with a real TPM
// 2.0 simulator: no policy → MAA's refusal; with a 1.1 policy, Init →
// Challenge → Request (a quote by an AIK in the simulator) → Report, a token
// signed like every Maat token with cnf, rp_data, the issued claims and the
// report properties honoured; a replayed request is refused.
func TestTPMOverHTTP(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	base := "http://" + r.app.HTTPAddr()
	const path = "/attest/Tpm?api-version=2022-08-01"
	exchange := func(msg []byte) reply {
		b, _ := json.Marshal(map[string]string{"data": jose.B64.EncodeToString(msg)})
		return sendAuth(t, base, "POST", path, b, false)
	}

	// The recorded Init of the C++ SDK gets a challenge even before a policy
	// is set (MAA answers Init the same way); the Request needs a policy.
	sim, err := simulator.GetWithFixedSeedInsecure(3)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	tp := transport.FromReadWriter(sim)
	aik, aikPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
	if err != nil {
		t.Fatal(err)
	}
	reqKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	in := tpmclient.Input{
		TPM: tp, AIK: aik, AIKPublic: aikPub,
		PCRs: []int{0, 1, 2, 3, 4, 5, 6, 7}, Banks: []tpm2.TPMAlgID{tpm2.TPMAlgSHA256},
		RequestKey: reqKey, RPID: "https://rp.example", RPData: []byte("relying party data"),
	}
	challengeOf := func() []byte {
		got := rawExchange(t, base+path, tpmclient.InitMessage())
		return got
	}
	req, err := tpmclient.BuildRequest(in, challengeOf())
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(req); got.status != 400 || got.code != "InvalidOperation" {
		t.Fatalf("request without a TPM policy: %d %s %s", got.status, got.code, got.message)
	}

	pol := `version=1.1;
configurationrules{
	=> issueproperty(type="required_pcr_mask", value=255);
	=> issueproperty(type="require_valid_aik_cert", value=false);
	=> issueproperty(type="report_validity_in_minutes", value=60);
	=> issueproperty(type="omit_x5c", value=true);
};
authorizationrules{ => permit(); };
issuancerules{
	c:[type=="aikValidated"] => issue(type="aikValidated", value=c.value);
	c:[type=="tpmVersion"] => issue(type="tpmVersion", value=c.value);
};`
	if got := sendAuth(t, base, "PUT", "/policies/Tpm?api-version=2022-08-01", []byte(unsignedPolicy(pol)), true); got.status != 200 {
		t.Fatalf("set TPM policy: %d %s %s", got.status, got.code, got.message)
	}
	req, err = tpmclient.BuildRequest(in, challengeOf())
	if err != nil {
		t.Fatal(err)
	}
	report := rawExchange(t, base+path, req)
	var rm struct {
		Payload struct {
			Report string `json:"report"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(report, &rm); err != nil || rm.Payload.Report == "" {
		t.Fatalf("report message %s: %v", report, err)
	}
	j, err := jose.Parse(rm.Payload.Report)
	if err != nil {
		t.Fatal(err)
	}
	if j.Header.Alg != "RS256" || j.Header.X5T == "" || len(j.Header.X5C) != 0 {
		t.Fatalf("report header %s: want RS256 with x5t (omit_x5c=true)", j.RawHeader)
	}
	if err := j.Verify(r.app.Keys().Current().Active.Cert.PublicKey); err != nil {
		t.Fatalf("report not signed by the instance key: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(j.Payload, &claims)
	if claims["aikValidated"] != false || claims["tpmVersion"] != float64(2) || claims["x-ms-attestation-type"] != "tpm" {
		t.Fatalf("claims %v", claims)
	}
	if claims["rp_data"] != jose.B64.EncodeToString([]byte("relying party data")) {
		t.Fatalf("rp_data %v", claims["rp_data"])
	}
	cnf, _ := claims["cnf"].(map[string]any)
	if jwk, _ := cnf["jwk"].(map[string]any); jwk["kty"] != "RSA" || jwk["n"] != jose.B64.EncodeToString(reqKey.N.Bytes()) {
		t.Fatalf("cnf %v is not the request key", cnf)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Fatalf("report validity %v s, want 3600 (report_validity_in_minutes=60)", exp-iat)
	}
	// The same request again: its challenge is used up.
	if got := exchange(req); got.status != 400 {
		t.Fatalf("replayed request: %d %s", got.status, got.code)
	}
}

// rawExchange posts one TPM message and returns the decoded answer message,
// failing the test on any error status.
func rawExchange(t *testing.T, url string, msg []byte) []byte {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"data": jose.B64.EncodeToString(msg)})
	resp, err := httpPost(url, b)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data  string `json:"data"`
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(resp, &out); err != nil || out.Data == "" {
		t.Fatalf("TPM exchange answer %s: %v", resp, err)
	}
	d, err := jose.DecodeB64Loose(out.Data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func httpPost(url string, body []byte) ([]byte, error) {
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// TestTPMSamplePoliciesOverHTTP: a simulated machine boots (a 100-event UEFI
// + Windows log measured into the simulator's PCRs) and attests over HTTP
// under MAA's sample policies, unchanged: the 1.1 sample of
// policy-version-1-1.md and the 1.2 boot sample of
// tpm-attestation-sample-policies.md. The report tokens carry the claims
// those policies derive from the evidence.
func TestTPMSamplePoliciesOverHTTP(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	base := "http://" + r.app.HTTPAddr()
	const path = "/attest/Tpm?api-version=2022-08-01"
	sim, err := simulator.GetWithFixedSeedInsecure(11)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	tp := transport.FromReadWriter(sim)
	boot := tpmclient.SimulatedBootLog(100)
	if err := boot.ExtendPCRs(tp); err != nil {
		t.Fatal(err)
	}
	aik, aikPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
	if err != nil {
		t.Fatal(err)
	}
	reqKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	in := tpmclient.Input{TPM: tp, AIK: aik,
		AIKPublic: aikPub, RequestKey: reqKey, Logs: [][]byte{boot.Bytes()}} // all 24 PCRs, both banks

	sample11 := `version=1.1;

configurationrules{
=> issueproperty(type = "required_pcr_mask", value = 15);
=> issueproperty(type = "require_valid_aik_cert", value = false);
};

authorizationrules { 
    => permit();
};


issuancerules
{
[type=="aikValidated", value==true]&& 
[type=="secureBootEnabled", value==true] &&
[type=="bootDebuggingDisabled", value==true] && 
[type=="notSafeMode", value==true] => issue(type="PlatformAttested", value=true);

[type=="aikValidated", value==false]&& 
[type=="secureBootEnabled", value==true] &&
[type=="bootDebuggingDisabled", value==true] && 
[type=="notSafeMode", value==true] => issue(type="PlatformAttested", value=false);
};`
	sample12, err := os.ReadFile("../evidence/tpm/testdata/sample_policy_1_2_boot.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, policy string
		want         map[string]any
	}{
		// No AIK certificate chains here, so aikValidated is false and the
		// sample's second rule fires.
		{"1.1 sample", sample11, map[string]any{"PlatformAttested": false}},
		// The 1.2 sample needs require_valid_aik_cert off for an uncertified
		// AIK; its configurationrules are empty, so the default (true) holds
		// and the request is refused — checked below.
		{"1.2 boot sample", strings.Replace(string(sample12), "configurationrules{\n};", "configurationrules{\n=> issueproperty(type=\"require_valid_aik_cert\", value=false);\n};", 1),
			map[string]any{"aikValidated": false, "SecureBootEnabled": true, "CodeIntegrityEnabled": true, "BitlockerStatus": false, "ELAMDriverLoaded": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sendAuth(t, base, "PUT", "/policies/Tpm?api-version=2022-08-01", []byte(unsignedPolicy(tc.policy)), true); got.status != 200 {
				t.Fatalf("set policy: %d %s %s", got.status, got.code, got.message)
			}
			req, err := tpmclient.BuildRequest(in, rawExchange(t, base+path, tpmclient.InitMessage()))
			if err != nil {
				t.Fatal(err)
			}
			var rm struct {
				Payload struct{ Report string } `json:"payload"`
			}
			json.Unmarshal(rawExchange(t, base+path, req), &rm)
			j, err := jose.Parse(rm.Payload.Report)
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			json.Unmarshal(j.Payload, &claims)
			for k, v := range tc.want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v (claims %v)", k, claims[k], v, claims)
				}
			}
			if _, ok := claims["pcrs"]; ok {
				t.Error("read-only pcrs claim reached the token")
			}
		})
	}
	// The 1.2 sample unchanged keeps require_valid_aik_cert at its default
	// (true): an AIK without a certificate is refused.
	if got := sendAuth(t, base, "PUT", "/policies/Tpm?api-version=2022-08-01", []byte(unsignedPolicy(string(sample12))), true); got.status != 200 {
		t.Fatalf("set policy: %d %s", got.status, got.code)
	}
	req, err := tpmclient.BuildRequest(in, rawExchange(t, base+path, tpmclient.InitMessage()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"data": jose.B64.EncodeToString(req)})
	if got := sendAuth(t, base, "POST", path, b, false); got.status != 400 {
		t.Fatalf("uncertified AIK under require_valid_aik_cert=true: %d %s", got.status, got.code)
	}
}
