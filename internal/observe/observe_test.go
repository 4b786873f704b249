package observe

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/maat-attest/maat/internal/evidence"
)

type recorder struct {
	name string
	log  *[]string
}

func (r recorder) Start(ctx context.Context, s Stage) (context.Context, func(error)) {
	*r.log = append(*r.log, r.name+" start "+string(s))
	return ctx, func(err error) { *r.log = append(*r.log, r.name+" end "+string(s)+" "+errString(err)) }
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// TestMultiOrder: observers start in order and end in reverse, each seeing
// the stage's error.
func TestMultiOrder(t *testing.T) {
	var log []string
	m := Multi{recorder{"a", &log}, recorder{"b", &log}}
	_, end := m.Start(context.Background(), Policy)
	end(errors.New("denied"))
	want := []string{"a start policy", "b start policy", "b end policy denied", "a end policy denied"}
	if !slices.Equal(log, want) {
		t.Fatalf("%q, want %q", log, want)
	}
	_, end = Start(context.Background(), nil, Sign) // a nil observer observes nothing
	end(nil)
}

type challenger struct{ handled bool }

func (c challenger) Verify(context.Context, []byte, evidence.Config) (*evidence.Verified, error) {
	return &evidence.Verified{}, nil
}
func (c challenger) Exchange(context.Context, []byte) ([]byte, bool, error) {
	return nil, c.handled, nil
}
func (c challenger) Wrap(string) []byte { return nil }

// TestVerifierKeepsChallenger: wrapping keeps the Challenger interface, and
// a handled protocol step is marked in the context.
func TestVerifierKeepsChallenger(t *testing.T) {
	var log []string
	v := Verifier(challenger{handled: true}, recorder{"m", &log})
	ch, ok := v.(evidence.Challenger)
	if !ok {
		t.Fatal("the observed verifier lost the Challenger interface")
	}
	ctx, step := WithStepMarker(context.Background())
	ch.Exchange(ctx, nil)
	if !step() {
		t.Error("a handled step was not marked")
	}
	ctx, step = WithStepMarker(context.Background())
	Verifier(challenger{}, recorder{"m", &log}).(evidence.Challenger).Exchange(ctx, nil)
	if step() {
		t.Error("evidence was marked as a protocol step")
	}
	v.Verify(context.Background(), nil, nil)
	if !slices.Equal(log, []string{"m start verify", "m end verify ok"}) {
		t.Errorf("verify stage: %q", log)
	}
}
