package tpm

import (
	"crypto/x509"
	"errors"
	"time"
)

// Default limits and lifetimes. They are the values DefaultOptions uses and
// the values a zero field falls back to.
const (
	// DefaultChallengeTTL is how long a challenge (and its service context)
	// may be answered.
	DefaultChallengeTTL = 5 * time.Minute
	// DefaultMaxMessageBytes bounds a decoded protocol message.
	DefaultMaxMessageBytes = 4 << 20
	// DefaultMaxUsedChallenges bounds the in-memory replay set.
	DefaultMaxUsedChallenges = 100_000
	// DefaultCustomClaimPrefix is prepended to custom claim names when the
	// caller gives no prefix (see PROTOCOL.md: MAA's URL is not documented).
	DefaultCustomClaimPrefix = "https://schemas.maat-attest.dev/tpm/custom-claims/"
)

// Options configure a Service. They are immutable after New: the Service
// copies them and never writes to them. The zero value of every field except
// ServiceContextKey means "use the default".
type Options struct {
	// ServiceContextKey seals service contexts (AES-256-GCM). It must be 32
	// bytes and shared by all replicas that serve the same instance. Required.
	ServiceContextKey []byte
	// PreviousServiceContextKeys are still accepted for opening contexts
	// (key rotation); they never seal.
	PreviousServiceContextKeys [][]byte
	// ContextKeys, when set, is asked for the sealing key and the keys that
	// still open on every challenge and request, instead of the fixed
	// ServiceContextKey/PreviousServiceContextKeys: replicas that derive the
	// keys from a rotating key set then agree after a rotation. Every key
	// must be 32 bytes; an error fails the call (Internal).
	ContextKeys func() (seal []byte, open [][]byte, err error)
	// ChallengeTTL is the lifetime of a challenge; zero means DefaultChallengeTTL.
	ChallengeTTL time.Duration
	// AIKRoots are the trust anchors for aik_cert. Nil means no AIK
	// certificate validates (aikValidated is false).
	AIKRoots *x509.CertPool
	// AIKIntermediates may complete the chain from aik_cert to AIKRoots.
	AIKIntermediates *x509.CertPool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxMessageBytes bounds a decoded message; zero means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxUsedChallenges bounds the replay set; zero means DefaultMaxUsedChallenges.
	MaxUsedChallenges int
}

// DefaultOptions returns Options with every default spelled out and no key:
// the caller must set ServiceContextKey.
func DefaultOptions() Options {
	return Options{
		ChallengeTTL:      DefaultChallengeTTL,
		MaxMessageBytes:   DefaultMaxMessageBytes,
		MaxUsedChallenges: DefaultMaxUsedChallenges,
	}
}

// VerifyOptions are the per-call inputs of Service.Verify that come from the
// instance's policy (configuration rules) and identity.
type VerifyOptions struct {
	// RequireValidAIKCert makes an AIK certificate that does not chain to
	// Options.AIKRoots fatal (policy property require_valid_aik_cert). When
	// false the result only says aikValidated=false.
	RequireValidAIKCert bool
	// RequiredPCRMask is a bit mask of PCR indices (bit i = PCR i) that must
	// all be covered by the quote (policy property required_pcr_mask). Zero
	// requires nothing.
	RequiredPCRMask uint32
	// CustomClaimPrefix is prepended to custom claim names; empty means
	// DefaultCustomClaimPrefix.
	CustomClaimPrefix string
}

func (o Options) validate() error {
	if o.ContextKeys != nil {
		if o.ServiceContextKey != nil || o.PreviousServiceContextKeys != nil {
			return errors.New("tpm: ContextKeys and ServiceContextKey are exclusive")
		}
		return nil
	}
	if len(o.ServiceContextKey) != 32 {
		return errors.New("tpm: ServiceContextKey must be 32 bytes")
	}
	for _, k := range o.PreviousServiceContextKeys {
		if len(k) != 32 {
			return errors.New("tpm: every PreviousServiceContextKeys entry must be 32 bytes")
		}
	}
	if o.ChallengeTTL < 0 || o.MaxMessageBytes < 0 || o.MaxUsedChallenges < 0 {
		return errors.New("tpm: negative limit")
	}
	return nil
}
