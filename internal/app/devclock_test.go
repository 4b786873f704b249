package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/sdk/azattest"
)

// evidenceTimeConfig is contractConfig with only the evidence clock pinned
// (--dev-evidence-time): 2025 evidence verifies, tokens carry today's dates.
func evidenceTimeConfig(dir string) config.Config {
	cfg := contractConfig(dir)
	cfg.DevTime = ""
	cfg.DevEvidenceTime = testDevTime
	return cfg
}

// TestDevEvidenceTimeTokensValidateToday replays 2025 evidence on a server
// whose evidence clock is pinned; its tokens must validate in the Go SDK
// and the official JS client with their default validation options at
// today's wall clock (the CLI is checked in cmd/maat).
func TestDevEvidenceTimeTokensValidateToday(t *testing.T) {
	dir := t.TempDir()
	r := start(t, evidenceTimeConfig(dir))
	ev := loadMAAEvidence(t)

	if d := time.Since(r.app.now()); d < -time.Minute || d > time.Minute {
		t.Fatalf("token clock is %s away from the wall clock", d)
	}
	if d := r.app.verifyNow().Sub(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)); d < 0 || d > time.Minute {
		t.Fatalf("evidence clock at %s, want 2025-06-01 advancing", r.app.verifyNow())
	}

	// Go SDK: default validation options (issuer = endpoint, now = wall
	// clock, no slack); the endpoint is the issuer's host.
	o := &azattest.ClientOptions{}
	o.Transport = httpsClient(t, dir)
	c, err := azattest.NewClient(r.app.Issuer(), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.AttestOpenEnclave(context.Background(), ev.report, &azattest.AttestOpenEnclaveOptions{
		RuntimeData: &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary}})
	if err != nil {
		t.Fatalf("SDK with default validation: %v", err)
	}
	exp := res.Token.Claims().ExpiresAt
	if exp == nil || exp.Before(time.Now()) {
		t.Fatalf("token exp %v is not in the future", exp)
	}

	// The official JS client, default validation, no clock shift.
	results := jsRun(t, r, dir, nil, []jsStep{{Op: "attestOpenEnclave", Evidence: ev.report, RuntimeData: ev.runtime, DefaultValidation: true}})
	if !results[0].OK {
		t.Fatalf("JS client with default validation: %+v", *results[0].Error)
	}
	if iat, _ := results[0].Token.Claims["iat"].(float64); time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
		t.Fatalf("JS client token iat %v is not now", iat)
	}
}

// TestDevClockLog says which clock is pinned and that it advances.
func TestDevClockLog(t *testing.T) {
	for _, tc := range []struct {
		devTime, evidenceTime, want string
	}{
		{"2025-06-01T00:00:00Z", "", "every clock (evidence verification and tokens) starts at 2025-06-01T00:00:00Z and advances"},
		{"", "2025-06-01T00:00:00Z", "evidence and collateral are verified at 2025-06-01T00:00:00Z, advancing at the real rate; tokens use the real clock"},
	} {
		cfg := testConfig(t.TempDir())
		cfg.DevTime, cfg.DevEvidenceTime = tc.devTime, tc.evidenceTime
		var out strings.Builder
		devClocks(cfg, &out, slog.New(slog.DiscardHandler))
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("dev clock line %q, want it to contain %q", out.String(), tc.want)
		}
	}
}
