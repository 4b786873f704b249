package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/observe"
)

// Attester runs attestations (internal/attestation.Pipeline).
type Attester interface {
	// Supports reports whether the server verifies evidence of type t.
	Supports(t evidence.Type) bool
	Attest(ctx context.Context, req attestation.Request) (string, error)
	// Exchange serves one message of a multi-message protocol (Tpm).
	Exchange(ctx context.Context, t evidence.Type, msg []byte) ([]byte, error)
}

// Manager runs policy and certificate management
// (internal/attestation.Management). JWS arguments are compact JWS strings,
// decoded from the request body here.
type Manager interface {
	GetPolicy(ctx context.Context, typ evidence.Type) (string, error)
	SetPolicy(ctx context.Context, typ evidence.Type, jws string) (string, error)
	ResetPolicy(ctx context.Context, typ evidence.Type, jws string) (string, error)
	GetCertificates(ctx context.Context) (string, error)
	ModifyCertificate(ctx context.Context, jws string, add bool) (string, error)
}

// Access is what a route lets a caller do, declared by the route.
type Access int

// Access levels of management routes.
const (
	// Read is a management read (policy get, certificate list).
	Read Access = iota + 1
	// Write changes the instance (policy set/reset, certificate add/remove).
	Write
)

// Authenticator decides whether a management request may proceed with the
// access the route declares; it returns an Unauthorized (or Forbidden)
// *maaerr.Error otherwise.
type Authenticator interface {
	Authenticate(r *http.Request, access Access) error
}

// StaticBearer accepts exactly one bearer token (development mode), for
// reads and writes alike.
type StaticBearer struct{ Token string }

// Authenticate implements Authenticator.
func (s StaticBearer) Authenticate(r *http.Request, _ Access) error {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.Token)) != 1 {
		return maaerr.New(maaerr.Unauthorized, "The request is not authorized: a valid bearer token is required for policy and certificate management.")
	}
	return nil
}

// typeInfo is what httpapi knows about an attestation type's wire shape.
type typeInfo struct {
	// member names the evidence in the request body.
	member string
	// protocol: the body is {"data": message} of a multi-message protocol.
	protocol bool
	// claims are the type's claims listed in claims_supported.
	claims []string
}

// types is the one table of per-type wire facts. Adding an attestation type
// adds one line here (and its verifier in app's catalog).
var types = map[evidence.Type]typeInfo{
	evidence.SgxEnclave:  {member: "quote", claims: sgxClaims},
	evidence.OpenEnclave: {member: "report", claims: sgxClaims},
	evidence.Tpm:         {member: "data", protocol: true},
	// MAA's TdxVm claims_supported has not been recorded: none are added.
	evidence.TdxVm:    {member: "quote"},
	evidence.SevSnpVm: {member: "report", claims: sevsnpClaims},
	// AzureGuest answers with a sealed token; the member is matched in any case.
	evidence.AzureGuest: {member: "AttestationInfo"},
}

// sevsnpClaims are MAA's SevSnpVm claims (internal/evidence/sevsnp).
var sevsnpClaims = []string{
	"x-ms-sevsnpvm-authorkeydigest", "x-ms-sevsnpvm-bootloader-svn", "x-ms-sevsnpvm-familyId", "x-ms-sevsnpvm-guestsvn",
	"x-ms-sevsnpvm-hostdata", "x-ms-sevsnpvm-idkeydigest", "x-ms-sevsnpvm-imageId", "x-ms-sevsnpvm-is-debuggable",
	"x-ms-sevsnpvm-launchmeasurement", "x-ms-sevsnpvm-microcode-svn", "x-ms-sevsnpvm-migration-allowed",
	"x-ms-sevsnpvm-reportdata", "x-ms-sevsnpvm-reportid", "x-ms-sevsnpvm-smt-allowed", "x-ms-sevsnpvm-snpfw-svn",
	"x-ms-sevsnpvm-tee-svn", "x-ms-sevsnpvm-vmpl", "x-ms-sevsnpvm-uvm-endorsement", "x-ms-compliance-status",
	"x-ms-runtime", "x-ms-inittime",
}

