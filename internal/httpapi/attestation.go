package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Attester runs attestations (internal/attestation.Attester).
type Attester interface {
	Attest(ctx context.Context, req attestation.Request) (string, error)
}

// Manager runs policy and certificate management (internal/attestation.Management).
type Manager interface {
	GetPolicy(ctx context.Context, typ string) (string, error)
	SetPolicy(ctx context.Context, typ string, body []byte) (string, error)
	ResetPolicy(ctx context.Context, typ string, body []byte) (string, error)
	GetCertificates(ctx context.Context) (string, error)
	ModifyCertificate(ctx context.Context, body []byte, add bool) (string, error)
}

// TPMExchanger runs the /attest/Tpm message exchange
// (internal/attestation.TPMAttester).
type TPMExchanger interface {
	Exchange(ctx context.Context, data []byte) ([]byte, error)
}

// Authenticator decides whether a management request may proceed; it
// returns an Unauthorized *maaerr.Error otherwise.
type Authenticator interface {
	Authenticate(r *http.Request) error
}

// StaticBearer accepts exactly one bearer token (development mode).
type StaticBearer struct{ Token string }

// Authenticate implements Authenticator.
func (s StaticBearer) Authenticate(r *http.Request) error {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.Token)) != 1 {
		return maaerr.New(maaerr.Unauthorized, "The request is not authorized: a valid bearer token is required for policy and certificate management.")
	}
	return nil
}

func (s *Server) registerAttestation(rt *router) {
	m := s.Management
	rt.handle(http.MethodPost, "/attest/{type}", s.attest)
	rt.handle(http.MethodGet, "/policies/{type}", s.mgmt(func(r *http.Request, typ string, _ []byte) (string, error) {
		return m.GetPolicy(r.Context(), typ)
	}, true, false))
	rt.handle(http.MethodPut, "/policies/{type}", s.mgmt(func(r *http.Request, typ string, body []byte) (string, error) {
		return m.SetPolicy(r.Context(), typ, body)
	}, true, true))
	rt.handle(http.MethodPost, "/policies/{type}:reset", s.mgmt(func(r *http.Request, typ string, body []byte) (string, error) {
		return m.ResetPolicy(r.Context(), typ, body)
	}, true, true))
	rt.handle(http.MethodGet, "/certificates", s.mgmt(func(r *http.Request, _ string, _ []byte) (string, error) {
		return m.GetCertificates(r.Context())
	}, false, false))
	rt.handle(http.MethodPost, "/certificates:add", s.mgmt(func(r *http.Request, _ string, body []byte) (string, error) {
		return m.ModifyCertificate(r.Context(), body, true)
	}, false, true))
	rt.handle(http.MethodPost, "/certificates:remove", s.mgmt(func(r *http.Request, _ string, body []byte) (string, error) {
		return m.ModifyCertificate(r.Context(), body, false)
	}, false, true))
}

// mgmtOp is one management operation: it gets the canonical attestation
// type (when the path has one) and the body (when the method has one) and
// returns the management token.
type mgmtOp func(r *http.Request, typ string, body []byte) (string, error)

