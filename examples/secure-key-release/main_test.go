package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/config"
)

// TestWalkthrough runs the example against an in-process server started as
// the example's comment says: --dev --dev-trust-simulated-evidence, plain
// HTTP on loopback, a development bearer token.
func TestWalkthrough(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Dev, cfg.DevTrustSimulatedEvidence = true, true
	cfg.DataDir, cfg.HTTPSAddr, cfg.HTTPAddr = dir, "", "127.0.0.1:0"
	cfg.DevBearerToken = "walkthrough"
	cfg.ShutdownTimeout = 5 * time.Second
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var out bytes.Buffer
	err = run(context.Background(), walkConfig{Endpoint: a.Issuer(), DataDir: dir, BearerToken: "walkthrough"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"simulated=true", `enclave unwrapped: "the relying party's secret"`, "bound to the report data (checked: true)", "kty oct, 32-byte key"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())

	// Without the right bearer token the operator step fails.
	if err := run(context.Background(), walkConfig{Endpoint: a.Issuer(), DataDir: dir, BearerToken: "wrong"}, io.Discard); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("wrong bearer: %v", err)
	}
}
