package azattest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unsafe"
)

// Token validation failures. Every error returned by [Token.Validate] is a
// *[TokenValidationError] wrapping exactly one of these; test with errors.Is.
var (
	// ErrUnsecuredToken: the token's alg is "none" and the caller did not
	// accept unsecured tokens.
	ErrUnsecuredToken = errors.New("unsecured token (alg none) not accepted")
	// ErrUnsupportedAlgorithm: alg is not RS256, PS256 or ES256 (symmetric
	// algorithms such as HS256 are never accepted).
	ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")
	// ErrNoSigners: no trusted signing key was available.
	ErrNoSigners = errors.New("no trusted signing keys")
	// ErrSignatureInvalid: no trusted key verifies the signature.
	ErrSignatureInvalid = errors.New("signature does not verify with any trusted key")
	// ErrSignerNotValid: the key that verified the signature has a
	// certificate outside its validity period.
	ErrSignerNotValid = errors.New("signing certificate not valid at validation time")
	// ErrTokenExpired: now is after exp (plus slack), or exp is missing.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenNotYetValid: now is before nbf (minus slack).
	ErrTokenNotYetValid = errors.New("token not yet valid")
	// ErrIssuerMismatch: iss is missing or differs from the expected issuer.
	ErrIssuerMismatch = errors.New("issuer mismatch")
	// ErrUnsupportedHeader: the header lists "crit" extensions, which this
	// validator does not implement (RFC 7515 §4.1.11 requires rejecting them).
	ErrUnsupportedHeader = errors.New("unsupported critical header parameters")
	// ErrCallbackRejected: [TokenValidationOptions.Callback] returned an error.
	ErrCallbackRejected = errors.New("rejected by validation callback")
)

// TokenValidationError is the error type of token validation. Err is one of
// the ErrXxx sentinels above; Detail says why.
type TokenValidationError struct {
	Err    error
	Detail string
	// Expected and Got are, for ErrIssuerMismatch, the issuer the
	// validation required and the token's iss ("" when absent).
	Expected, Got string
	cause         error
}

// Error implements error.
func (e *TokenValidationError) Error() string {
	s := "azattest: token validation failed: " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and, for callback failures, the callback's error.
func (e *TokenValidationError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Err, e.cause}
	}
	return []error{e.Err}
}

