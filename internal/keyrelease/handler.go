package keyrelease

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

// PathPrefix is where the key release surface is mounted.
const PathPrefix = "/x-maat/keys"

// Authenticator authorizes management calls (create, list, get, delete)
// with the server's policy-management authentication; write is set for
// changes. It returns an Unauthorized or Forbidden *maaerr.Error.
type Authenticator interface {
	Authenticate(r *http.Request, write bool) error
}

// Handler serves the key release REST surface:
//
//	GET    /x-maat/keys                  list (management, read)
//	PUT    /x-maat/keys/{name}           create (management, write)
//	GET    /x-maat/keys/{name}           describe (management, read)
//	DELETE /x-maat/keys/{name}           delete (management, write)
//	POST   /x-maat/keys/{name}/release   {"target": token[, "runtime_data": base64]} → {"value": JWE, …}
//
// Release needs no management credential: the attestation token is the
// credential, and the key is wrapped to the key the token attests, which
// only the TEE holds. Errors are rendered as {"error":{"code","message"}}
// with x-ms-error-code, as on the MAA surface.
type Handler struct {
	Service *Service
	// Auth authenticates management calls; nil means none (auth-disabled).
	Auth Authenticator
	// MaxBodyBytes bounds request bodies (≤ 0: 1 MiB).
	MaxBodyBytes int64
	Log          *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if err := h.serve(w, r); err != nil {
		e := maaerr.As(err)
		if e.Code == maaerr.Internal {
			if h.Log != nil {
				h.Log.Error("key release request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			e = maaerr.New(maaerr.Internal, "An internal error occurred.")
		}
		writeError(w, e)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return maaerr.New(maaerr.NotFound, "There is no resource at %s.", r.URL.Path)
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0:
		if r.Method != http.MethodGet {
			return notAllowed(r, "GET")
		}
		if err := h.auth(r, false); err != nil {
			return err
		}
		list, err := h.Service.List(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"keys": list})
	case len(parts) == 1:
		name := parts[0]
		switch r.Method {
		case http.MethodGet:
			if err := h.auth(r, false); err != nil {
				return err
			}
			k, err := h.Service.Get(r.Context(), name)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, k)
		case http.MethodPut:
			if err := h.auth(r, true); err != nil {
				return err
			}
			var req CreateRequest
			if err := decode(r, &req); err != nil {
				return err
			}
			k, err := h.Service.Create(r.Context(), name, req)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusCreated, k)
		case http.MethodDelete:
			if err := h.auth(r, true); err != nil {
				return err
			}
			if err := h.Service.Delete(r.Context(), name); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return notAllowed(r, "GET, PUT, DELETE")
	case len(parts) == 2 && parts[1] == "release":
		if r.Method != http.MethodPost {
			return notAllowed(r, "POST")
		}
		var req ReleaseRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Target == "" {
			return maaerr.New(maaerr.InvalidParameter, "The release request needs \"target\": the attestation token of the TEE the key is released to.")
		}
		out, err := h.Service.Release(r.Context(), parts[0], req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	}
	return maaerr.New(maaerr.NotFound, "There is no resource at %s.", r.URL.Path)
}

func (h *Handler) auth(r *http.Request, write bool) error {
	if h.Auth == nil {
		return nil
	}
	return h.Auth.Authenticate(r, write)
}

func notAllowed(r *http.Request, allowed string) error {
	return maaerr.New(maaerr.MethodNotAllowed, "%s is not allowed on %s (allowed: %s).", r.Method, r.URL.Path, allowed)
}

// decode reads one JSON object, refusing duplicate members.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return maaerr.New(maaerr.PayloadTooLarge, "The request body exceeds the limit of %d bytes.", mbe.Limit)
	}
	if err != nil {
		return maaerr.Wrap(err, maaerr.InvalidParameter, "The request body could not be read.")
	}
	if err := jsonstrict.Check(body, true, 0); err != nil {
		return maaerr.New(maaerr.InvalidParameter, "The request body is not valid JSON: %v.", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return maaerr.New(maaerr.InvalidParameter, "The request body is not the expected JSON object: %v.", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return maaerr.Wrap(err, maaerr.Internal, "encoding the response failed")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func writeError(w http.ResponseWriter, e *maaerr.Error) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = string(e.Code), e.Message
	w.Header().Set("x-ms-error-code", string(e.Code))
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(statusOf(e.Code))
	_, _ = w.Write(b)
}

func statusOf(c maaerr.Code) int {
	switch c {
	case maaerr.InvalidParameter:
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
	case maaerr.ServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
