package tpm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/maaerr"
)

// ChallengeSize is the size in bytes of a challenge, as MAA issues them.
const ChallengeSize = 16

// contextAAD binds sealed contexts to this use so a key shared with another
// purpose cannot be confused with it.
var contextAAD = []byte("maat/tpm/service_context/v1")

// Service issues challenges and verifies requests. It is safe for concurrent
// use. Its only mutable state is the bounded set of used challenges.
type Service struct {
	opts  Options
	aeads []sealer // [0] seals; all open (fixed keys)
	rand  io.Reader
	used  *usedSet
	// derived caches the AEADs of keys handed out by Options.ContextKeys,
	// by key hash (bounded: a key set holds few keys).
	mu      sync.Mutex
	derived map[[32]byte]sealer
}

type sealer struct {
	name string // hex SHA-256 of the key, MAA's "ProtectionKeyName"
	aead cipher.AEAD
}

// New returns a Service. It returns an error when opts are invalid (missing
// or wrong-size key, negative limits).
func New(opts Options) (*Service, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	def := DefaultOptions()
	if opts.ChallengeTTL == 0 {
		opts.ChallengeTTL = def.ChallengeTTL
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = def.MaxMessageBytes
	}
	if opts.MaxUsedChallenges == 0 {
		opts.MaxUsedChallenges = def.MaxUsedChallenges
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, rand: rand.Reader, used: newUsedSet(opts.MaxUsedChallenges), derived: map[[32]byte]sealer{}}
	if opts.ContextKeys != nil {
		return s, nil
	}
	// Copy the key material so later writes by the caller have no effect.
	keys := append([][]byte{bytes.Clone(opts.ServiceContextKey)}, opts.PreviousServiceContextKeys...)
	s.opts.ServiceContextKey = keys[0]
	s.opts.PreviousServiceContextKeys = nil
	for _, k := range keys {
		sl, err := newSealer(k)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, sl)
	}
	return s, nil
}

func newSealer(k []byte) (sealer, error) {
	if len(k) != 32 {
		return sealer{}, errors.New("tpm: service context keys must be 32 bytes")
	}
	block, err := aes.NewCipher(bytes.Clone(k))
	if err != nil {
		return sealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, err
	}
	sum := sha256.Sum256(k)
	return sealer{name: hex.EncodeToString(sum[:]), aead: aead}, nil
}

// keyring returns the sealers in force: [0] seals, all open.
func (s *Service) keyring() ([]sealer, error) {
	if s.opts.ContextKeys == nil {
		return s.aeads, nil
	}
	seal, open, err := s.opts.ContextKeys()
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.Internal, "the TPM service context keys are unavailable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.derived) > 64 {
		clear(s.derived)
	}
	out := make([]sealer, 0, 1+len(open))
	for _, k := range append([][]byte{seal}, open...) {
		sum := sha256.Sum256(k)
		sl, ok := s.derived[sum]
		if !ok {
			if sl, err = newSealer(k); err != nil {
				return nil, maaerr.Wrap(err, maaerr.Internal, "the TPM service context keys are invalid")
			}
			s.derived[sum] = sl
		}
		out = append(out, sl)
	}
	return out, nil
}

// sealedContext is the outer, visible shape of a service context, the shape
// MAA's own contexts have (a JSON object, base64url-encoded).
type sealedContext struct {
	ProtectionKeyName string `json:"ProtectionKeyName"`
	ProtectedContext  string `json:"ProtectedContext"`
}

// contextBody is what the sealed part holds.
type contextBody struct {
	Version   int    `json:"v"`
	Challenge []byte `json:"c"`
	IssuedAt  int64  `json:"iat"`
	Expiry    int64  `json:"exp"`
}

