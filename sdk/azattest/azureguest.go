package azattest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrSealedToken is wrapped by UnsealAzureGuestToken's errors about the
// sealed response's shape.
var ErrSealedToken = errors.New("azattest: malformed sealed AzureGuest token")

// maxSealedToken bounds a sealed AzureGuest token (MAA's are ~6 KB).
const maxSealedToken = 1 << 20

// UnsealAzureGuestToken decrypts the sealed token an AzureGuest attestation
// returns (Maat's and MAA's shape: base64 of the JSON {"Jwt",
// "EncryptedInnerKey", "EncryptionParams", "AuthenticationData"}) with the
// private half of the EncKey the guest sent: dec is an *rsa.PrivateKey for
// software keys, or a TPM-backed crypto.Decrypter doing RSAES-PKCS1-v1_5.
// The inner key is RSAES-PKCS1-v1_5, the token AES-256-GCM with additional
// data "Transport Key" and a separate 16-byte tag. It returns the JWT (not
// yet validated), an error wrapping ErrSealedToken for a malformed
// response, or the decryption error.
func UnsealAzureGuestToken(sealed string, dec crypto.Decrypter) (string, error) {
	if len(sealed) > maxSealedToken {
		return "", fmt.Errorf("%w: %d bytes, more than %d", ErrSealedToken, len(sealed), maxSealedToken)
	}
	decode := func(s string) ([]byte, error) {
		t := strings.TrimRight(strings.TrimSpace(s), "=")
		if b, err := base64.RawStdEncoding.DecodeString(t); err == nil {
			return b, nil
		}
		return base64.RawURLEncoding.DecodeString(t)
	}
	body, err := decode(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: not base64: %v", ErrSealedToken, err)
	}
	var st struct {
		Jwt               string
		EncryptedInnerKey string
		EncryptionParams  struct {
			BlockMode     string
			Cipher        string
			KeySizeInBits int
			Iv            string
		}
		AuthenticationData string
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("%w: %v", ErrSealedToken, err)
	}
	p := st.EncryptionParams
	if p.BlockMode != "ChainingModeGCM" || p.Cipher != "AES" || p.KeySizeInBits != 256 {
		return "", fmt.Errorf("%w: EncryptionParams %s/%s/%d, want AES/ChainingModeGCM/256", ErrSealedToken, p.Cipher, p.BlockMode, p.KeySizeInBits)
	}
	ct, err1 := decode(st.Jwt)
	wrapped, err2 := decode(st.EncryptedInnerKey)
	iv, err3 := decode(p.Iv)
	tag, err4 := decode(st.AuthenticationData)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return "", fmt.Errorf("%w: a member is not base64: %v", ErrSealedToken, err)
	}
	if len(iv) != 12 || len(tag) != 16 || len(ct) == 0 {
		return "", fmt.Errorf("%w: IV %d bytes, tag %d, ciphertext %d (want 12, 16, > 0)", ErrSealedToken, len(iv), len(tag), len(ct))
	}
	key, err := dec.Decrypt(rand.Reader, wrapped, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32})
	if err != nil {
		return "", fmt.Errorf("azattest: decrypting the AzureGuest inner key: %w", err)
	}
	if len(key) != 32 {
		return "", fmt.Errorf("azattest: the AzureGuest inner key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	pt, err := gcm.Open(nil, iv, append(ct, tag...), []byte("Transport Key"))
	if err != nil {
		return "", fmt.Errorf("azattest: the sealed AzureGuest token does not decrypt: %w", err)
	}
	return string(pt), nil
}
