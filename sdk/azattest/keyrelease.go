package azattest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Secure key release, as the flow reads:
//
//  1. Enclave: [NewRuntimeKey] makes an ephemeral key pair; its
//     [RuntimeKey.RuntimeData] goes into the attestation request (JSON
//     runtime data) and SHA-256 of those bytes into the quote's report data.
//  2. Attestation service: checks the binding and issues a token carrying
//     the key (x-ms-runtime, or x-ms-sgx-ehd for binary runtime data).
//  3. Relying party: [Client.ValidateToken] (or [Token.Validate]) checks the
//     token, [ExtractAttestedKey] takes the key out of it and checks it
//     against the report data the token proves, [AttestedKey.WrapSecret]
//     encrypts the secret to it as a JWE.
//  4. Enclave: [RuntimeKey.UnwrapSecret] (or [UnwrapSecret]) opens the JWE.

// Attested-key failures. Every error [ExtractAttestedKey] returns wraps one of
// these; test with errors.Is.
var (
	// ErrNoAttestedKey: the token carries no runtime data holding a public key.
	ErrNoAttestedKey = errors.New("token carries no attested public key")
	// ErrAttestedKeyAmbiguous: the runtime data holds several usable keys and
	// no key id was given to choose one.
	ErrAttestedKeyAmbiguous = errors.New("token carries several public keys")
	// ErrAttestedKeyUnbound: the runtime data does not hash to the report
	// data the token carries, or the token carries no report data to check
	// binary runtime data against.
	ErrAttestedKeyUnbound = errors.New("attested key is not bound to the report data")
	// ErrAttestedKeyUnsupported: the key is of a kind secrets cannot be
	// wrapped to (for example RSA below 2048 bits, a signing-only key, or a
	// JWK carrying private key material).
	ErrAttestedKeyUnsupported = errors.New("attested key is not usable for key wrapping")
)

// reportDataClaims are the claims carrying the TEE report data, hex, whose
// first 32 bytes are SHA-256 of the runtime data.
var reportDataClaims = []string{"x-ms-sgx-report-data", "x-ms-sevsnpvm-reportdata", "tdx_report_data"}

// binaryRuntimeClaims carry binary runtime data, base64url (MAA duplicates
// x-ms-sgx-ehd into the legacy names).
var binaryRuntimeClaims = []string{"x-ms-sgx-ehd", "maa-ehd", "aas-ehd"}

// AttestedKey is a public key an attestation token proves a TEE holds.
type AttestedKey struct {
	// PublicKey is *rsa.PublicKey or *ecdsa.PublicKey.
	PublicKey crypto.PublicKey
	// KeyID is the JWK "kid" ("" for keys given as DER or PEM, or a JWK
	// without one).
	KeyID string
	// Claim is the token claim the key was read from ("x-ms-runtime",
	// "x-ms-sgx-ehd").
	Claim string
	// ReportDataChecked reports whether SHA-256 of the runtime data was
	// compared with the token's report data here: always for binary runtime
	// data; for JSON runtime data when it was sent in canonical form
	// ([CanonicalJSON]) or its bytes were passed
	// ([AttestedKeyOptions.RuntimeData]). Otherwise only the token's issuer
	// checked the binding (before emitting x-ms-runtime).
	ReportDataChecked bool
}

// AttestedKeyOptions are the optional parameters of [ExtractAttestedKey].
type AttestedKeyOptions struct {
	// KeyID selects a key by "kid" when the runtime data holds a JWK Set
	// with several usable keys.
	KeyID string
	// RuntimeData, if set, is the runtime data exactly as the enclave sent
	// it; its SHA-256 must equal the token's report data and its JSON must
	// equal x-ms-runtime. Use it to check the binding yourself for JSON
	// runtime data that is not in canonical form.
	RuntimeData []byte
	// RequireReportDataCheck refuses (with [ErrAttestedKeyUnbound]) a key
	// whose binding to the report data cannot be checked here: JSON runtime
	// data that is not in canonical form (see [CanonicalJSON]) and was not
	// given as RuntimeData. Without it such a key is returned with
	// ReportDataChecked false, on the strength of the issuer's check.
	RequireReportDataCheck bool
}

