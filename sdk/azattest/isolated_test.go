package azattest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// .NET SDK isolated-mode traffic (2020-11): real keys, real signed requests
// and MAA's answers. See testdata/README.md.

func readPEM(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/net-isolated/" + name)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", name)
	}
	return blk.Bytes
}

func isolatedKey(t *testing.T, instance string) SigningKey {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, "isolatedSigningKey."+instance+".pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(readPEM(t, "isolatedSigningCertificate."+instance+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	return SigningKey{Signer: k.(crypto.Signer), Certificate: c}
}

func readText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/net-isolated/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// maaZFgORP1G is the MAA signing key of both 2020 instances (RSA-1024).
func maaZFgORP1G(t *testing.T) []Signer {
	pub, err := x509.ParsePKIXPublicKey(readPEM(t, "SetPolicySecuredIsolated.certs_kid_ZFgORP1G.spki.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return []Signer{{KeyID: "ZFgORP1GGaYWUhC1tiHEfNNObvPWDYK+MukaM7/lotc=", PublicKey: pub}}
}

func jwsParts(t *testing.T, s string) (hdr, payload map[string]any) {
	t.Helper()
	tok := mustParse(t, s)
	hdr = tok.RawHeader()
	payload = tok.RawClaims()
	return
}

func TestIsolatedSetPolicy(t *testing.T) {
	key := isolatedKey(t, "larryoattestationiso_2020-11-22")
	at := time.Date(2020, 11, 23, 23, 59, 30, 0, time.UTC)
	o := &TokenValidationOptions{ExpectedIssuer: "https://larryoattestationiso.wus.attest.azure.net", Now: func() time.Time { return at }}
	signers := maaZFgORP1G(t)

	recorded := readText(t, "SetPolicySecuredIsolated.entry3.PUT_policies_OpenEnclave.request_body.jws")
	policy := readText(t, "SetPolicySecuredIsolated.entry3.policy_text.txt")
	policyRaw, _ := os.ReadFile("testdata/net-isolated/SetPolicySecuredIsolated.entry3.policy_text.txt")

	ours, err := CreatePolicyToken(string(policyRaw), &key)
	if err != nil {
		t.Fatal(err)
	}
	// Same shape as the request the service accepted: header {alg, x5c} with
	// the same certificate (the .NET SDK labelled alg "RSA256"; we send the
	// registered "RS256"), identical payload.
	rh, rp := jwsParts(t, recorded)
	oh, op := jwsParts(t, ours.String())
	if !reflect.DeepEqual(keysOf(rh), keysOf(oh)) || !reflect.DeepEqual(rh["x5c"], oh["x5c"]) || oh["alg"] != "RS256" {
		t.Errorf("header shape: recorded %v, ours %v", keysOf(rh), oh)
	}
	if !reflect.DeepEqual(rp, op) {
		t.Errorf("payload differs: recorded %v ours %v", rp, op)
	}
	if _, err := ours.Validate([]Signer{{Certificates: []*x509.Certificate{key.Certificate}, PublicKey: key.Certificate.PublicKey}},
		&TokenValidationOptions{DisableExpirationCheck: true, DisableIssuerCheck: true, Now: func() time.Time { return at }}); err != nil {
		t.Errorf("our signature: %v", err)
	}
	// The recorded request's signature verifies (RS256 under its "RSA256" label).
	rt := mustParse(t, recorded)
	d := sha256.Sum256([]byte(rt.SigningInput()))
	if err := rsa.VerifyPKCS1v15(key.Certificate.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], rt.Signature()); err != nil {
		t.Errorf("recorded request signature: %v", err)
	}
	if txt, _ := policyText(rt); strings.TrimSpace(txt) != policy {
		t.Errorf("recorded policy text differs")
	}

	// MAA's answer validates and its token hash is PolicyTokenHash of the JWS sent.
	resp := mustParse(t, readText(t, "SetPolicySecuredIsolated.entry3.PUT_policies_OpenEnclave.response_token.jwt"))
	if _, err := resp.Validate(signers, o); err != nil {
		t.Fatal(err)
	}
	r, err := newPolicyResult(resp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != PolicyModificationUpdated || !bytes.Equal(r.TokenHash, PolicyTokenHash(recorded)) {
		t.Errorf("result %v hash %x, want %x", r.Result, r.TokenHash, PolicyTokenHash(recorded))
	}
	if r.Signer == nil || !r.Signer.Certificates[0].Equal(key.Certificate) {
		t.Errorf("signer %+v", r.Signer)
	}

	// Resets: signed, empty payload; MAA answered Removed.
	recReset := readText(t, "SetPolicySecuredIsolated.entry0.reset_OpenEnclave.request_body.jws")
	ourReset, err := createResetToken(&key)
	if err != nil {
		t.Fatal(err)
	}
	rh, _ = jwsParts(t, recReset)
	oh, _ = jwsParts(t, ourReset.String())
	if !reflect.DeepEqual(rh["x5c"], oh["x5c"]) || len(mustParse(t, recReset).Payload()) != 0 || len(ourReset.Payload()) != 0 {
		t.Error("reset shape differs")
	}
	for _, f := range []string{"SetPolicySecuredIsolated.entry0.reset_OpenEnclave.response_token.jwt", "SetPolicySecuredIsolated.entry5.reset_OpenEnclave.response_token.jwt"} {
		tok := mustParse(t, readText(t, f))
		if _, err := tok.Validate(signers, o); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if r, _ := newPolicyResult(tok); r.Result != PolicyModificationRemoved {
			t.Errorf("%s: %v", f, r.Result)
		}
	}
	// The default policy returned by GET.
	get := mustParse(t, readText(t, "SetPolicySecuredIsolated.entry2.GET_policies_OpenEnclave_default.response_token.jwt"))
	if _, err := get.Validate(signers, o); err != nil {
		t.Fatal(err)
	}
	var body struct {
		P string `json:"x-ms-policy"`
	}
	_ = get.UnmarshalClaims(&body)
	txt, err := policyText(mustParse(t, body.P))
	if err != nil || !strings.HasPrefix(txt, "version= 1.0;authorizationrules{c:[type==\"$is-debuggable\"] => permit();};") {
		t.Errorf("default policy %q %v", txt, err)
	}
}

func keysOf(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	if len(k) > 1 && k[0] > k[1] {
		k[0], k[1] = k[1], k[0]
	}
	return k
}

func TestIsolatedPolicyManagementCertificates(t *testing.T) {
	key := isolatedKey(t, "attestisosdktests_2020-11-19")
	at := time.Date(2020, 11, 21, 22, 12, 30, 0, time.UTC)
	o := &TokenValidationOptions{ExpectedIssuer: "https://attestisosdktests.wus.attest.azure.net", Now: func() time.Time { return at }}
	signers := maaZFgORP1G(t)
	cert2, err := x509.ParseCertificate(readPEM(t, "policySigningCertificate2.attestisosdktests_2020-11-19.pem"))
	if err != nil {
		t.Fatal(err)
	}
	recorded := readText(t, "AddRemovePolicyManagementCertificate.entry0.certificates_add.request_body.jws")
	recorded = strings.Trim(recorded, `"`)
	ours, err := createCertificateToken(cert2, key)
	if err != nil {
		t.Fatal(err)
	}
	rh, rp := jwsParts(t, recorded)
	oh, op := jwsParts(t, ours.String())
	if !reflect.DeepEqual(rh["x5c"], oh["x5c"]) {
		t.Error("signer x5c differs")
	}
	rc := rp["policyCertificate"].(map[string]any)
	oc := op["policyCertificate"].(map[string]any)
	if !reflect.DeepEqual(rc["x5c"], oc["x5c"]) || rc["kty"] != oc["kty"] {
		t.Errorf("policyCertificate differs: %v vs %v", rc, oc)
	}
	rt := mustParse(t, recorded)
	d := sha256.Sum256([]byte(rt.SigningInput()))
	if err := rsa.VerifyPKCS1v15(key.Certificate.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], rt.Signature()); err != nil {
		t.Errorf("recorded request signature: %v", err)
	}
	tp := sha1.Sum(cert2.Raw)
	thumb := strings.ToUpper(hex.EncodeToString(tp[:]))
	if thumb != "374664A1E7A90041C74284EDD704F5C1DA8899AF" {
		t.Fatalf("thumbprint %s", thumb)
	}
	for f, want := range map[string]CertificateModification{
		"AddRemovePolicyManagementCertificate.entry0.certificates_add.response_token.jwt": CertificateModificationIsPresent,
		"AddRemovePolicyManagementCertificate.remove.response_token.jwt":                  CertificateModificationIsAbsent,
	} {
		tok := mustParse(t, readText(t, f))
		if _, err := tok.Validate(signers, o); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var res struct {
			Thumbprint string `json:"x-ms-certificate-thumbprint"`
			Result     string `json:"x-ms-policycertificates-result"`
		}
		_ = json.Unmarshal(tok.Payload(), &res)
		if res.Thumbprint != thumb || CertificateModification(res.Result) != want {
			t.Errorf("%s: %+v", f, res)
		}
	}
	last := mustParse(t, readText(t, "AddRemovePolicyManagementCertificate.lastentry.GET_certificates.response_token.jwt"))
	if _, err := last.Validate(signers, o); err != nil {
		t.Fatal(err)
	}
}
