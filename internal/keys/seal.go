package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Binding names the stored key a sealed blob belongs to. Sealers bind it
// into the ciphertext, so a sealed private key copied into another key's
// row, or into another instance, no longer opens.
type Binding struct {
	InstanceID string
	KID        string
}

// Sealer protects private keys at rest. Seal's output is what the store
// keeps; Open reverses it and fails on tampering, a wrong key or a wrong
// binding. Open also reports whether sealed is in an older form than Seal
// now writes (plaintext, or sealed without the binding), so that the caller
// can re-seal it.
type Sealer interface {
	Seal(plaintext []byte, b Binding) ([]byte, error)
	Open(sealed []byte, b Binding) (plaintext []byte, stale bool, err error)
}

var (
	plainPrefix = []byte("plain:")
	// gcmV1Prefix marks AES-256-GCM blobs whose additional data is the
	// prefix alone (Maat before kid and instance were bound); they are
	// still opened, and re-sealed as v2.
	gcmV1Prefix = []byte("aes256gcm:")
	gcmV2Prefix = []byte("aes256gcm-v2:")
)

// ErrSealed is returned by PlainSealer.Open for a key sealed with AES-GCM
// (a key-encryption key must be configured to read it).
var ErrSealed = errors.New("keys: private key is encrypted; configure the key-encryption key")

// IsPlaintext reports whether a stored private key is unencrypted.
func IsPlaintext(sealed []byte) bool { return bytes.HasPrefix(sealed, plainPrefix) }

// PlainSealer stores keys unencrypted (tagged, so that a later switch to
// encryption can tell them apart). Maat uses it only when the operator
// explicitly opted out of encryption.
type PlainSealer struct{}

// Seal implements Sealer.
func (PlainSealer) Seal(p []byte, _ Binding) ([]byte, error) {
	return append(bytes.Clone(plainPrefix), p...), nil
}

// Open implements Sealer. It returns ErrSealed for an encrypted key.
func (PlainSealer) Open(s []byte, _ Binding) ([]byte, bool, error) {
	if rest, ok := bytes.CutPrefix(s, plainPrefix); ok {
		return bytes.Clone(rest), false, nil
	}
	if bytes.HasPrefix(s, gcmV1Prefix) || bytes.HasPrefix(s, gcmV2Prefix) {
		return nil, false, ErrSealed
	}
	return nil, false, errors.New("keys: unknown private key encoding")
}

// AESGCMSealer encrypts keys with AES-256-GCM under a 32-byte key, binding
// the instance and kid into the additional data. It opens keys stored in
// plaintext or by older Maat versions too (reporting them stale), so that
// encryption can be turned on, and tightened, after keys exist.
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

// additionalData is the v2 AAD: a domain label, then the instance id and
// the kid, each length-prefixed so that no two bindings encode alike.
func additionalData(b Binding) []byte {
	out := append([]byte(nil), gcmV2Prefix...)
	out = append(out, "maat signing key\x00"...)
	for _, s := range []string{b.InstanceID, b.KID} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

// Seal implements Sealer.
func (s *AESGCMSealer) Seal(p []byte, b Binding) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(bytes.Clone(gcmV2Prefix), nonce...)
	return s.aead.Seal(out, nonce, p, additionalData(b)), nil
}

// Open implements Sealer. It fails when the key was sealed under another
// key-encryption key or for another instance or kid.
func (s *AESGCMSealer) Open(sealed []byte, b Binding) ([]byte, bool, error) {
	if rest, ok := bytes.CutPrefix(sealed, plainPrefix); ok {
		return bytes.Clone(rest), true, nil
	}
	n := s.aead.NonceSize()
	aad, stale := additionalData(b), false
	rest, ok := bytes.CutPrefix(sealed, gcmV2Prefix)
	if !ok {
		if rest, ok = bytes.CutPrefix(sealed, gcmV1Prefix); !ok {
			return nil, false, errors.New("keys: unknown private key encoding")
		}
		aad, stale = gcmV1Prefix, true
	}
	if len(rest) < n+s.aead.Overhead() {
		return nil, false, errors.New("keys: sealed private key is truncated")
	}
	p, err := s.aead.Open(nil, rest[:n], rest[n:], aad)
	if err != nil {
		return nil, false, errors.New("keys: private key does not decrypt with this key-encryption key: it was sealed under another one (is key-encryption-key-file the file the key was stored with? with SQLite and none set, the generated key-encryption-key in the data directory is used), or for another instance or kid")
	}
	return p, stale, nil
}

// KeyFileOptions qualifies LoadKeyEncryptionKey.
type KeyFileOptions struct {
	// AllowInsecurePermissions accepts a key file that its group or other
	// users may access. By default such a file is refused: whoever can read
	// it can unseal every signing key.
	AllowInsecurePermissions bool
}

// LoadKeyEncryptionKey reads a 32-byte key from a file holding it as 64 hex
// characters, base64, or 32 raw bytes. It returns an error naming the file
// when it cannot be read, does not hold such a key, or (on Unix, unless
// opts allow it) grants any access to its group or others.
func LoadKeyEncryptionKey(path string, opts KeyFileOptions) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && !opts.AllowInsecurePermissions && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("key-encryption key %s has mode %04o: its group or other users can access it; run chmod 600 %s (or set allow-insecure-key-file-permissions)", path, perm, path)
	}
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

// GenerateKeyEncryptionKeyFile writes a fresh random 32-byte key, as hex,
// to a new file at path with mode 0600. It returns an error wrapping
// fs.ErrExist when path exists (a key is never overwritten), and other
// errors when the file cannot be written. A reader never sees a partial
// file: the key is written aside and linked into place.
func GenerateKeyEncryptionKeyFile(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("key-encryption key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(k) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600) // CreateTemp uses 0600 already; be explicit
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("key-encryption key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("key-encryption key %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("key-encryption key %s: %w", path, err)
	}
	return nil
}

// EnsureKeyEncryptionKeyFile generates a key file at path (as
// GenerateKeyEncryptionKeyFile) unless one exists, and reports whether it
// created one.
func EnsureKeyEncryptionKeyFile(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("key-encryption key: %w", err)
	}
	err = GenerateKeyEncryptionKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		return false, nil // created concurrently
	}
	return err == nil, err
}
