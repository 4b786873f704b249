// Package httpapi is Maat's MAA-compatible REST surface and the only package
// that knows HTTP: routing (case-insensitive paths, MAA's "{type}:reset"
// style), api-version checks, body limits, request ids, access logs, and
// rendering every error once as MAA's envelope
// {"error":{"code","message"}} with the x-ms-error-code header.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/statuswriter"
)

// APIVersions are the api-version values Maat accepts, oldest first.
// 2023-04-01-preview has no spec folder, but MAA answers it and TDX clients
// (Azure/cvm-attestation-tools) send it (decision D1).
var APIVersions = []string{"2020-10-01", "2022-08-01", "2022-09-01-preview", "2023-04-01-preview", "2025-06-01"}

// KeySetSource yields the current signing key set.
type KeySetSource interface {
	Current() *keys.Set
}

// Server holds the dependencies of the REST surface. Fields are set before
// Handler is called and not changed afterwards.
type Server struct {
	Log *slog.Logger
	// IssuerURI returns the instance URI.
	IssuerURI func() string
	Keys      KeySetSource
	// Ready reports whether the service can take traffic (database
	// reachable, keys loaded); nil error means ready.
	Ready func(ctx context.Context) error
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes int64
	// Attester and Management serve the attestation and management
	// operations; when nil those routes are not registered.
	Attester   Attester
	Management Manager
	// MaxNonceBytes bounds the nonce of an attestation request; zero means
	// DefaultMaxNonceBytes.
	MaxNonceBytes int
	// Auth authenticates management calls; nil means no authentication
	// (a loud warning is the caller's job).
	Auth Authenticator
	// Baselines serves GET /tcbbaselines/{type}; nil leaves it out.
	Baselines TCBBaselines
	// Observer, when set, is told of the decode stage of attestations.
	Observer observe.Observer
}

// Handler returns the http.Handler serving the whole surface.
func (s *Server) Handler() http.Handler {
	rt := &router{}
	rt.handle(http.MethodGet, "/certs", s.getCerts)
	rt.handle(http.MethodGet, "/.well-known/openid-configuration", s.getOpenIDConfiguration)
	rt.handle(http.MethodGet, "/healthz", s.healthz)
	rt.handle(http.MethodGet, "/readyz", s.readyz)
	if s.Attester != nil && s.Management != nil {
		s.registerAttestation(rt)
	}
	if s.Baselines != nil {
		rt.handle(http.MethodGet, "/tcbbaselines/{type}", s.getTCBBaselines)
	}
	return s.middleware(rt.dispatch)
}

type ctxKey int

const requestIDKey ctxKey = 1

func contextWithParams(ctx context.Context, ps params) context.Context {
	return context.WithValue(ctx, paramsKey{}, ps)
}

// param returns the wildcard value name of the matched route.
func param(r *http.Request, name string) string {
	ps, _ := r.Context().Value(paramsKey{}).(params)
	return ps[name]
}

// RequestID returns the request id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// middleware wraps the router with request ids, body limits, panic
// recovery, error rendering and the access log.
func (s *Server) middleware(next handlerFunc) http.Handler {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBody := s.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		sw := statuswriter.Wrap(w)
		sw.Header().Set("x-ms-request-id", id)
		if cid := r.Header.Get("x-ms-client-request-id"); cid != "" && len(cid) <= 128 {
			sw.Header().Set("x-ms-client-request-id", cid)
		}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					log.Error("panic serving request", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					err = maaerr.New(maaerr.Internal, "An internal error occurred (request id %s).", id)
				}
			}()
			if r.ContentLength > maxBody {
				err = maaerr.New(maaerr.PayloadTooLarge, "The request body of %d bytes exceeds the limit of %d bytes.", r.ContentLength, maxBody)
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
			}
			err = next(sw, r)
		}()
		if err != nil {
			e := maaerr.As(err)
			if e.Code == maaerr.Internal {
				log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
				e = maaerr.New(maaerr.Internal, "An internal error occurred (request id %s).", id)
			} else {
				log.Info("request rejected", "request_id", id, "code", string(e.Code), "message", e.Message, "cause", errString(e.Err))
			}
			if !sw.Written() {
				writeError(sw, e)
			}
		}
		log.Info("request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", sw.Status(),
			"bytes", sw.Bytes(), "duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *maaerr.Error) {
	var body errorBody
	body.Error.Code = string(e.Code)
	body.Error.Message = e.Message
	w.Header().Set("x-ms-error-code", string(e.Code))
	writeJSON(w, statusOf(e.Code), body)
}