// CanonicalJSON re-encodes a JSON document compactly with object members
// sorted by name and no HTML escaping: the form [RuntimeKey.RuntimeData]
// produces, which lets a relying party re-hash the x-ms-runtime claim (the
// token carries the parsed document, not its bytes). It returns an error
// for invalid JSON.
func CanonicalJSON(doc []byte) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return canonical(v)
}

func canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ExtractAttestedKey returns the public key a validated attestation token
// carries, checked against the report-data binding the token proves. The
// token must have been validated first (a client's attestation result, or
// [Client.ValidateToken] / [Token.Validate]): this function checks no
// signature.
//
// The key is read from x-ms-runtime (JSON runtime data: a JWK, a JWK Set, or
// an object with a "jwk" or "keys" member) or from x-ms-sgx-ehd (binary
// runtime data: JWK or JWK Set JSON, DER SubjectPublicKeyInfo or PEM). Binary
// runtime data must hash (SHA-256) to the first 32 bytes of the report data
// claim (x-ms-sgx-report-data, x-ms-sevsnpvm-reportdata, tdx_report_data).
//
// It returns an error wrapping [ErrNoAttestedKey], [ErrAttestedKeyAmbiguous],
// [ErrAttestedKeyUnbound] or [ErrAttestedKeyUnsupported].
func ExtractAttestedKey(token *Token, options *AttestedKeyOptions) (*AttestedKey, error) {
	var o AttestedKeyOptions
	if options != nil {
		o = *options
	}
	if token == nil || token.rawClaims == nil {
		return nil, fmt.Errorf("azattest: %w: the token has no claims", ErrNoAttestedKey)
	}
	reportData, rdClaim, err := tokenReportData(token)
	if err != nil {
		return nil, err
	}
	if raw, ok := token.claim("x-ms-runtime"); ok {
		checked := false
		switch {
		case o.RuntimeData != nil:
			if err := checkBinding(o.RuntimeData, reportData, rdClaim); err != nil {
				return nil, err
			}
			if err := sameJSON(o.RuntimeData, raw); err != nil {
				return nil, err
			}
			checked = true
		case reportData != nil:
			// The canonical form of the parsed claim re-hashes to the report
			// data when the enclave sent canonical JSON.
			if c, err := CanonicalJSON(raw); err == nil && checkBinding(c, reportData, rdClaim) == nil {
				checked = true
			}
		}
		if !checked && o.RequireReportDataCheck {
			if reportData == nil {
				return nil, fmt.Errorf("azattest: %w: the token carries x-ms-runtime but no report data claim (%s) to check it against", ErrAttestedKeyUnbound, strings.Join(reportDataClaims, ", "))
			}
			return nil, fmt.Errorf("azattest: %w: SHA-256 of x-ms-runtime in canonical form does not equal %s[0:32]; the runtime data is another key than the report data binds, or not canonical JSON (then pass the exact bytes as RuntimeData)", ErrAttestedKeyUnbound, rdClaim)
		}
		k, err := keyFromJSON(raw, o.KeyID, true)
		if err != nil {
			return nil, fmt.Errorf("azattest: x-ms-runtime: %w", err)
		}
		k.Claim, k.ReportDataChecked = "x-ms-runtime", checked
		return k, nil
	}
	for _, c := range binaryRuntimeClaims {
		raw, ok := token.claim(c)
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("azattest: %w: %s is not a string", ErrNoAttestedKey, c)
		}
		data, err := decodeB64Any(s)
		if err != nil {
			return nil, fmt.Errorf("azattest: %w: %s is not base64url", ErrNoAttestedKey, c)
		}
		if reportData == nil {
			return nil, fmt.Errorf("azattest: %w: the token carries %s but no report data claim (%s) to check it against", ErrAttestedKeyUnbound, c, strings.Join(reportDataClaims, ", "))
		}
		if err := checkBinding(data, reportData, rdClaim); err != nil {
			return nil, err
		}
		if o.RuntimeData != nil && !bytes.Equal(o.RuntimeData, data) {
			return nil, fmt.Errorf("azattest: %w: the runtime data given differs from the token's %s", ErrAttestedKeyUnbound, c)
		}
		k, err := keyFromBytes(data, o.KeyID)
		if err != nil {
			return nil, fmt.Errorf("azattest: %s: %w", c, err)
		}
		k.Claim, k.ReportDataChecked = c, true
		return k, nil
	}
	return nil, fmt.Errorf("azattest: %w: neither x-ms-runtime nor x-ms-sgx-ehd is present (send the public key as runtime data)", ErrNoAttestedKey)
}