// Challenge issues a new challenge. It returns the challenge, the encoded
// service context, and the Challenge message JSON
// ({"payload":{"challenge","service_context"}}) for the HTTP layer to wrap.
// It fails only when the random source fails (Internal).
func (s *Service) Challenge() (challenge []byte, serviceContext string, message []byte, err error) {
	challenge = make([]byte, ChallengeSize)
	if _, err := io.ReadFull(s.rand, challenge); err != nil {
		return nil, "", nil, maaerr.Wrap(err, maaerr.Internal, "cannot create a challenge")
	}
	now := s.opts.Now()
	body, _ := json.Marshal(contextBody{Version: 1, Challenge: challenge, IssuedAt: now.Unix(), Expiry: now.Add(s.opts.ChallengeTTL).Unix()})
	ring, err := s.keyring()
	if err != nil {
		return nil, "", nil, err
	}
	seal := ring[0]
	nonce := make([]byte, seal.aead.NonceSize())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, "", nil, maaerr.Wrap(err, maaerr.Internal, "cannot create a challenge")
	}
	ct := seal.aead.Seal(nonce, nonce, body, contextAAD)
	outer, _ := json.Marshal(sealedContext{ProtectionKeyName: seal.name, ProtectedContext: base64.RawURLEncoding.EncodeToString(ct)})
	serviceContext = base64.RawURLEncoding.EncodeToString(outer)
	message, _ = json.Marshal(map[string]any{"payload": map[string]string{
		"challenge":       base64.RawURLEncoding.EncodeToString(challenge),
		"service_context": serviceContext,
	}})
	return challenge, serviceContext, message, nil
}

// openContext authenticates and decrypts a service context and checks its
// expiry. It does not consult or change the replay set.
func (s *Service) openContext(encoded string, now time.Time) (*contextBody, error) {
	bad := func(cause error) error {
		return maaerr.Wrap(cause, maaerr.InvalidParameter, "invalid service_context")
	}
	if len(encoded) > 4096 {
		return nil, bad(fmt.Errorf("%d bytes", len(encoded)))
	}
	raw, err := decodeB64(encoded)
	if err != nil {
		return nil, bad(err)
	}
	var outer sealedContext
	if err := json.Unmarshal(raw, &outer); err != nil {
		return nil, bad(err)
	}
	ct, err := decodeB64(outer.ProtectedContext)
	if err != nil {
		return nil, bad(err)
	}
	ring, err := s.keyring()
	if err != nil {
		return nil, err
	}
	for _, k := range ring {
		if k.name != outer.ProtectionKeyName {
			continue
		}
		ns := k.aead.NonceSize()
		if len(ct) < ns+k.aead.Overhead() {
			return nil, bad(fmt.Errorf("short"))
		}
		pt, err := k.aead.Open(nil, ct[:ns], ct[ns:], contextAAD)
		if err != nil {
			return nil, bad(err)
		}
		var body contextBody
		if err := json.Unmarshal(pt, &body); err != nil || body.Version != 1 || len(body.Challenge) != ChallengeSize {
			return nil, bad(fmt.Errorf("malformed body"))
		}
		if now.Unix() >= body.Expiry {
			return nil, maaerr.New(maaerr.InvalidParameter, "the service_context has expired; start again with an Init message")
		}
		return &body, nil
	}
	return nil, bad(fmt.Errorf("unknown protection key"))
}

// usedSet remembers challenges that were answered until they expire. It is
// per process: see PROTOCOL.md for the multi-replica limitation.
type usedSet struct {
	mu  sync.Mutex
	max int
	m   map[string]int64 // challenge -> expiry (unix seconds)
}

func newUsedSet(max int) *usedSet { return &usedSet{max: max, m: make(map[string]int64)} }

// use marks challenge as used. It returns false when it was already used, or
// when the set is full of unexpired entries (fail closed).
func (u *usedSet) use(challenge []byte, expiry, now int64) (ok bool, full bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := string(challenge)
	if exp, seen := u.m[k]; seen && exp > now {
		return false, false
	}
	if len(u.m) >= u.max {
		for c, exp := range u.m {
			if exp <= now {
				delete(u.m, c)
			}
		}
		if len(u.m) >= u.max {
			return false, true
		}
	}
	u.m[k] = expiry
	return true, false
}

// decodeB64 decodes base64url with or without padding, and tolerates standard
// base64 as MAA does for request fields.
func decodeB64(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}
