//go:build simulator

package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/devaik"
	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/azureguest/guestclient"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/sdk/azattest"
)

// TestAzureGuestSimulatorSDK: a Trusted Launch guest on the TPM simulator
// (AK certified by the development AIK CA, which a --dev server trusts)
// attests through the Go SDK; the server verifies it under the default
// AzureGuest policy and seals the token to the EncKey; the SDK unseals it
// with the TPM and validates it against the server's keys.
func TestAzureGuestSimulatorSDK(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	o := sdkOptions(t, r, dir)
	o.ServiceVersion = azattest.ServiceVersion2025_06_01
	c, err := azattest.NewClient("https://"+r.app.HTTPSAddr(), nil, o)
	if err != nil {
		t.Fatal(err)
	}

	sim, err := simulator.GetWithFixedSeedInsecure(21)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	tp := transport.FromReadWriter(sim)
	boot := tpmclient.SimulatedBootLog(60)
	if err := boot.ExtendPCRs(tp); err != nil {
		t.Fatal(err)
	}
	ak, akPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := devaik.Certify(akPub)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := guestclient.Collect(tp, guestclient.Input{AK: ak, AKCert: cert, TCGLog: boot.Bytes(), OSType: "Linux", OSDistro: "Ubuntu",
		OSBuild: "NotApplication", OSVersionMajor: 22, OSVersionMinor: 4, ClientPayload: map[string]string{"nonce": "sdk"},
		Isolation: azureguest.Isolation{Type: azureguest.TrustedLaunch}})
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: ev.EncKey.Handle}.Execute(tp)
	dec := guestclient.TPMDecrypter{TPM: tp, Key: ev.EncKey, Pub: ev.EncKeyPublic, PCRs: ev.PCRs}

	res, err := c.AttestAzureGuest(t.Context(), base64.RawURLEncoding.EncodeToString(ev.AttestationInfo), &azattest.AttestAzureGuestOptions{Decrypter: dec})
	if err != nil {
		t.Fatal(err)
	}
	cl := res.Result.RawClaims
	root, _ := devaik.Root()
	if cl["x-ms-attestation-type"] != "azurevm" || cl["secureboot"] != true || cl["x-maat-azurevm-akcert-root"] != root.Subject.CommonName ||
		cl["x-ms-policy-hash"] != policy.Hash(mustDefault(t, "AzureGuest")) || cl["x-ms-policy"] != nil {
		t.Fatalf("claims %v", cl)
	}
	rt, _ := cl["x-ms-runtime"].(map[string]any)
	if cp, _ := rt["client-payload"].(map[string]any); cp["nonce"] != base64.StdEncoding.EncodeToString([]byte("sdk")) {
		t.Fatalf("x-ms-runtime %v", rt)
	}

	// Over plain HTTP as MAA's C++ client sends it (capitalised member,
	// unpadded base64url), and as the spec example does (attestationInfo,
	// here padded standard base64): both answer a sealed token.
	base := "http://" + r.app.HTTPAddr()
	for _, body := range []map[string]string{
		{"AttestationInfo": base64.RawURLEncoding.EncodeToString(ev.AttestationInfo)},
		{"attestationInfo": base64.StdEncoding.EncodeToString(ev.AttestationInfo)},
	} {
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+"/attest/AzureGuest?api-version=2020-10-01", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var tok struct{ Token string }
		if resp.StatusCode != 200 || json.Unmarshal(raw, &tok) != nil {
			t.Fatalf("%d %s", resp.StatusCode, raw)
		}
		jwt, err := azattest.UnsealAzureGuestToken(tok.Token, dec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ValidateToken(t.Context(), jwt, nil); err != nil {
			t.Fatal(err)
		}
	}

	// A policy that does not authorize: MAA's PolicyEvaluationError.
	b, _ := json.Marshal(map[string]string{"AttestationInfo": base64.RawURLEncoding.EncodeToString(ev.AttestationInfo),
		"draftPolicyForAttestation": `version= 1.0;authorizationrules{c:[type=="secureboot", value==false] => permit();};issuancerules{};`})
	resp, err := http.Post(base+"/attest/AzureGuest?api-version=2020-10-01", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(raw, []byte("PolicyEvaluationError")) {
		t.Fatalf("denying draft policy: %d %s", resp.StatusCode, raw)
	}
}

func mustDefault(t *testing.T, typ string) string {
	t.Helper()
	s, ok := policy.Default(typ)
	if !ok {
		t.Fatalf("no default %s policy", typ)
	}
	return s
}
