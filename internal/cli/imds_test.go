package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// fakeIMDS answers as Azure's IMDS does: /acc/tdquote with host (the TD
// quote) for the TDREPORT of hclReport, and the THIM certification with
// host split into the VCEK and the rest of its PEM chain. Without the
// Metadata header it answers 400, as IMDS does.
func fakeIMDS(t *testing.T, host, hclReport []byte) *httptest.Server {
	t.Helper()
	var td []byte
	if r, err := hcl.Parse(hclReport); err == nil {
		td, _ = r.TDReport()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, `{"error":"Bad request. Required metadata header not specified"}`, http.StatusBadRequest)
			return
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/acc/tdquote":
			var req struct{ Report string }
			b, _ := io.ReadAll(r.Body)
			rep, err := base64.RawURLEncoding.DecodeString(func() string { _ = json.Unmarshal(b, &req); return req.Report }())
			if err != nil || td == nil || !bytes.Equal(rep, td) {
				http.Error(w, "not this VM's TDREPORT", http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"quote": base64.RawURLEncoding.EncodeToString(host)})
		case r.Method == http.MethodGet && r.URL.Path == "/metadata/THIM/amd/certification":
			pem := string(host)
			i := strings.Index(pem[1:], "-----BEGIN") + 1
			if i <= 0 {
				i = len(pem)
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"vcekCert": pem[:i], "certificateChain": pem[i:], "tcbm": "0", "cacheControl": "86400"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The IMDS client sends what IMDS expects and reports what went wrong with
// the URL and status; answers are bounded.
func TestIMDS(t *testing.T) {
	raw := tdxvectors.MustRead("azure_dcesv5", "hcl-report.bin")
	r, err := hcl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	td, _ := r.TDReport()
	quote := []byte("a TD quote")
	srv := fakeIMDS(t, quote, raw)
	m := newIMDS(srv.URL)
	got, err := m.tdQuote(t.Context(), td)
	if err != nil || !bytes.Equal(got, quote) {
		t.Fatalf("tdQuote = %q, %v", got, err)
	}
	if _, err := m.tdQuote(t.Context(), td[:100]); err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), srv.URL+"/acc/tdquote") {
		t.Fatalf("another TDREPORT: %v", err)
	}

	chainPEM := []byte("-----BEGIN CERTIFICATE-----\nVCEK\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nASK\n-----END CERTIFICATE-----\n")
	chain, err := newIMDS(fakeIMDS(t, chainPEM, nil).URL).vcekChain(t.Context())
	if err != nil || !bytes.Contains(chain, []byte("VCEK")) || !bytes.Contains(chain, []byte("ASK")) || bytes.Index(chain, []byte("VCEK")) > bytes.Index(chain, []byte("ASK")) {
		t.Fatalf("vcekChain = %q, %v", chain, err)
	}

	for name, h := range map[string]http.HandlerFunc{
		"not JSON":   func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>") },
		"no quote":   func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{}`) },
		"not base64": func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"quote":"!!"}`) },
		"oversized": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("x"), imdsMaxResponse+10))
		},
		"server error": func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) },
	} {
		s := httptest.NewServer(h)
		_, err := newIMDS(s.URL).tdQuote(t.Context(), td)
		s.Close()
		if err == nil || !strings.Contains(err.Error(), "IMDS "+s.URL) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Nothing listening: the error says where it looked.
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close()
	if _, err := newIMDS(url).vcekChain(t.Context()); err == nil || !strings.Contains(err.Error(), "is this an Azure VM?") {
		t.Fatalf("no IMDS: %v", err)
	}
}
