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
