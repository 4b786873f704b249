package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/store"
)

// testManagementReplay: a superseded request is refused, the current one may
// be retried, scopes are independent, iat ordering is enforced, and of
// concurrent first applications of one request all succeed.
func testManagementReplay(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeIsolated)
	mustInstance(t, s, "other", store.ModeIsolated)
	apply := func(inst, scope, hash string, iat time.Time) error {
		return s.ApplyManagementJWS(ctx, store.ManagementJWS{InstanceID: inst, Scope: scope, Hash: hash, IssuedAt: iat})
	}
	const pol = "policy/SgxEnclave"
	for _, step := range []struct {
		scope, hash string
		want        error
	}{
		{pol, "A", nil},
		{pol, "A", nil}, // a retry of the current request
		{pol, "B", nil},
		{pol, "A", store.ErrSuperseded}, // rollback to A refused
		{pol, "B", nil},
		{"policy/OpenEnclave", "A", nil}, // the same JWS for another type is another scope
		{"certificate/T1", "add", nil},
		{"certificate/T1", "remove", nil},
		{"certificate/T1", "add", store.ErrSuperseded}, // re-adding a removed certificate by replay
		{"certificate/T2", "add", nil},
	} {
		if err := apply("i", step.scope, step.hash, time.Time{}); !errors.Is(err, step.want) && !(err == nil && step.want == nil) {
			t.Fatalf("apply %s %s: %v, want %v", step.scope, step.hash, err, step.want)
		}
	}
	// Another instance has its own history.
	if err := apply("other", pol, "A", time.Time{}); err != nil {
		t.Fatalf("other instance: %v", err)
	}
	// iat: a request older than one applied is refused, a newer one taken.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := apply("i", "policy/Tpm", "P1", t0); err != nil {
		t.Fatal(err)
	}
	if err := apply("i", "policy/Tpm", "P0", t0.Add(-time.Hour)); !errors.Is(err, store.ErrSuperseded) {
		t.Fatalf("older iat: %v", err)
	}
	if err := apply("i", "policy/Tpm", "P2", t0.Add(time.Hour)); err != nil {
		t.Fatalf("newer iat: %v", err)
	}
	if err := apply("i", "policy/Tpm", "P3", time.Time{}); err != nil {
		t.Fatalf("no iat: %v", err)
	}
	if err := apply("ghost", pol, "A", time.Time{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown instance: %v", err)
	}
	// Concurrent applications of one new request: all succeed (the first
	// records it, the others are retries of the current request).
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- apply("i", pol, "C", time.Time{})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent apply: %v", err)
		}
	}
	if err := apply("i", pol, "B", time.Time{}); !errors.Is(err, store.ErrSuperseded) {
		t.Fatalf("B after C: %v", err)
	}
}
