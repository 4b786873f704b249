package tracing

import (
	"context"
	"testing"

	"github.com/maat-attest/maat/internal/observe"
)

// TestRouteNamesAreBounded: span names come from a fixed set whatever the
// path; attestation types and ":reset" are kept.
func TestRouteNamesAreBounded(t *testing.T) {
	for path, want := range map[string]string{
		"/attest/SgxEnclave":                 "/attest/{type}",
		"/policies/Tpm:reset":                "/policies/{type}:reset",
		"/policies/OpenEnclave":              "/policies/{type}",
		"/certificates:add":                  "/certificates:add",
		"/certs":                             "/certs",
		"/.well-known/openid-configuration":  "/.well-known/openid-configuration",
		"/.well-known/anything-else":         "other",
		"/certs/extra/segments":              "other",
		"/a-random-path-an-attacker-invents": "other",
		"/":                                  "other",
	} {
		if got := route(path); got != want {
			t.Errorf("route(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestDisabledIsNoop: off by default (and with OTEL_SDK_DISABLED), spans are
// not recorded and the middleware is the handler itself.
func TestDisabledIsNoop(t *testing.T) {
	for _, opts := range []Options{{}, {Enabled: true, Getenv: func(k string) string {
		if k == "OTEL_SDK_DISABLED" {
			return "true"
		}
		return ""
	}}} {
		tr, err := New(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Enabled() {
			t.Errorf("%+v: enabled", opts)
		}
		_, end := tr.Start(context.Background(), observe.Verify)
		end(nil)
	}
}

// FuzzRoute: whatever the path, the span name is one of a fixed set (no
// request data in span names).
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/attest/SgxEnclave", "/policies/Tpm:reset", "/certs", "/.well-known/openid-configuration", "//", "/attest/", "/policies/a/b"} {
		f.Add(s)
	}
	allowed := map[string]bool{"/attest/{type}": true, "/attest/{type}:reset": true, "/policies/{type}": true, "/policies/{type}:reset": true,
		"/certificates": true, "/certificates:add": true, "/certificates:remove": true, "/certs": true, "/healthz": true, "/readyz": true,
		"/.well-known/openid-configuration": true, "other": true}
	f.Fuzz(func(t *testing.T, path string) {
		if got := route(path); !allowed[got] {
			t.Fatalf("route(%q) = %q, outside the fixed set", path, got)
		}
	})
}
