package azureguest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/maaerr"
)

// ag25 returns the attestationInfo (decoded) and the sealed response token
// of MAA's 2025-06-01 AzureGuest example.
func ag25(tb testing.TB) (info []byte, token string) {
	tb.Helper()
	var ex struct {
		Parameters struct {
			Body struct {
				AttestationInfo string `json:"attestationInfo"`
			} `json:"body"`
		} `json:"parameters"`
		Responses map[string]struct {
			Body struct {
				Token string `json:"token"`
			} `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(readTD(tb, "maa", "2025-06-01_AttestAzureGuestVm.json"), &ex); err != nil {
		tb.Fatal(err)
	}
	b, err := base64.RawURLEncoding.DecodeString(ex.Parameters.Body.AttestationInfo)
	if err != nil {
		tb.Fatal(err)
	}
	return b, ex.Responses["200"].Body.Token
}

// MAA's own 2025 example: the request parses, every TPM signature and
// binding checks, the TCG log replays, the claims come out; the AK chain
// cannot be checked (its CA is not public), so VerifyInfo refuses this
// Trusted Launch guest for that reason and no other.
func TestAG25Request(t *testing.T) {
	raw, _ := ag25(t)
	info, err := DecodeAttestationInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	if info.ProtocolVersion != "2.0" || info.OSType != "Windows" || info.OSDistro != "Microsoft" || info.OSBuild != "NotApplicable" ||
		info.OSVersionMajor != 10 || info.Isolation.Type != TrustedLaunch || len(info.TPM.PcrSet) != 12 || len(info.TcgLogs) != 67113 {
		t.Fatalf("decoded %+v", info)
	}
	if _, ok := info.ClientPayload["ArmID"].(string); !ok {
		t.Fatalf("ClientPayload %v", info.ClientPayload)
	}
	ak, q, events, enc, err := VerifyTPM(info)
	if err != nil {
		t.Fatal(err)
	}
	if enc.N.BitLen() != 2048 || len(events) == 0 || len(q.ExtraData) != 0 {
		t.Fatalf("EncKey %d bits, %d events", enc.N.BitLen(), len(events))
	}
	res := &Result{Info: info, AK: ak, Quote: q, Events: events, EncKey: enc}
	c, err := res.Claims()
	if err != nil {
		t.Fatal(err)
	}
	pcrs, _ := c[ClaimAttestedPCRs].([]any)
	if c[ClaimSecureBoot] != true || c["x-ms-azurevm-is-windows"] != true || len(pcrs) != 12 || pcrs[11] != int64(14) ||
		c["x-ms-azurevm-ostype"] != "Windows" || c[ClaimIsolationTEE] != nil || c[ClaimVMID] != nil {
		t.Fatalf("claims %v", c)
	}
	// The Windows boot-state claims MAA shows on Windows tokens.
	for name, want := range map[string]any{"x-ms-azurevm-bootdebug-enabled": false, "x-ms-azurevm-kerneldebug-enabled": false,
		"x-ms-azurevm-testsigning-enabled": false, "x-ms-azurevm-debuggersdisabled": true, "x-ms-azurevm-signingdisabled": true,
		"x-ms-azurevm-dbvalidated": true, "x-ms-azurevm-dbxvalidated": true} {
		if c[name] != want {
			t.Errorf("%s = %v, want %v", name, c[name], want)
		}
	}
	t.Logf("elam %v hvci %v", c["x-ms-azurevm-elam-enabled"], c["x-ms-azurevm-hvci-policy"])

	// The AK certificate holds AikPub; without its (unpublished) CA the
	// Trusted Launch guest is refused.
	v := New(Options{Now: func() time.Time { return pinAG25 }})
	_, err = v.VerifyInfo(ctx, info, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrAKCert, "no Azure vTPM roots")
	cert, err := x509.ParseCertificate(info.TPM.AikCert)
	if err != nil || !strings.Contains(cert.Issuer.CommonName, "Global Virtual TPM CA") {
		t.Fatalf("AikCert %v", err)
	}
	root, _ := x509.ParseCertificate(mustSelfSigned(t))
	v = New(Options{AKRoots: []*x509.Certificate{root}, Now: func() time.Time { return pinAG25 }})
	_, err = v.VerifyInfo(ctx, info, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrAKCert, "does not chain")

	// AikCert for another key.
	other := *info
	other.TPM.AikCert = mustSelfSigned(t)
	_, err = v.VerifyInfo(ctx, &other, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrAKCert, "another key")
}

func mustSelfSigned(tb testing.TB) []byte {
	tb.Helper()
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: bigOne(), NotBefore: pinAG25.Add(-time.Hour), NotAfter: pinAG25.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// The example's sealed response has the wire shape Seal produces: the
// member names and order, standard padded base64 inside, a 12-byte IV, a
// 16-byte tag, an inner key the size of the EncKey modulus. Unseal reads it
// up to the inner key, which only that vTPM can decrypt.
func TestAG25SealedShape(t *testing.T) {
	raw, token := ag25(t)
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token, "="))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Seal("x.y.z", &mustKey(t).PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	oursBody, _ := base64.RawURLEncoding.DecodeString(ours)
	if got, want := memberOrder(t, oursBody), memberOrder(t, body); got != want {
		t.Fatalf("member order %s, MAA's %s", got, want)
	}
	var st sealedToken
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	iv, _ := base64.StdEncoding.DecodeString(st.EncryptionParams.Iv)
	tag, _ := base64.StdEncoding.DecodeString(st.AuthenticationData)
	key, _ := base64.StdEncoding.DecodeString(st.EncryptedInnerKey)
	info, err := DecodeAttestationInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, enc, err := VerifyTPM(info)
	if err != nil {
		t.Fatal(err)
	}
	if len(iv) != 12 || len(tag) != 16 || len(key) != enc.Size() || st.EncryptionParams != (encryptionParams{sealBlockMode, sealPadding, sealCipher, 256, st.EncryptionParams.Iv}) {
		t.Fatalf("shape: iv %d tag %d key %d params %+v", len(iv), len(tag), len(key), st.EncryptionParams)
	}
	_, err = Unseal(token, mustKey(t))
	if err == nil || errors.Is(err, ErrSealed) {
		t.Fatalf("a foreign key must fail at decryption, not parsing: %v", err)
	}
}

// memberOrder lists the member names of a JSON document in document
// order, nested objects included.
func memberOrder(tb testing.TB, b []byte) string {
	tb.Helper()
	type frame struct{ obj, key bool }
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var st []frame
	var names []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if name, isStr := tok.(string); isStr && len(st) > 0 && st[len(st)-1].obj && st[len(st)-1].key {
			n := len(st)
			names = append(names, name)
			st[n-1].key = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				st = append(st, frame{obj: true, key: true})
			case '[':
				st = append(st, frame{})
			default:
				st = st[:len(st)-1]
				if n := len(st); n > 0 && st[n-1].obj {
					st[n-1].key = true
				}
			}
			continue
		}
		if n := len(st); n > 0 && st[n-1].obj {
			st[n-1].key = true
		}
	}
	return strings.Join(names, ",")
}
