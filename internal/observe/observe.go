// Package observe is the seam between the attestation path and what watches
// it (Prometheus metrics, OpenTelemetry traces): named stages, an Observer
// told when a stage starts and ends, and decorators that report the stages
// of an evidence.Verifier and a collateral.Source the way collateral.Cache
// wraps a Source, so the verifiers and sources themselves know nothing of
// observation.
package observe

import (
	"context"
	"sync/atomic"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
)

// Stage names one step of an attestation. The set is fixed, so a stage is
// a bounded metric label.
type Stage string

// The stages of one attestation, in order.
const (
	Decode     Stage = "decode"     // the request body to an attestation request
	Verify     Stage = "verify"     // the evidence verifier (collateral included)
	Collateral Stage = "collateral" // one collateral lookup inside verification
	Policy     Stage = "policy"     // policy evaluation
	Sign       Stage = "sign"       // token issuance
)

// Stages lists every stage.
var Stages = []Stage{Decode, Verify, Collateral, Policy, Sign}

// Observer is told when a stage starts; it returns the context the stage
// runs in (a tracer puts its span there) and a function the stage calls
// once when it ends, with its error (nil on success).
type Observer interface {
	Start(ctx context.Context, s Stage) (context.Context, func(err error))
}

// Multi tells every observer in order; it ends them in reverse order.
type Multi []Observer

// Start implements Observer.
func (m Multi) Start(ctx context.Context, s Stage) (context.Context, func(error)) {
	ends := make([]func(error), 0, len(m))
	for _, o := range m {
		var end func(error)
		ctx, end = o.Start(ctx, s)
		ends = append(ends, end)
	}
	return ctx, func(err error) {
		for i := len(ends) - 1; i >= 0; i-- {
			ends[i](err)
		}
	}
}

// Start starts stage s on o; a nil o observes nothing.
func Start(ctx context.Context, o Observer, s Stage) (context.Context, func(error)) {
	if o == nil {
		return ctx, nop
	}
	return o.Start(ctx, s)
}

func nop(error) {}

// Verifier returns v reporting its Verify calls as the Verify stage; a
// verifier that is an evidence.Challenger stays one.
func Verifier(v evidence.Verifier, o Observer) evidence.Verifier {
	ov := observedVerifier{v: v, o: o}
	if ch, ok := v.(evidence.Challenger); ok {
		return observedChallenger{observedVerifier: ov, ch: ch}
	}
	return ov
}

type observedVerifier struct {
	v evidence.Verifier
	o Observer
}

func (ov observedVerifier) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	ctx, end := Start(ctx, ov.o, Verify)
	ver, err := ov.v.Verify(ctx, raw, cfg)
	end(err)
	return ver, err
}

type observedChallenger struct {
	observedVerifier
	ch evidence.Challenger
}

func (oc observedChallenger) Exchange(ctx context.Context, msg []byte) ([]byte, bool, error) {
	answer, handled, err := oc.ch.Exchange(ctx, msg)
	if handled && err == nil {
		if m, ok := ctx.Value(stepKey{}).(*atomic.Bool); ok {
			m.Store(true)
		}
	}
	return answer, handled, err
}

type stepKey struct{}

// WithStepMarker returns a context in which an observed Challenger records
// that a protocol message was answered without an attestation (the TPM
// Init message), and a function that reports whether that happened, so an
// attestation counter counts only messages that were attestations.
func WithStepMarker(ctx context.Context) (context.Context, func() bool) {
	m := new(atomic.Bool)
	return context.WithValue(ctx, stepKey{}, m), m.Load
}

func (oc observedChallenger) Wrap(token string) []byte { return oc.ch.Wrap(token) }

// Source returns src reporting its Fetch calls as the Collateral stage.
func Source(src collateral.Source, o Observer) collateral.Source {
	return observedSource{src: src, o: o}
}

type observedSource struct {
	src collateral.Source
	o   Observer
}

func (os observedSource) Fetch(ctx context.Context, key collateral.Key) (*collateral.Item, error) {
	ctx, end := Start(ctx, os.o, Collateral)
	it, err := os.src.Fetch(ctx, key)
	end(err)
	return it, err
}
