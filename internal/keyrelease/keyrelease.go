// Package keyrelease is Maat's secure key release service (a Maat extension,
// served under /x-maat/keys/, outside MAA's paths): keys stored sealed, each
// with an Azure Key Vault release policy, released to a TEE that presents an
// attestation token from a trusted issuer, wrapped (JWE) to the public key the
// token proves the TEE holds.
//
// A release is decided in fixed steps, each failing closed: the token is
// validated (signature with the issuer's own keys, exp, nbf, iss) by the
// SDK's validator; the release policy is evaluated over its claims; the
// attested key is taken out of the token and checked against the report
// data; only then is the key unsealed and wrapped.
package keyrelease

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/maat-attest/maat/internal/keyrelease/policy"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/sdk/azattest"
)

// Issuer is a token issuer whose attestation tokens may release keys.
type Issuer interface {
	// URL is the issuer's "iss".
	URL() string
	// Validate parses and validates token as issued by this issuer at now
	// (signature with the issuer's keys, exp, nbf, iss), fail-closed. It
	// returns the token, or an error (a *azattest.TokenValidationError for
	// validation failures).
	Validate(ctx context.Context, token string, now time.Time) (*azattest.Token, error)
}

// LocalIssuer is this Maat instance: tokens are checked with the keys it
// publishes at /certs, in process.
type LocalIssuer struct {
	Issuer  string
	Signers func() []azattest.Signer
}

// URL implements Issuer.
func (l LocalIssuer) URL() string { return l.Issuer }

// Validate implements Issuer.
func (l LocalIssuer) Validate(_ context.Context, token string, now time.Time) (*azattest.Token, error) {
	tok, err := azattest.ParseToken(token)
	if err != nil {
		return nil, err
	}
	_, err = tok.Validate(l.Signers(), &azattest.TokenValidationOptions{ExpectedIssuer: l.Issuer, Now: func() time.Time { return now }})
	return tok, err
}

// RemoteIssuer is an MAA-compatible service (Azure Attestation or another
// Maat): tokens are checked by the SDK with the keys the service serves at
// its /certs (fetched and cached by the client).
type RemoteIssuer struct {
	Client *azattest.Client
}

// URL implements Issuer.
func (r RemoteIssuer) URL() string { return r.Client.Endpoint() }

// Validate implements Issuer.
func (r RemoteIssuer) Validate(ctx context.Context, token string, now time.Time) (*azattest.Token, error) {
	res, err := r.Client.ValidateToken(ctx, token, &azattest.ValidateTokenOptions{Validation: &azattest.TokenValidationOptions{Now: func() time.Time { return now }}})
	if err != nil {
		return nil, err
	}
	return res.Token, nil
}

// SignersOf converts a key set (this instance's published keys) into the
// SDK's signers.
func SignersOf(set *keys.Set) []azattest.Signer {
	if set == nil {
		return nil
	}
	out := make([]azattest.Signer, 0, len(set.Published))
	for _, k := range set.Published {
		out = append(out, azattest.Signer{KeyID: k.KID, Certificates: []*x509.Certificate{k.Cert}, PublicKey: k.Signer.Public()})
	}
	return out
}

// Service holds, creates and releases keys. Fields are set at construction
// and not changed afterwards.
type Service struct {
	Store      store.ReleaseKeys
	InstanceID string
	// Sealer seals key material at rest (the instance's signing-key sealer).
	Sealer keys.Sealer
	// Issuers are the trusted token issuers.
	Issuers []Issuer
	Now     func() time.Time
	Log     *slog.Logger
	// Audit, when set, is told of every create, delete and release attempt,
	// successful or refused (operation key-release.create, .delete,
	// .release; the key's name; the error returned, nil on success).
	Audit func(ctx context.Context, operation, name string, err error)
}

func (s *Service) audit(ctx context.Context, op, name string, err error) {
	if s.Audit != nil {
		s.Audit(ctx, op, name, err)
	}
}

// Key types.
const (
	KeyTypeOct256  = "oct-256"
	KeyTypeRSA2048 = "RSA-2048"
	KeyTypeRSA3072 = "RSA-3072"
	KeyTypeECP256  = "EC-P256"
	KeyTypeECP384  = "EC-P384"
)