func tokenReportData(t *Token) ([]byte, string, error) {
	for _, c := range reportDataClaims {
		raw, ok := t.claim(c)
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, c, fmt.Errorf("azattest: %w: %s is not a string", ErrAttestedKeyUnbound, c)
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) < sha256.Size {
			return nil, c, fmt.Errorf("azattest: %w: %s is not hex of at least 32 bytes", ErrAttestedKeyUnbound, c)
		}
		return b, c, nil
	}
	return nil, "", nil
}

func checkBinding(data, reportData []byte, claim string) error {
	if reportData == nil {
		return fmt.Errorf("azattest: %w: the token carries no report data claim (%s)", ErrAttestedKeyUnbound, strings.Join(reportDataClaims, ", "))
	}
	h := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(h[:], reportData[:sha256.Size]) != 1 {
		return fmt.Errorf("azattest: %w: SHA-256 of the runtime data is %x, %s[0:32] is %x", ErrAttestedKeyUnbound, h[:], claim, reportData[:sha256.Size])
	}
	return nil
}

func sameJSON(data []byte, claim json.RawMessage) error {
	var a, b any
	if err := json.Unmarshal(bytes.TrimRight(data, "\x00"), &a); err != nil {
		return fmt.Errorf("azattest: %w: the runtime data given is not JSON: %v", ErrAttestedKeyUnbound, err)
	}
	_ = json.Unmarshal(claim, &b) // validated at parse time
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("azattest: %w: the runtime data given differs from the token's x-ms-runtime", ErrAttestedKeyUnbound)
	}
	return nil
}

// keyFromJSON finds the key in JSON runtime data: a JWK, a JWK Set, or an
// object whose "jwk" member is a JWK or "keys" member a JWK Set.
func keyFromJSON(raw []byte, kid string, nested bool) (*AttestedKey, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: runtime data is not a JSON object", ErrNoAttestedKey)
	}
	if _, ok := m["kty"]; ok {
		return keyFromJWK(raw)
	}
	if keys, ok := m["keys"]; ok {
		var set []json.RawMessage
		if err := json.Unmarshal(keys, &set); err != nil {
			return nil, fmt.Errorf("%w: \"keys\" is not an array", ErrNoAttestedKey)
		}
		return keyFromSet(set, kid)
	}
	if jwk, ok := m["jwk"]; ok && nested {
		return keyFromJSON(jwk, kid, false)
	}
	return nil, fmt.Errorf("%w: no \"kty\", \"keys\" or \"jwk\" member", ErrNoAttestedKey)
}

func keyFromSet(set []json.RawMessage, kid string) (*AttestedKey, error) {
	var found []*AttestedKey
	var firstErr error
	for _, raw := range set {
		k, err := keyFromJWK(raw)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if kid == "" || k.KeyID == kid {
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		kids := make([]string, len(found))
		for i, k := range found {
			kids[i] = fmt.Sprintf("%q", k.KeyID)
		}
		return nil, fmt.Errorf("%w: %d usable keys (kids %s); choose one with AttestedKeyOptions.KeyID", ErrAttestedKeyAmbiguous, len(found), strings.Join(kids, ", "))
	case kid != "":
		return nil, fmt.Errorf("%w: no usable key with kid %q", ErrNoAttestedKey, kid)
	case firstErr != nil:
		return nil, firstErr
	}
	return nil, fmt.Errorf("%w: empty JWK Set", ErrNoAttestedKey)
}

func keyFromJWK(raw []byte) (*AttestedKey, error) {
	var probe struct {
		D   string `json:"d"`
		Use string `json:"use"`
	}
	_ = json.Unmarshal(raw, &probe)
	if probe.D != "" {
		return nil, fmt.Errorf("%w: the JWK carries private key material (\"d\"); send only the public key", ErrAttestedKeyUnsupported)
	}
	if probe.Use != "" && probe.Use != "enc" {
		return nil, fmt.Errorf("%w: the JWK's use is %q, want \"enc\" or none", ErrAttestedKeyUnsupported, probe.Use)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("%w: JWK: %v", ErrNoAttestedKey, err)
	}
	k, err := checkWrapKey(jwk.Key)
	if err != nil {
		return nil, err
	}
	k.KeyID = jwk.KeyID
	return k, nil
}

// keyFromBytes reads binary runtime data: JWK or JWK Set JSON, PEM or DER
// SubjectPublicKeyInfo.
func keyFromBytes(b []byte, kid string) (*AttestedKey, error) {
	if t := bytes.TrimSpace(bytes.TrimRight(b, "\x00")); len(t) > 0 && t[0] == '{' {
		return keyFromJSON(t, kid, true)
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w: PEM block %q, want \"PUBLIC KEY\"", ErrAttestedKeyUnsupported, blk.Type)
		}
		der = blk.Bytes
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: runtime data is neither a JWK, PEM nor DER public key", ErrNoAttestedKey)
	}
	return checkWrapKey(pub)
}

