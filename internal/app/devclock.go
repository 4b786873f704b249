package app

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/maat-attest/maat/internal/config"
)

// clocks are the two clocks of an instance. Verify dates evidence and
// collateral checks; Tokens dates everything the instance issues (tokens,
// management responses, signing-key certificates) and its own bookkeeping.
// They differ only under --dev-evidence-time: replaying recorded evidence
// needs verification at a past instant, but nothing needs tokens from the
// past, which every client would reject as expired.
type clocks struct {
	Tokens func() time.Time
	Verify func() time.Time
}

// devClocks returns the clocks cfg (which must be valid) asks for, and
// announces any pinned clock on out and in the log: which clock is pinned,
// where it starts, and that it advances at the real rate.
func devClocks(cfg config.Config, out io.Writer, log *slog.Logger) clocks {
	c := clocks{Tokens: time.Now, Verify: time.Now}
	pinned := func(at string) func() time.Time {
		start, _ := time.Parse(time.RFC3339, at) // validated
		realStart := time.Now()
		return func() time.Time { return start.Add(time.Since(realStart)) }
	}
	switch {
	case cfg.DevTime != "":
		c.Tokens = pinned(cfg.DevTime)
		c.Verify = c.Tokens
		fmt.Fprintf(out, "dev clock: every clock (evidence verification and tokens) starts at %s and advances at the real rate; tokens are dated then\n", cfg.DevTime)
		log.Warn("DEVELOPMENT CLOCK: every server clock, tokens included, starts at dev-time and advances at the real rate", "dev_time", cfg.DevTime)
	case cfg.DevEvidenceTime != "":
		c.Verify = pinned(cfg.DevEvidenceTime)
		fmt.Fprintf(out, "dev clock: evidence and collateral are verified at %s, advancing at the real rate; tokens use the real clock\n", cfg.DevEvidenceTime)
		log.Warn("DEVELOPMENT CLOCK: evidence and collateral are verified on a clock that starts at dev-evidence-time and advances at the real rate; tokens use the real clock", "dev_evidence_time", cfg.DevEvidenceTime)
	}
	return c
}