func invalid(sentinel error, format string, args ...any) error {
	return &TokenValidationError{Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// TokenValidationOptions control validation of service tokens. The zero value
// validates everything: signature (with keys from the endpoint's /certs),
// exp, nbf and issuer (the client's endpoint), without slack. Options are
// values: copy and modify, never shared mutable state.
type TokenValidationOptions struct {
	// DisableValidation skips every check below, including the callback.
	DisableValidation bool
	// DisableSignatureValidation skips the signature check (any alg,
	// including "none", is then accepted).
	DisableSignatureValidation bool
	// DisableExpirationCheck skips the exp check.
	DisableExpirationCheck bool
	// DisableNotBeforeCheck skips the nbf check.
	DisableNotBeforeCheck bool
	// DisableIssuerCheck skips the iss check.
	DisableIssuerCheck bool
	// AllowUnsecured accepts a token whose alg is "none" (with an empty
	// signature); its times and issuer are still checked. Clients set it
	// themselves only for attestation calls with a draft policy, whose result
	// MAA returns unsigned.
	AllowUnsecured bool
	// ExpectedIssuer is the required "iss". Clients default it to their
	// endpoint or, for a token naming another issuer on the endpoint's host,
	// the issuer of the endpoint's OpenID metadata (see [ClientOptions]).
	// A token without "iss" fails.
	ExpectedIssuer string
	// TimeSlack is the clock skew tolerated on exp and nbf.
	TimeSlack time.Duration
	// Now returns the validation time; nil means time.Now.
	Now func() time.Time
	// Callback, if set, runs after every other check passed, with the
	// verified signer (nil for an unsecured token). Its error fails
	// validation (wrapped with [ErrCallbackRejected]).
	Callback func(token *Token, signer *Signer) error
}

// Validate checks the token against trusted signers and options (nil means
// the zero value, which requires ExpectedIssuer to be set unless
// DisableIssuerCheck). The signers must come from a trusted source such as the
// endpoint's /certs; keys or URLs in the token's own header are never used.
// A key whose kid matches the token's kid is tried first; if none matches,
// every key is tried.
//
// It returns the signer that verified the signature (nil for an unsecured or
// unchecked token), or a *[TokenValidationError].
func (t *Token) Validate(signers []Signer, options *TokenValidationOptions) (*Signer, error) {
	var o TokenValidationOptions
	if options != nil {
		o = *options
	}
	if o.DisableValidation {
		return nil, nil
	}
	var signer *Signer
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	at := now()
	if !o.DisableSignatureValidation {
		var err error
		if signer, err = t.verifySignature(signers, o.AllowUnsecured, at, o.TimeSlack); err != nil {
			return nil, err
		}
	}
	c := t.claims
	if !o.DisableExpirationCheck {
		if c.ExpiresAt == nil {
			return nil, invalid(ErrTokenExpired, "token has no exp claim")
		}
		if at.After(c.ExpiresAt.Add(o.TimeSlack)) {
			return nil, invalid(ErrTokenExpired, "exp %s is before %s (slack %s)", c.ExpiresAt.Format(time.RFC3339), at.UTC().Format(time.RFC3339), o.TimeSlack)
		}
	}
	if !o.DisableNotBeforeCheck && c.NotBefore != nil && at.Add(o.TimeSlack).Before(*c.NotBefore) {
		return nil, invalid(ErrTokenNotYetValid, "nbf %s is after %s (slack %s)", c.NotBefore.Format(time.RFC3339), at.UTC().Format(time.RFC3339), o.TimeSlack)
	}
	if !o.DisableIssuerCheck {
		want := strings.TrimSuffix(o.ExpectedIssuer, "/")
		switch {
		case want == "":
			return nil, invalid(ErrIssuerMismatch, "no expected issuer configured")
		case t.rawClaims == nil || c.Issuer == "":
			return nil, &TokenValidationError{Err: ErrIssuerMismatch, Detail: fmt.Sprintf("token has no iss claim, want %q", want), Expected: want}
		case strings.TrimSuffix(c.Issuer, "/") != want:
			return nil, &TokenValidationError{Err: ErrIssuerMismatch, Expected: want, Got: c.Issuer,
				Detail: fmt.Sprintf("the token's iss is %q but the expected issuer is %q (set TokenValidationOptions.ExpectedIssuer to the issuer you trust)", c.Issuer, want)}
		}
	}
	if o.Callback != nil {
		if err := o.Callback(t, signer); err != nil {
			return nil, &TokenValidationError{Err: ErrCallbackRejected, cause: err}
		}
	}
	return signer, nil
}

func (t *Token) verifySignature(signers []Signer, allowUnsecured bool, at time.Time, slack time.Duration) (*Signer, error) {
	if _, ok := t.rawHeader["crit"]; ok {
		return nil, invalid(ErrUnsupportedHeader, "")
	}
	alg := t.header.Algorithm
	if strings.EqualFold(alg, "none") {
		if !allowUnsecured {
			return nil, invalid(ErrUnsecuredToken, "")
		}
		if len(t.signature) != 0 {
			return nil, invalid(ErrUnsecuredToken, "alg none with a non-empty signature")
		}
		return nil, nil
	}
	switch alg {
	case "RS256", "PS256", "ES256":
	default:
		return nil, invalid(ErrUnsupportedAlgorithm, "alg %q", alg)
	}
	if len(signers) == 0 {
		return nil, invalid(ErrNoSigners, "")
	}
	// Hash the signing input in place: no copy of a multi-kilobyte string.
	in := t.SigningInput()
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(in), len(in)))
	digest := sum[:]

	kid := t.header.KeyID
	matched := false
	if kid != "" {
		for i := range signers {
			if signers[i].KeyID == kid {
				matched = true
				if verifyDigest(alg, signers[i].PublicKey, digest, t.signature) {
					return checkSignerTime(&signers[i], at, slack)
				}
			}
		}
	}
	if !matched {
		for i := range signers {
			if verifyDigest(alg, signers[i].PublicKey, digest, t.signature) {
				return checkSignerTime(&signers[i], at, slack)
			}
		}
	}
	if matched {
		return nil, invalid(ErrSignatureInvalid, "key %q does not verify the signature", kid)
	}
	return nil, invalid(ErrSignatureInvalid, "%d trusted keys tried", len(signers))
}

// checkSignerTime rejects a key whose leaf certificate is expired or not yet
// valid. Expired keys that sign nothing are harmless and are not looked at.
func checkSignerTime(s *Signer, at time.Time, slack time.Duration) (*Signer, error) {
	if len(s.Certificates) > 0 {
		c := s.Certificates[0]
		if at.Add(slack).Before(c.NotBefore) || at.Add(-slack).After(c.NotAfter) {
			return nil, invalid(ErrSignerNotValid, "key %q valid %s to %s", s.KeyID, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
		}
	}
	return s, nil
}

func verifyDigest(alg string, key crypto.PublicKey, digest, sig []byte) bool {
	switch alg {
	case "RS256":
		pk, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(pk, crypto.SHA256, digest, sig) == nil
	case "PS256":
		pk, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(pk, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES256":
		pk, ok := key.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pk, digest, r, s)
	}
	return false
}