// KeyTypes lists the key types Create accepts.
func KeyTypes() []string {
	return []string{KeyTypeOct256, KeyTypeRSA2048, KeyTypeRSA3072, KeyTypeECP256, KeyTypeECP384}
}

// KeyInfo describes a stored key without its material.
type KeyInfo struct {
	Name          string          `json:"name"`
	KeyType       string          `json:"kty"`
	ReleasePolicy json.RawMessage `json:"release_policy"`
	CreatedAt     time.Time       `json:"created"`
}

// CreateRequest creates a key.
type CreateRequest struct {
	// KeyType is one of KeyTypes(); empty means oct-256.
	KeyType string `json:"kty"`
	// Key, if set, is the key to import: raw bytes for oct-256 (32), PKCS#8
	// DER for RSA and EC. Empty generates a fresh key.
	Key []byte `json:"key,omitempty"`
	// ReleasePolicy is the Azure Key Vault release policy.
	ReleasePolicy json.RawMessage `json:"release_policy"`
}

// Released is the result of a release.
type Released struct {
	// Value is a compact JWE (RSA-OAEP-256 or ECDH-ES, A256GCM) of the key
	// as a JWK, wrapped to the token's attested key.
	Value string `json:"value"`
	Name  string `json:"name"`
	// KeyType is the released key's type.
	KeyType string `json:"kty"`
	// Authority is the policy authority the token matched.
	Authority string `json:"authority"`
	// AttestedKeyID is the kid of the key the secret was wrapped to.
	AttestedKeyID string `json:"attested_kid,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,127}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return maaerr.New(maaerr.InvalidParameter, "The key name %q is invalid: use 1 to 127 letters, digits and dashes (as Azure Key Vault does).", name)
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Create stores a new key under name with its release policy. It returns
// InvalidParameter for a bad name, key type, key or policy, and Conflict if
// the name is taken.
func (s *Service) Create(ctx context.Context, name string, req CreateRequest) (ki KeyInfo, err error) {
	defer func() { s.audit(ctx, "key-release.create", name, err) }()
	if err := checkName(name); err != nil {
		return KeyInfo{}, err
	}
	if len(req.ReleasePolicy) == 0 {
		return KeyInfo{}, maaerr.New(maaerr.InvalidParameter, "The key needs a release_policy (Azure Key Vault format: {\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":…,\"allOf\":[…]}]}).")
	}
	if _, err := policy.Parse(req.ReleasePolicy); err != nil {
		return KeyInfo{}, err
	}
	kty := req.KeyType
	if kty == "" {
		kty = KeyTypeOct256
	}
	material, err := keyMaterial(kty, req.Key)
	if err != nil {
		return KeyInfo{}, err
	}
	// Bound to the instance and the key's name (as signing keys are to
	// their kid), so a sealed blob cannot be swapped between rows.
	sealed, err := s.Sealer.Seal(material, releaseBinding(s.InstanceID, name))
	if err != nil {
		return KeyInfo{}, maaerr.Wrap(err, maaerr.Internal, "sealing the key failed")
	}
	k := store.ReleaseKey{InstanceID: s.InstanceID, Name: name, KeyType: kty, Key: sealed, ReleasePolicy: string(req.ReleasePolicy)}
	if err := s.Store.CreateReleaseKey(ctx, k); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return KeyInfo{}, maaerr.New(maaerr.Conflict, "A key named %q exists already; delete it first or choose another name.", name)
		}
		return KeyInfo{}, err
	}
	s.log().Info("release key created", "name", name, "kty", kty)
	return s.Get(ctx, name)
}

// keyMaterial returns the stored form of a key: raw bytes for oct, PKCS#8
// DER otherwise.
func keyMaterial(kty string, imported []byte) ([]byte, error) {
	if len(imported) > 0 {
		if kty == KeyTypeOct256 {
			if len(imported) != 32 {
				return nil, maaerr.New(maaerr.InvalidParameter, "An oct-256 key is 32 bytes, got %d.", len(imported))
			}
			return append([]byte(nil), imported...), nil
		}
		priv, err := x509.ParsePKCS8PrivateKey(imported)
		if err != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "The key to import is not a PKCS#8 DER private key: %v.", err)
		}
		if got := typeOf(priv); got != kty {
			return nil, maaerr.New(maaerr.InvalidParameter, "The key to import is %s, but kty says %s.", got, kty)
		}
		return append([]byte(nil), imported...), nil
	}
	var priv any
	var err error
	switch kty {
	case KeyTypeOct256:
		b := make([]byte, 32)
		_, err = rand.Read(b)
		return b, err
	case KeyTypeRSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyTypeRSA3072:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case KeyTypeECP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyTypeECP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, maaerr.New(maaerr.InvalidParameter, "The key type %q is not supported; use one of %s.", kty, strings.Join(KeyTypes(), ", "))
	}
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.Internal, "key generation failed")
	}
	return x509.MarshalPKCS8PrivateKey(priv)
}

func typeOf(priv any) string {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "EC-" + strings.ReplaceAll(k.Curve.Params().Name, "-", "")
	}
	return fmt.Sprintf("%T", priv)
}

func info(k store.ReleaseKey) KeyInfo {
	return KeyInfo{Name: k.Name, KeyType: k.KeyType, ReleasePolicy: json.RawMessage(k.ReleasePolicy), CreatedAt: k.CreatedAt}
}

func notFound(name string) error {
	return maaerr.New(maaerr.NotFound, "There is no key named %q.", name)
}

// Get returns the key named name without its material, or NotFound.
func (s *Service) Get(ctx context.Context, name string) (KeyInfo, error) {
	if err := checkName(name); err != nil {
		return KeyInfo{}, err
	}
	k, err := s.Store.GetReleaseKey(ctx, s.InstanceID, name)
	if errors.Is(err, store.ErrNotFound) {
		return KeyInfo{}, notFound(name)
	}
	if err != nil {
		return KeyInfo{}, err
	}
	return info(k), nil
}

// List returns every key without its material, ordered by name.
func (s *Service) List(ctx context.Context) ([]KeyInfo, error) {
	ks, err := s.Store.ListReleaseKeys(ctx, s.InstanceID)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(ks))
	for _, k := range ks {
		out = append(out, info(k))
	}
	return out, nil
}

// Delete removes the key named name, or returns NotFound.
func (s *Service) Delete(ctx context.Context, name string) (err error) {
	defer func() { s.audit(ctx, "key-release.delete", name, err) }()
	if err := checkName(name); err != nil {
		return err
	}
	err = s.Store.DeleteReleaseKey(ctx, s.InstanceID, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(name)
	}
	if err == nil {
		s.log().Info("release key deleted", "name", name)
	}
	return err
}

// ReleaseRequest asks for a key.
type ReleaseRequest struct {
	// Target is the attestation token of the TEE the key is released to.
	Target string `json:"target"`
	// RuntimeData, optional, is the runtime data exactly as the TEE sent it
	// for attestation. It is needed only for JSON runtime data that is not
	// in canonical form (azattest.CanonicalJSON), whose binding to the
	// report data cannot otherwise be re-checked here.
	RuntimeData []byte `json:"runtime_data,omitempty"`
}

// Release releases the key named name to the TEE req.Target attests. The
// attested key's binding to the token's report data is checked here, not
// only trusted from the issuer. Errors:
// NotFound for an unknown key; Unauthorized for a token that is malformed,
// from an untrusted issuer, or fails validation (signature, alg none, exp,
// nbf); ServiceUnavailable when a remote issuer's keys cannot be fetched;
// Forbidden when the release policy is not satisfied (the message
// says which condition failed) or the token carries no usable attested key
// bound to its report data. Every attempt is logged with its outcome.
func (s *Service) Release(ctx context.Context, name string, req ReleaseRequest) (Released, error) {
	r, err := s.release(ctx, name, req)
	s.audit(ctx, "key-release.release", name, err)
	if err != nil {
		e := maaerr.As(err)
		s.log().Warn("key release refused", "name", name, "code", string(e.Code), "reason", e.Message)
		return Released{}, err
	}
	s.log().Info("key released", "name", name, "authority", r.Authority, "attested_kid", r.AttestedKeyID)
	return r, nil
}

func (s *Service) release(ctx context.Context, name string, req ReleaseRequest) (Released, error) {
	if err := checkName(name); err != nil {
		return Released{}, err
	}
	k, err := s.Store.GetReleaseKey(ctx, s.InstanceID, name)
	if errors.Is(err, store.ErrNotFound) {
		return Released{}, notFound(name)
	}
	if err != nil {
		return Released{}, err
	}
	pol, err := policy.Parse([]byte(k.ReleasePolicy))
	if err != nil {
		return Released{}, maaerr.Wrap(err, maaerr.Internal, "the stored release policy of %q does not parse", name)
	}

	tok, err := s.validate(ctx, req.Target)
	if err != nil {
		return Released{}, err
	}
	d := pol.Evaluate(tok.Claims().Issuer, tok.RawClaims())
	if !d.Release {
		return Released{}, maaerr.New(maaerr.Forbidden, "The release policy of key %q is not satisfied: %s.", name, d.Reason)
	}
	attested, err := azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{RuntimeData: req.RuntimeData, RequireReportDataCheck: true})
	if err != nil {
		return Released{}, maaerr.New(maaerr.Forbidden, "The token carries no key the release can be wrapped to: %v.", strings.TrimPrefix(err.Error(), "azattest: "))
	}

	material, _, err := s.Sealer.Open(k.Key, releaseBinding(s.InstanceID, name))
	if err != nil {
		return Released{}, maaerr.Wrap(err, maaerr.Internal, "unsealing key %q failed", name)
	}
	jwk, err := keyJWK(k.KeyType, name, material)
	if err != nil {
		return Released{}, maaerr.Wrap(err, maaerr.Internal, "encoding key %q failed", name)
	}
	wrapped, err := attested.WrapSecret(jwk, &azattest.WrapSecretOptions{ContentType: "jwk+json"})
	if err != nil {
		return Released{}, maaerr.Wrap(err, maaerr.Internal, "wrapping key %q failed", name)
	}
	return Released{Value: wrapped, Name: name, KeyType: k.KeyType, Authority: d.Authority, AttestedKeyID: attested.KeyID}, nil
}

// validate finds the token's issuer among the trusted ones (by its
// unverified iss, only to choose whose keys to check it with) and has that
// issuer validate it.
func (s *Service) validate(ctx context.Context, token string) (*azattest.Token, error) {
	tok, err := azattest.ParseToken(strings.TrimSpace(token))
	if err != nil {
		return nil, maaerr.New(maaerr.Unauthorized, "The attestation token is malformed: %v.", strings.TrimPrefix(err.Error(), "azattest: "))
	}
	iss := strings.TrimRight(tok.Claims().Issuer, "/")
	if iss == "" {
		return nil, maaerr.New(maaerr.Unauthorized, "The attestation token has no iss claim; only tokens of a trusted attestation service release keys.")
	}
	names := make([]string, 0, len(s.Issuers))
	for _, is := range s.Issuers {
		names = append(names, is.URL())
		if !strings.EqualFold(strings.TrimRight(is.URL(), "/"), iss) {
			continue
		}
		v, err := is.Validate(ctx, tok.String(), s.now())
		var tve *azattest.TokenValidationError
		switch {
		case errors.As(err, &tve) || errors.Is(err, azattest.ErrMalformedToken):
			return nil, maaerr.New(maaerr.Unauthorized, "The attestation token is not valid: %v.", strings.TrimPrefix(err.Error(), "azattest: "))
		case err != nil:
			// The issuer's keys could not be fetched: not the caller's fault,
			// and no key is released.
			return nil, maaerr.Wrap(err, maaerr.ServiceUnavailable, "The signing keys of the token's issuer %s could not be fetched; try again later.", is.URL())
		}
		return v, nil
	}
	return nil, maaerr.New(maaerr.Unauthorized, "The attestation token's issuer %q is not trusted by this server (trusted: %s); configure it with key-release-trusted-issuer.", tok.Claims().Issuer, strings.Join(names, ", "))
}

// keyJWK renders stored key material as the JWK the TEE receives.
func keyJWK(kty, name string, material []byte) ([]byte, error) {
	if kty == KeyTypeOct256 {
		return jose.JSONWebKey{Key: material, KeyID: name}.MarshalJSON()
	}
	priv, err := x509.ParsePKCS8PrivateKey(material)
	if err != nil {
		return nil, err
	}
	return jose.JSONWebKey{Key: priv, KeyID: name}.MarshalJSON()
}

// releaseBinding is the AEAD binding of a release key: its instance and a
// name in a namespace no signing-key kid can take.
func releaseBinding(instanceID, name string) keys.Binding {
	return keys.Binding{InstanceID: instanceID, KID: "release-key/" + name}
}