// sgxClaims are the SGX claims MAA lists in claims_supported (recorded from
// a live instance, 2022-11).
var sgxClaims = []string{
	"x-ms-sgx-is-debuggable", "x-ms-sgx-mrenclave", "x-ms-sgx-mrsigner", "x-ms-sgx-svn", "x-ms-sgx-ehd",
	"x-ms-sgx-collateral", "is-debuggable", "sgx-mrsigner", "sgx-mrenclave", "product-id", "svn", "tee",
}

// baseClaims are the claims of every attestation token.
var baseClaims = []string{"cnf", "nonce", "x-ms-ver", "x-ms-attestation-type", "x-ms-policy-hash", "x-ms-policy-signer"}

// claimsSupported derives the OpenID metadata's claims_supported from the
// types the attester supports, in MAA's order (for SGX, OE and TPM it is
// exactly the list MAA serves).
func claimsSupported(a Attester) []string {
	out := append([]string(nil), baseClaims...)
	seen := map[string]bool{}
	for _, c := range out {
		seen[c] = true
	}
	for _, t := range evidence.Types() {
		if a == nil || !a.Supports(t) {
			continue
		}
		for _, c := range types[t].claims {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func (s *Server) registerAttestation(rt *router) {
	m := s.Management
	rt.handle(http.MethodPost, "/attest/{type}", s.attest)
	rt.handle(http.MethodGet, "/policies/{type}", s.mgmt(Read, true, func(r *http.Request, typ evidence.Type, _ []byte) (string, error) {
		return m.GetPolicy(r.Context(), typ)
	}))
	rt.handle(http.MethodPut, "/policies/{type}", s.mgmt(Write, true, func(r *http.Request, typ evidence.Type, body []byte) (string, error) {
		jws, err := jwsFromBody(body)
		if err != nil {
			return "", err
		}
		return m.SetPolicy(r.Context(), typ, jws)
	}))
	rt.handle(http.MethodPost, "/policies/{type}:reset", s.mgmt(Write, true, func(r *http.Request, typ evidence.Type, body []byte) (string, error) {
		jws, err := jwsFromBody(body)
		if err != nil {
			return "", err
		}
		return m.ResetPolicy(r.Context(), typ, jws)
	}))
	rt.handle(http.MethodGet, "/certificates", s.mgmt(Read, false, func(r *http.Request, _ evidence.Type, _ []byte) (string, error) {
		return m.GetCertificates(r.Context())
	}))
	rt.handle(http.MethodPost, "/certificates:add", s.mgmt(Write, false, func(r *http.Request, _ evidence.Type, body []byte) (string, error) {
		jws, err := certificateJWSFromBody(body, "policyCertificateToAdd")
		if err != nil {
			return "", err
		}
		return m.ModifyCertificate(r.Context(), jws, true)
	}))
	rt.handle(http.MethodPost, "/certificates:remove", s.mgmt(Write, false, func(r *http.Request, _ evidence.Type, body []byte) (string, error) {
		jws, err := certificateJWSFromBody(body, "policyCertificateToRemove")
		if err != nil {
			return "", err
		}
		return m.ModifyCertificate(r.Context(), jws, false)
	}))
}

// mgmtOp is one management operation: it gets the attestation type (when
// the path has one) and the size-limited body, and returns the management
// token.
type mgmtOp func(r *http.Request, typ evidence.Type, body []byte) (string, error)

// mgmt adapts a management operation: api-version check, authentication for
// the access the route declares, the attestation type from the path, the
// body (for writes), and the {"token": …} response.
func (s *Server) mgmt(access Access, hasType bool, op mgmtOp) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := checkAPIVersion(r, false); err != nil {
			return err
		}
		if s.Auth != nil {
			if err := s.Auth.Authenticate(r, access); err != nil {
				return err
			}
		}
		var typ evidence.Type
		var body []byte
		var err error
		if hasType {
			if typ, err = evidence.ParseType(clip(param(r, "type"))); err != nil {
				return err
			}
		}
		if access == Write {
			if body, err = readBody(r); err != nil {
				return err
			}
		}
		tok, err := op(r, typ, body)
		if err != nil {
			return err
		}
		return writeToken(w, tok)
	}
}

func writeToken(w http.ResponseWriter, tok string) error {
	// tok is a compact JWS from token.Issuer or jose: base64url parts and
	// dots, which JSON-encode as themselves, so {"token":"..."} is written
	// as json.Marshal would write it, without scanning the
	// ~7 kB token for characters to escape (TestWriteTokenIsJSONMarshal).
	const open, end = `{"token":"`, `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// A declared length lets net/http send the ~7 kB body as is, not in
	// chunked encoding with a terminating chunk written at handler return;
	// the three pieces go into its buffer without another copy of tok.
	h.Set("Content-Length", strconv.Itoa(len(open)+len(tok)+len(end)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, open)
	_, _ = io.WriteString(w, tok)
	_, _ = io.WriteString(w, end)
	return nil
}

func (s *Server) attest(w http.ResponseWriter, r *http.Request) error {
	if _, err := checkAPIVersion(r, false); err != nil {
		return err
	}
	typ, err := evidence.ParseType(clip(param(r, "type")))
	if err != nil {
		return err
	}
	info, known := types[typ]
	if !known || !s.Attester.Supports(typ) {
		return maaerr.New(maaerr.InvalidParameter, "Attestation of type '%s' is not supported by this server yet.", typ)
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if info.protocol {
		return s.exchange(w, r, typ, info, body)
	}
	_, end := observe.Start(r.Context(), s.Observer, observe.Decode)
	req, err := decodeAttestRequest(typ, info.member, body, s.maxNonce())
	end(err)
	if err != nil {
		return err
	}
	tok, err := s.Attester.Attest(r.Context(), req)
	if err != nil {
		return err
	}
	return writeToken(w, tok)
}

func (s *Server) maxNonce() int {
	if s.MaxNonceBytes > 0 {
		return s.MaxNonceBytes
	}
	return DefaultMaxNonceBytes
}

// DefaultMaxNonceBytes bounds the nonce a client may have echoed into a
// token. MAA's recorded clients send nonces of at most a few dozen bytes.
const DefaultMaxNonceBytes = 1024

// exchange serves one protocol message: {"data": base64url(message)} in,
// {"data": base64url(answer)} out.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request, typ evidence.Type, info typeInfo, body []byte) error {
	fields, err := decodeObject(body, "request body")
	if err != nil {
		return err
	}
	raw, ok := fields.Get(info.member)
	if !ok {
		return maaerr.New(maaerr.InvalidParameter, "The request has no \"%s\".", info.member)
	}
	data, err := b64Field(raw, info.member)
	if err != nil {
		return err
	}
	out, err := s.Attester.Exchange(r.Context(), typ, data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{info.member: jose.B64.EncodeToString(out)})
	return nil
}

// decodeAttestRequest decodes a single-shot attestation request
// (AttestSgxEnclaveRequest, AttestOpenEnclaveRequest, …) as real clients
// send it: member names in any case (quote, Quote, inittimeData, …),
// base64url with or without padding or standard base64, nonce as a string
// or a number, runtime/init-time data with empty data treated as absent. A
// member given twice (in any case) is refused: every request has one
// meaning.
func decodeAttestRequest(typ evidence.Type, member string, body []byte, maxNonce int) (attestation.Request, error) {
	req := attestation.Request{Type: typ}
	fields, err := decodeObject(body, "request body")
	if err != nil {
		return req, err
	}
	raw, ok := fields.Get(member)
	if !ok {
		return req, maaerr.New(maaerr.InvalidParameter, "The request has no \"%s\".", member)
	}
	if req.Evidence, err = b64Field(raw, member); err != nil {
		return req, err
	}
	if len(req.Evidence) == 0 {
		return req, maaerr.New(maaerr.InvalidParameter, "The \"%s\" is empty.", member)
	}
	if raw, ok := fields.Get("runtimeData"); ok && !isNull(raw) {
		if req.RuntimeData, err = decodeData(raw, "runtimeData"); err != nil {
			return req, err
		}
	}
	if raw, ok := fields.Get("initTimeData"); ok && !isNull(raw) {
		if req.InitTimeData, err = decodeData(raw, "initTimeData"); err != nil {
			return req, err
		}
	}
	if raw, ok := fields.Get("draftPolicyForAttestation"); ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return req, maaerr.New(maaerr.InvalidParameter, "\"draftPolicyForAttestation\" must be a string.")
		}
		req.DraftPolicy = &s
	}
	if raw, ok := fields.Get("nonce"); ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(raw, &n); err != nil {
				return req, maaerr.New(maaerr.InvalidParameter, "\"nonce\" must be a string or a number.")
			}
			s = n.String()
		}
		if len(s) > maxNonce {
			return req, maaerr.New(maaerr.InvalidParameter, "The \"nonce\" of %d bytes exceeds the limit of %d bytes.", len(s), maxNonce)
		}
		req.Nonce = &s
	}
	return req, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// decodeObject decodes a JSON object whose member names are matched
// case-insensitively. It returns InvalidParameter when body is not a JSON
// object or names one member twice (in any case).
func decodeObject(body []byte, what string) (jsonstrict.Object, error) {
	obj, err := jsonstrict.DecodeObject(body)
	var dup *jsonstrict.DuplicateError
	if errors.As(err, &dup) {
		return nil, maaerr.New(maaerr.InvalidParameter, "The %s is ambiguous: %s; send each member once.", what, clip(dup.Error()))
	}
	if err != nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "The %s is not a JSON object.", what)
	}
	return obj, nil
}

func b64Field(raw json.RawMessage, name string) ([]byte, error) {
	var b []byte
	var err error
	if inner, ok := plainString(raw); ok {
		b, err = jose.DecodeB64LooseBytes(inner)
	} else {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" must be a base64url string.", name)
		}
		b, err = jose.DecodeB64Loose(s)
	}
	if err != nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" is not valid base64url or base64.", name)
	}
	return b, nil
}

// plainString returns the contents of a JSON string without escapes (the
// shape every base64 member has), aliasing raw, without decoding it again;
// ok is false for anything else, which the caller decodes in full. raw is a
// validated JSON value (jsonstrict), so a leading quote means a string.
func plainString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		return nil, false
	}
	return inner, true
}

// decodeData decodes {"data": base64, "dataType": "Binary"|"JSON"}. Empty
// data is absent (nil, nil), whatever its dataType, as the confidential
// containers sidecar sends {"data":"","dataType":""}.
func decodeData(raw json.RawMessage, name string) (*attestation.Data, error) {
	fields, err := decodeObject(raw, "\""+name+"\"")
	if err != nil {
		return nil, err
	}
	d := &attestation.Data{}
	dataRaw, ok := fields.Get("data")
	if !ok {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" has no \"data\".", name)
	}
	if d.Bytes, err = b64Field(dataRaw, name+".data"); err != nil {
		return nil, err
	}
	if len(d.Bytes) == 0 {
		return nil, nil
	}
	if dt, ok := fields.Get("dataType"); ok && !isNull(dt) {
		var s string
		if err := json.Unmarshal(dt, &s); err != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s.dataType\" must be \"Binary\" or \"JSON\".", name)
		}
		switch strings.ToLower(s) {
		case "binary", "":
		case "json":
			d.JSON = true
		default:
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s.dataType\" is '%s'; it must be \"Binary\" or \"JSON\".", name, clip(s))
		}
	}
	return d, nil
}

// maxEcho bounds how much client input an error message repeats.
const maxEcho = 256

// clip shortens client input repeated in messages and logs to maxEcho
// bytes (on a rune boundary), marking the cut with "…".
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