// statusOf is the HTTP status MAA answers with for an error code; unknown
// codes are 500.
func statusOf(c maaerr.Code) int {
	switch c {
	case maaerr.InvalidParameter, maaerr.InvalidOperation, maaerr.PolicyParsingError, maaerr.PolicyEvaluationError, maaerr.InvalidQuote:
		return http.StatusBadRequest
	case maaerr.Unauthorized:
		return http.StatusUnauthorized
	case maaerr.Forbidden:
		return http.StatusForbidden
	case maaerr.NotFound:
		return http.StatusNotFound
	case maaerr.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case maaerr.Conflict:
		return http.StatusConflict
	case maaerr.PayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case maaerr.UnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case maaerr.ServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalError","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readBody reads the (already size-limited) request body, returning
// PayloadTooLarge when the limit was hit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := readAll(r.Body, r.ContentLength)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, maaerr.New(maaerr.PayloadTooLarge, "The request body exceeds the limit of %d bytes.", mbe.Limit)
	}
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The request body could not be read.")
	}
	return b, nil
}

// maxPrealloc bounds the buffer readAll sizes from a client's
// Content-Length before any byte arrived.
const maxPrealloc = 64 << 10

// readAll is io.ReadAll starting from a buffer of the declared length
// (bounded by maxPrealloc), so a typical request body is read into one
// allocation instead of a doubling series.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	size := 512
	if declared > 0 && declared < maxPrealloc {
		size = int(declared) + 1 // room for the read that reports EOF
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// checkAPIVersion validates the api-version query parameter. When optional
// is true a missing value is accepted (MAA serves /certs and the OpenID
// document without one). It returns the version, or InvalidParameter naming
// the supported versions.
func checkAPIVersion(r *http.Request, optional bool) (string, error) {
	vals, present := r.URL.Query()["api-version"]
	if !present || len(vals) == 0 || vals[0] == "" {
		if optional {
			return "", nil
		}
		return "", maaerr.New(maaerr.InvalidParameter, "The api-version query parameter is required. Supported versions: %s.", strings.Join(APIVersions, ", "))
	}
	v := vals[0]
	for _, s := range APIVersions {
		if v == s {
			return v, nil
		}
	}
	return "", maaerr.New(maaerr.InvalidParameter, "The api-version '%s' is not supported. Supported versions: %s.", v, strings.Join(APIVersions, ", "))
}

func (s *Server) getCerts(w http.ResponseWriter, r *http.Request) error {
	if _, err := checkAPIVersion(r, true); err != nil {
		return err
	}
	set := s.Keys.Current()
	if set == nil {
		return maaerr.New(maaerr.ServiceUnavailable, "Signing keys are not loaded yet.")
	}
	writeJSON(w, http.StatusOK, set.JWKS())
	return nil
}

// OpenIDConfiguration is the document served at
// /.well-known/openid-configuration, with MAA's snake_case member names.
type OpenIDConfiguration struct {
	ResponseTypesSupported           []string `json:"response_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

func (s *Server) getOpenIDConfiguration(w http.ResponseWriter, r *http.Request) error {
	if _, err := checkAPIVersion(r, true); err != nil {
		return err
	}
	iss := s.IssuerURI()
	writeJSON(w, http.StatusOK, OpenIDConfiguration{
		ResponseTypesSupported:           []string{"token", "none"},
		IDTokenSigningAlgValuesSupported: []string{jose.AlgRS256},
		RevocationEndpoint:               iss + "/revoke",
		Issuer:                           iss,
		JWKSURI:                          iss + "/certs",
		ClaimsSupported:                  claimsSupported(s.Attester),
	})
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// NotReadyReason is the fixed reason /readyz gives when the service is not
// ready. The cause (a database error, a key problem) goes to the log only:
// /readyz needs no authentication, and store errors name hosts, users and
// schemas.
const NotReadyReason = "the service is not ready; the server log says why"

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.Log.Warn("not ready", "err", err, "request_id", RequestID(r.Context()))
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": NotReadyReason})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
