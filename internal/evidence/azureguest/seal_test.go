package azureguest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/maat-attest/maat/sdk/azattest"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func mustKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	keyOnce.Do(func() { testKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	return testKey
}

func bigOne() *big.Int { return big.NewInt(1) }

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ4LW1zLWF0dGVzdGF0aW9uLXR5cGUiOiJhenVyZXZtIn0.c2ln"

func TestSealRoundTrip(t *testing.T) {
	k := mustKey(t)
	sealed, err := Seal(jwt, &k.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Outer: unpadded base64url only.
	if strings.ContainsAny(sealed, "+/=") {
		t.Fatalf("outer token is not unpadded base64url: %q", sealed[:40])
	}
	got, err := Unseal(sealed, k)
	if err != nil || got != jwt {
		t.Fatalf("round trip: %q %v", got, err)
	}
	// Inner members are standard padded base64 (what the C++ client's
	// base64_to_binary reads).
	body, _ := base64.RawURLEncoding.DecodeString(sealed)
	var st sealedToken
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"Jwt": st.Jwt, "EncryptedInnerKey": st.EncryptedInnerKey, "Iv": st.EncryptionParams.Iv, "AuthenticationData": st.AuthenticationData} {
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			t.Errorf("%s is not padded standard base64: %v", name, err)
		}
	}
	// Two seals differ (fresh key and IV).
	again, _ := Seal(jwt, &k.PublicKey, nil)
	if again == sealed {
		t.Fatal("sealing is deterministic")
	}
}

// decryptLikeCGA decrypts a response the way the C++ guest-attestation
// library does (TpmUnseal.cpp: GetEncryptionParameters, GetEncryptedJwt,
// GetEncryptedInnerKey, DecryptJwt), independently of Unseal: the outer
// token base64-decoded, members read by name, EncryptionParams required
// to be ChainingModeGCM / PKCS7 / AES with a non-zero KeySizeInBits, the
// inner key RSAES-PKCS1-v1_5-decrypted, AES-GCM chosen by the decrypted
// key's length, the IV length set from Iv, AAD "Transport Key", the
// ciphertext decrypted in full (plaintext length = ciphertext length), then
// the tag from AuthenticationData set before finalising.
func decryptLikeCGA(tb testing.TB, token string, k *rsa.PrivateKey) string {
	tb.Helper()
	outer, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token, "="))
	if err != nil {
		tb.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(outer, &j); err != nil {
		tb.Fatal(err)
	}
	p, _ := j["EncryptionParams"].(map[string]any)
	if p["BlockMode"] != "ChainingModeGCM" || p["BlockPadding"] != "PKCS7" || p["Cipher"] != "AES" {
		tb.Fatalf("EncryptionParams %v", p)
	}
	if n, _ := p["KeySizeInBits"].(float64); n == 0 {
		tb.Fatal("KeySizeInBits missing")
	}
	std := func(name string, v any) []byte {
		s, _ := v.(string)
		if s == "" {
			tb.Fatalf("%s missing", name)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		return b
	}
	iv, tag := std("Iv", p["Iv"]), std("AuthenticationData", j["AuthenticationData"])
	ct, wrapped := std("Jwt", j["Jwt"]), std("EncryptedInnerKey", j["EncryptedInnerKey"])
	key, err := rsa.DecryptPKCS1v15(nil, k, wrapped)
	if err != nil {
		tb.Fatal(err)
	}
	if len(key) != 16 && len(key) != 24 && len(key) != 32 {
		tb.Fatalf("no AES-GCM for a %d-byte key", len(key))
	}
	block, _ := aes.NewCipher(key)
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		tb.Fatal(err)
	}
	pt, err := gcm.Open(nil, iv, append(append([]byte(nil), ct...), tag...), []byte("Transport Key"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(pt) != len(ct) {
		tb.Fatalf("plaintext %d bytes for %d ciphertext bytes", len(pt), len(ct))
	}
	return string(pt)
}

func TestSealDecryptsLikeCGA(t *testing.T) {
	k := mustKey(t)
	sealed, err := Seal(jwt, &k.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := decryptLikeCGA(t, sealed, k); got != jwt {
		t.Fatalf("C++-style decryption gave %q", got)
	}
}

func TestUnsealErrors(t *testing.T) {
	k := mustKey(t)
	sealed, _ := Seal(jwt, &k.PublicKey, nil)
	body, _ := base64.RawURLEncoding.DecodeString(sealed)
	var st sealedToken
	_ = json.Unmarshal(body, &st)
	enc := func(s sealedToken) string {
		b, _ := json.Marshal(s)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tagged := st
	tag, _ := base64.StdEncoding.DecodeString(st.AuthenticationData)
	tag[0] ^= 1
	tagged.AuthenticationData = base64.StdEncoding.EncodeToString(tag)
	if _, err := Unseal(enc(tagged), k); err == nil || errors.Is(err, ErrSealed) {
		t.Fatalf("tampered tag: %v", err)
	}
	ctT := st
	ct, _ := base64.StdEncoding.DecodeString(st.Jwt)
	ct[3] ^= 1
	ctT.Jwt = base64.StdEncoding.EncodeToString(ct)
	if _, err := Unseal(enc(ctT), k); err == nil {
		t.Fatal("tampered ciphertext decrypted")
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := Unseal(sealed, other); err == nil {
		t.Fatal("decrypted with another key")
	}
	cbc := st
	cbc.EncryptionParams.BlockMode = "ChainingModeCBC"
	shortIV := st
	shortIV.EncryptionParams.Iv = "AAAA"
	for name, in := range map[string]string{
		"not base64": "!!!", "not json": base64.RawURLEncoding.EncodeToString([]byte("[1]")),
		"duplicate": base64.RawURLEncoding.EncodeToString([]byte(`{"Jwt":"a","Jwt":"b"}`)),
		"mode":      enc(cbc), "iv": enc(shortIV), "empty": enc(sealedToken{}),
	} {
		if _, err := Unseal(in, k); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: got %v, want ErrSealed", name, err)
		}
	}
	// Padded and standard-alphabet outer tokens are read too (the C++ and
	// Python clients accept them).
	padded := base64.URLEncoding.EncodeToString(body)
	if got, err := Unseal(padded, k); err != nil || got != jwt {
		t.Fatalf("padded outer token: %v", err)
	}
}

// The SDK's unsealing (sdk/azattest, a separate module with its own code)
// reads what Seal writes.
func TestSealSDKUnseal(t *testing.T) {
	k := mustKey(t)
	sealed, err := Seal(jwt, &k.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := azattest.UnsealAzureGuestToken(sealed, k)
	if err != nil || got != jwt {
		t.Fatalf("SDK unseal: %q %v", got, err)
	}
	if _, err := azattest.UnsealAzureGuestToken("e30", k); !errors.Is(err, azattest.ErrSealedToken) {
		t.Fatalf("SDK on {}: %v", err)
	}
}
