package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Sealer protects private keys at rest. Seal's output is what the store
// keeps; Open reverses it and fails on tampering or a wrong key.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

var (
	plainPrefix = []byte("plain:")
	gcmPrefix   = []byte("aes256gcm:")
)

// ErrSealed is returned by PlainSealer.Open for a key sealed with AES-GCM
// (a key-encryption key must be configured to read it).
var ErrSealed = errors.New("keys: private key is encrypted; configure the key-encryption key")

// PlainSealer stores keys unencrypted (tagged, so that a later switch to
// encryption can tell them apart).
type PlainSealer struct{}

// Seal implements Sealer.
func (PlainSealer) Seal(p []byte) ([]byte, error) { return append(bytes.Clone(plainPrefix), p...), nil }

// Open implements Sealer.
func (PlainSealer) Open(s []byte) ([]byte, error) {
	if rest, ok := bytes.CutPrefix(s, plainPrefix); ok {
		return rest, nil
	}
	if bytes.HasPrefix(s, gcmPrefix) {
		return nil, ErrSealed
	}
	return nil, errors.New("keys: unknown private key encoding")
}

// AESGCMSealer encrypts keys with AES-256-GCM under a 32-byte key. It opens
// keys stored by PlainSealer too, so encryption can be turned on later.
type AESGCMSealer struct{ aead cipher.AEAD }

// NewAESGCMSealer returns a sealer for a 32-byte key, or an error for any
// other length.
func NewAESGCMSealer(key []byte) (*AESGCMSealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keys: key-encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &AESGCMSealer{aead: aead}, nil
}

// LoadKeyEncryptionKey reads a 32-byte key from a file holding it as 64 hex
// characters, base64, or 32 raw bytes. It returns an error naming the file
// otherwise.
func LoadKeyEncryptionKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if len(b) == 32 {
		return b, nil
	}
	return nil, fmt.Errorf("key-encryption key %s: want 32 bytes as hex, base64 or raw", path)
}

// Seal implements Sealer.
func (s *AESGCMSealer) Seal(p []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(bytes.Clone(gcmPrefix), nonce...)
	return s.aead.Seal(out, nonce, p, gcmPrefix), nil
}

// Open implements Sealer.
func (s *AESGCMSealer) Open(sealed []byte) ([]byte, error) {
	if rest, ok := bytes.CutPrefix(sealed, plainPrefix); ok {
		return rest, nil
	}
	rest, ok := bytes.CutPrefix(sealed, gcmPrefix)
	if !ok || len(rest) < s.aead.NonceSize() {
		return nil, errors.New("keys: unknown private key encoding")
	}
	n := s.aead.NonceSize()
	p, err := s.aead.Open(nil, rest[:n], rest[n:], gcmPrefix)
	if err != nil {
		return nil, errors.New("keys: private key does not decrypt with the configured key-encryption key")
	}
	return p, nil
}