func checkWrapKey(pub any) (*AttestedKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits, want at least 2048", ErrAttestedKeyUnsupported, k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("%w: EC curve %s, want P-256, P-384 or P-521", ErrAttestedKeyUnsupported, k.Curve.Params().Name)
		}
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return nil, fmt.Errorf("%w: private key material; send only the public key", ErrAttestedKeyUnsupported)
	default:
		return nil, fmt.Errorf("%w: key type %T, want RSA or EC", ErrAttestedKeyUnsupported, pub)
	}
	return &AttestedKey{PublicKey: pub}, nil
}

// WrapSecretOptions are the optional parameters of [AttestedKey.WrapSecret].
type WrapSecretOptions struct {
	// ContentType, if set, is the JWE "cty" header (e.g. "application/json").
	ContentType string
}

// WrapSecret encrypts secret to the attested key as a compact JWE: RSA-OAEP-256
// for RSA keys, ECDH-ES for EC keys, content encrypted with A256GCM. The kid
// header is the key's KeyID. It returns an error if encryption fails.
func (k *AttestedKey) WrapSecret(secret []byte, options *WrapSecretOptions) (string, error) {
	alg := jose.RSA_OAEP_256
	if _, ok := k.PublicKey.(*ecdsa.PublicKey); ok {
		alg = jose.ECDH_ES
	}
	opts := &jose.EncrypterOptions{}
	if options != nil && options.ContentType != "" {
		opts = opts.WithContentType(jose.ContentType(options.ContentType))
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: alg, Key: k.PublicKey, KeyID: k.KeyID}, opts)
	if err != nil {
		return "", fmt.Errorf("azattest: wrapping to the attested key: %w", err)
	}
	obj, err := enc.Encrypt(secret)
	if err != nil {
		return "", fmt.Errorf("azattest: wrapping to the attested key: %w", err)
	}
	return obj.CompactSerialize()
}

// MaxWrappedSecretLength bounds the JWE [UnwrapSecret] accepts (1 MiB).
const MaxWrappedSecretLength = 1 << 20

// UnwrapSecret opens a compact JWE made by [AttestedKey.WrapSecret] with the
// enclave's private key (*rsa.PrivateKey or *ecdsa.PrivateKey). Only
// RSA-OAEP-256 and ECDH-ES with A256GCM are accepted. It returns an error if
// the JWE is malformed, uses another algorithm, or does not decrypt with key.
func UnwrapSecret(jwe string, key crypto.PrivateKey) ([]byte, error) {
	if len(jwe) > MaxWrappedSecretLength {
		return nil, fmt.Errorf("azattest: JWE is %d bytes, longer than %d", len(jwe), MaxWrappedSecretLength)
	}
	obj, err := jose.ParseEncryptedCompact(jwe, []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.ECDH_ES}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, fmt.Errorf("azattest: JWE: %w", err)
	}
	var priv any = key
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, fmt.Errorf("azattest: JWE: key type %T, want *rsa.PrivateKey or *ecdsa.PrivateKey", key)
	}
	want := jose.RSA_OAEP_256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		want = jose.ECDH_ES
	}
	if got := jose.KeyAlgorithm(obj.Header.Algorithm); got != want {
		return nil, fmt.Errorf("azattest: JWE: alg %q does not fit a %T (want %q)", got, key, want)
	}
	out, err := obj.Decrypt(priv)
	if err != nil {
		return nil, fmt.Errorf("azattest: JWE does not decrypt with this key: %w", err)
	}
	return out, nil
}