// mgmt adapts a management operation: api-version check, authentication,
// the attestation type from the path, the size-limited body, and the
// {"token": …} response.
func (s *Server) mgmt(op mgmtOp, hasType, hasBody bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := checkAPIVersion(r, false); err != nil {
			return err
		}
		if s.Auth != nil {
			if err := s.Auth.Authenticate(r); err != nil {
				return err
			}
		}
		var typ string
		var body []byte
		var err error
		if hasType {
			if typ, err = attestation.CanonicalType(param(r, "type")); err != nil {
				return err
			}
		}
		if hasBody {
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
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
	return nil
}

func (s *Server) attest(w http.ResponseWriter, r *http.Request) error {
	if _, err := checkAPIVersion(r, false); err != nil {
		return err
	}
	typ, err := attestation.CanonicalType(param(r, "type"))
	if err != nil {
		return err
	}
	if typ == attestation.TypeTPM && s.TPM != nil {
		return s.attestTPM(w, r)
	}
	if typ != attestation.TypeSGX && typ != attestation.TypeOpenEnclave {
		return maaerr.New(maaerr.InvalidParameter, "Attestation of type '%s' is not supported by this server yet.", typ)
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := decodeAttestRequest(typ, body)
	if err != nil {
		return err
	}
	tok, err := s.Attester.Attest(r.Context(), req)
	if err != nil {
		return err
	}
	return writeToken(w, tok)
}

// decodeAttestRequest decodes AttestSgxEnclaveRequest /
// AttestOpenEnclaveRequest as real clients send them: member names in any
// case (quote, Quote, inittimeData, …), base64url with or without padding or
// standard base64, nonce as a string or a number.
func decodeAttestRequest(typ string, body []byte) (attestation.Request, error) {
	req := attestation.Request{Type: typ}
	fields, err := lowerObject(body, "request body")
	if err != nil {
		return req, err
	}
	evidenceName := "quote"
	if typ == attestation.TypeOpenEnclave {
		evidenceName = "report"
	}
	raw, ok := fields[evidenceName]
	if !ok {
		return req, maaerr.New(maaerr.InvalidParameter, "The request has no \"%s\".", evidenceName)
	}
	if req.Evidence, err = b64Field(raw, evidenceName); err != nil {
		return req, err
	}
	if len(req.Evidence) == 0 {
		return req, maaerr.New(maaerr.InvalidParameter, "The \"%s\" is empty.", evidenceName)
	}
	if raw, ok := fields["runtimedata"]; ok && !isNull(raw) {
		if req.RuntimeData, err = decodeData(raw, "runtimeData"); err != nil {
			return req, err
		}
	}
	if raw, ok := fields["inittimedata"]; ok && !isNull(raw) {
		if req.InitTimeData, err = decodeData(raw, "initTimeData"); err != nil {
			return req, err
		}
	}
	if raw, ok := fields["draftpolicyforattestation"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return req, maaerr.New(maaerr.InvalidParameter, "\"draftPolicyForAttestation\" must be a string.")
		}
		req.DraftPolicy = &s
	}
	if raw, ok := fields["nonce"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(raw, &n); err != nil {
				return req, maaerr.New(maaerr.InvalidParameter, "\"nonce\" must be a string or a number.")
			}
			s = n.String()
		}
		req.Nonce = &s
	}
	return req, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// lowerObject decodes a JSON object into a map keyed by lower-cased member
// names. It returns InvalidParameter when body is not a JSON object.
func lowerObject(body []byte, what string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "The %s is not a JSON object.", what)
	}
	out := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		out[strings.ToLower(k)] = v
	}
	return out, nil
}

func b64Field(raw json.RawMessage, name string) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" must be a base64url string.", name)
	}
	b, err := jose.DecodeB64Loose(s)
	if err != nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" is not valid base64url or base64.", name)
	}
	return b, nil
}

func decodeData(raw json.RawMessage, name string) (*attestation.Data, error) {
	fields, err := lowerObject(raw, "\""+name+"\"")
	if err != nil {
		return nil, err
	}
	d := &attestation.Data{}
	dataRaw, ok := fields["data"]
	if !ok {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" has no \"data\".", name)
	}
	if d.Bytes, err = b64Field(dataRaw, name+".data"); err != nil {
		return nil, err
	}
	if dt, ok := fields["datatype"]; ok && !isNull(dt) {
		var s string
		if err := json.Unmarshal(dt, &s); err != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s.dataType\" must be \"Binary\" or \"JSON\".", name)
		}
		switch strings.ToLower(s) {
		case "binary":
		case "json":
			d.JSON = true
		default:
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s.dataType\" is '%s'; it must be \"Binary\" or \"JSON\".", name, s)
		}
	}
	return d, nil
}

// attestTPM serves one TPM protocol message: {"data": base64url(message)} in,
// {"data": base64url(answer)} out.
func (s *Server) attestTPM(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	fields, err := lowerObject(body, "request body")
	if err != nil {
		return err
	}
	raw, ok := fields["data"]
	if !ok {
		return maaerr.New(maaerr.InvalidParameter, "The request has no \"data\".")
	}
	data, err := b64Field(raw, "data")
	if err != nil {
		return err
	}
	out, err := s.TPM.Exchange(r.Context(), data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"data": jose.B64.EncodeToString(out)})
	return nil
}
