package azureguest

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
	"io"
	"strings"

	"github.com/maat-attest/maat/internal/jsonstrict"
)

// The sealed-response constants every public client checks (contract §5.5).
const (
	sealAAD       = "Transport Key"
	sealBlockMode = "ChainingModeGCM"
	// sealPadding is what MAA writes and the C++ client requires; GCM does
	// not pad, so it describes nothing.
	sealPadding = "PKCS7"
	sealCipher  = "AES"
	sealKeyBits = 256
	// MaxSealedBytes bounds a sealed response Unseal accepts.
	MaxSealedBytes = 1 << 20
)

// sealedToken is the JSON inside the outer token, members in MAA's order.
type sealedToken struct {
	Jwt                string           `json:"Jwt"`
	EncryptedInnerKey  string           `json:"EncryptedInnerKey"`
	EncryptionParams   encryptionParams `json:"EncryptionParams"`
	AuthenticationData string           `json:"AuthenticationData"`
}

type encryptionParams struct {
	BlockMode     string `json:"BlockMode"`
	BlockPadding  string `json:"BlockPadding"`
	Cipher        string `json:"Cipher"`
	KeySizeInBits int    `json:"KeySizeInBits"`
	Iv            string `json:"Iv"`
}

// Seal encrypts an issued token the way MAA answers AzureGuest requests, so
// that only the vTPM holding the EncKey, in the quoted PCR state, can read
// it: the token is AES-256-GCM encrypted under a fresh key and 12-byte IV
// with additional data "Transport Key"; the key is RSAES-PKCS1-v1_5
// encrypted to enc; ciphertext, key, IV and 16-byte tag are standard base64
// in the JSON {"Jwt","EncryptedInnerKey","EncryptionParams","AuthenticationData"},
// which is returned as unpadded base64url (the one form all three public
// clients decode). rnd nil means crypto/rand. It returns an error only when
// the randomness source or the RSA encryption fails.
func Seal(token string, enc *rsa.PublicKey, rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	key := make([]byte, sealKeyBits/8)
	iv := make([]byte, 12)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return "", fmt.Errorf("azureguest: sealing: %w", err)
	}
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return "", fmt.Errorf("azureguest: sealing: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	out := gcm.Seal(nil, iv, []byte(token), []byte(sealAAD))
	ct, tag := out[:len(out)-gcm.Overhead()], out[len(out)-gcm.Overhead():]
	wrapped, err := rsa.EncryptPKCS1v15(rnd, enc, key)
	if err != nil {
		return "", fmt.Errorf("azureguest: sealing the inner key to the EncKey: %w", err)
	}
	std := base64.StdEncoding
	body, err := json.Marshal(sealedToken{
		Jwt:               std.EncodeToString(ct),
		EncryptedInnerKey: std.EncodeToString(wrapped),
		EncryptionParams: encryptionParams{BlockMode: sealBlockMode, BlockPadding: sealPadding, Cipher: sealCipher,
			KeySizeInBits: sealKeyBits, Iv: std.EncodeToString(iv)},
		AuthenticationData: std.EncodeToString(tag),
	})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(body), nil
}

// ErrSealed is wrapped by Unseal's errors about the sealed response's shape.
var ErrSealed = errors.New("malformed sealed AzureGuest response")

func b64Any(s string) ([]byte, error) {
	t := strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawStdEncoding.DecodeString(t); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(t)
}

// Unseal decrypts a sealed AzureGuest response (the "token" member) with
// the EncKey's private half (an *rsa.PrivateKey, or a TPM-backed
// crypto.Decrypter performing RSAES-PKCS1-v1_5) and returns the JWT. It
// accepts the outer token in any base64 variant, as the public clients do.
// It returns an error wrapping ErrSealed for a malformed response, and an
// error when the key or the GCM tag does not match.
func Unseal(sealed string, dec crypto.Decrypter) (string, error) {
	if len(sealed) > MaxSealedBytes {
		return "", fmt.Errorf("%w: %d bytes, more than %d", ErrSealed, len(sealed), MaxSealedBytes)
	}
	body, err := b64Any(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: the token is not base64: %v", ErrSealed, err)
	}
	if err := jsonstrict.Check(body, false, 4); err != nil {
		return "", fmt.Errorf("%w: %v", ErrSealed, err)
	}
	var st sealedToken
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("%w: %v", ErrSealed, err)
	}
	p := st.EncryptionParams
	if p.BlockMode != sealBlockMode || p.Cipher != sealCipher || p.KeySizeInBits != sealKeyBits {
		return "", fmt.Errorf("%w: EncryptionParams %s/%s/%d, want %s/%s/%d", ErrSealed, p.Cipher, p.BlockMode, p.KeySizeInBits, sealCipher, sealBlockMode, sealKeyBits)
	}
	ct, err1 := b64Any(st.Jwt)
	wrapped, err2 := b64Any(st.EncryptedInnerKey)
	iv, err3 := b64Any(p.Iv)
	tag, err4 := b64Any(st.AuthenticationData)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return "", fmt.Errorf("%w: a member is not base64: %v", ErrSealed, err)
	}
	if len(iv) != 12 || len(tag) != 16 || len(ct) == 0 {
		return "", fmt.Errorf("%w: IV of %d bytes, tag of %d, ciphertext of %d (want 12, 16, > 0)", ErrSealed, len(iv), len(tag), len(ct))
	}
	key, err := dec.Decrypt(rand.Reader, wrapped, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: sealKeyBits / 8})
	if err != nil {
		return "", fmt.Errorf("azureguest: decrypting the inner key: %w", err)
	}
	if len(key) != sealKeyBits/8 {
		return "", fmt.Errorf("azureguest: the inner key is %d bytes, want %d", len(key), sealKeyBits/8)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	pt, err := gcm.Open(nil, iv, append(ct, tag...), []byte(sealAAD))
	if err != nil {
		return "", fmt.Errorf("azureguest: the sealed token does not decrypt under its inner key: %w", err)
	}
	return string(pt), nil
}