// RuntimeKey is the enclave side's ephemeral key pair.
type RuntimeKey struct {
	// Private is *rsa.PrivateKey or *ecdsa.PrivateKey.
	Private crypto.Signer
	// KeyID is the kid its JWK carries.
	KeyID string
}

// NewRuntimeKey wraps an existing private key (*rsa.PrivateKey of at least
// 2048 bits, or *ecdsa.PrivateKey on P-256/384/521) with the given kid. It
// returns an error wrapping [ErrAttestedKeyUnsupported] for other keys.
func NewRuntimeKey(priv crypto.Signer, kid string) (*RuntimeKey, error) {
	switch priv.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, fmt.Errorf("azattest: %w: key type %T", ErrAttestedKeyUnsupported, priv)
	}
	if _, err := checkWrapKey(priv.Public()); err != nil {
		return nil, fmt.Errorf("azattest: %w", err)
	}
	return &RuntimeKey{Private: priv, KeyID: kid}, nil
}

// PublicJWK returns the public key as a JWK ({"kty",…,"kid","use":"enc"}).
func (r *RuntimeKey) PublicJWK() ([]byte, error) {
	return jose.JSONWebKey{Key: r.Private.Public(), KeyID: r.KeyID, Use: "enc"}.MarshalJSON()
}

// RuntimeData returns JSON runtime data carrying the public key as a JWK Set
// ({"keys":[JWK]}) in canonical form ([CanonicalJSON]), the shape Azure Key
// Vault's secure key release reads. Send it with DataType JSON and put
// SHA-256 of exactly these bytes into the report data.
func (r *RuntimeKey) RuntimeData() ([]byte, error) {
	jwk, err := r.PublicJWK()
	if err != nil {
		return nil, err
	}
	return CanonicalJSON([]byte(`{"keys":[` + string(jwk) + `]}`))
}

// ReportData returns the 64-byte report data binding runtimeData: SHA-256
// in the first 32 bytes, zeros after.
func ReportData(runtimeData []byte) [64]byte {
	var rd [64]byte
	h := sha256.Sum256(runtimeData)
	copy(rd[:], h[:])
	return rd
}

// UnwrapSecret opens a JWE wrapped to this key; see [UnwrapSecret].
func (r *RuntimeKey) UnwrapSecret(jwe string) ([]byte, error) {
	return UnwrapSecret(jwe, r.Private)
}

// ValidateTokenOptions are the optional parameters of [Client.ValidateToken].
type ValidateTokenOptions struct {
	// Validation overrides the client's token validation options.
	Validation *TokenValidationOptions
}

// ValidateTokenResponse is the result of [Client.ValidateToken].
type ValidateTokenResponse struct {
	AttestationResult
	// Signer is the key that verified the token.
	Signer *Signer
}

// ValidateToken parses and validates an attestation token this client's
// endpoint issued (for example one an enclave handed to a relying party),
// with the keys of the endpoint's /certs, fail-closed as for the client's
// own calls: unsecured tokens are refused. It returns an error wrapping
// [ErrMalformedToken], a *[TokenValidationError], or the error fetching the
// keys.
func (c *Client) ValidateToken(ctx context.Context, token string, options *ValidateTokenOptions) (_ ValidateTokenResponse, err error) {
	ctx, endSpan := c.b.startSpan(ctx, "Client.ValidateToken")
	defer func() { endSpan(err) }()
	tok, err := ParseToken(token)
	if err != nil {
		return ValidateTokenResponse{}, err
	}
	o := c.b.validate
	if options != nil && options.Validation != nil {
		o = *options.Validation
	}
	o.AllowUnsecured = false
	signer, err := c.b.validateToken(ctx, tok, false, &o)
	if err != nil {
		return ValidateTokenResponse{}, err
	}
	return ValidateTokenResponse{AttestationResult: newAttestationResult(tok), Signer: signer}, nil
}
