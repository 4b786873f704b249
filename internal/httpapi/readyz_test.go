package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadyzFixedReason: a failing readiness check answers 503 with a
// fixed reason; the cause (here a store error naming host and user) reaches
// the log, never the client.
func TestReadyzFixedReason(t *testing.T) {
	const secret = `failed to connect to host=db.internal user=maat database=maat: password authentication failed`
	var logs bytes.Buffer
	fail := true
	s := &Server{
		Log:       slog.New(slog.NewTextHandler(&logs, nil)),
		IssuerURI: func() string { return "https://maat.example" },
		Ready: func(context.Context) error {
			if fail {
				return errors.New(secret)
			}
			return nil
		},
		MaxBodyBytes: 1 << 20,
	}
	h := s.Handler()
	get := func() (int, map[string]string, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]string
		raw := rec.Body.String()
		if err := json.Unmarshal([]byte(raw), &body); err != nil {
			t.Fatalf("/readyz body %q: %v", raw, err)
		}
		return rec.Code, body, raw
	}
	code, body, raw := get()
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" || body["reason"] != NotReadyReason {
		t.Fatalf("/readyz = %d %q, want 503 with the fixed reason", code, raw)
	}
	if strings.Contains(raw, "db.internal") || strings.Contains(raw, "password") {
		t.Fatalf("/readyz leaks the cause: %s", raw)
	}
	if !strings.Contains(logs.String(), "db.internal") {
		t.Fatalf("the cause is not logged:\n%s", logs.String())
	}
	fail = false
	if code, body, _ := get(); code != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("ready: %d %v", code, body)
	}
}
