package attestation

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
)

// slowStore delays GetPolicy until released, to interleave a load with a
// concurrent change.
type slowStore struct {
	store.Store
	entered, release chan struct{}
}

func (s *slowStore) GetPolicy(ctx context.Context, id, typ string) (store.Policy, error) {
	p, err := s.Store.GetPolicy(ctx, id, typ)
	if s.entered != nil {
		s.entered <- struct{}{}
		<-s.release
	}
	return p, err
}

// TestStaleLoadDoesNotFillCache: a load that read the store before a change
// must not leave its (older) policy cached after the change invalidated the
// cache.
func TestStaleLoadDoesNotFillCache(t *testing.T) {
	ctx := context.Background()
	base, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	base.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "https://x", Mode: store.ModeAAD})
	slow := &slowStore{Store: base, entered: make(chan struct{}), release: make(chan struct{})}
	p := NewPolicies(slow, "i")

	done := make(chan *ActivePolicy)
	go func() {
		ap, err := p.Get(ctx, evidence.SgxEnclave)
		if err != nil {
			t.Error(err)
		}
		done <- ap
	}()
	<-slow.entered // the load has read "no policy stored" (the default)
	text := "version=1.0; authorizationrules{ => permit(); }; issuancerules{};"
	if _, err := base.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: string(evidence.SgxEnclave), JWS: "x", Text: text}, 0); err != nil {
		t.Fatal(err)
	}
	p.Invalidate()
	close(slow.release)
	if ap := <-done; !ap.Default {
		t.Fatal("the racing load should have returned what it read (the default)")
	}
	slow.entered = nil
	ap, err := p.Get(ctx, evidence.SgxEnclave)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Default || ap.Policy.Hash() != policy.Hash(text) {
		t.Fatal("a load from before the change was cached after it")
	}
}

func TestDefaultPolicyJWS(t *testing.T) {
	ap, err := DefaultPolicy(evidence.Tpm)
	if err != nil || ap.Policy != nil || ap.JWS != "eyJhbGciOiJub25lIn0.." {
		t.Fatalf("Tpm default = %+v, %v", ap, err)
	}
	ap, err = DefaultPolicy(evidence.SgxEnclave)
	if err != nil || ap.Policy.Hash() != policy.DefaultSGXPolicyHash {
		t.Fatalf("SGX default = %+v, %v", ap, err)
	}
	if _, err := evidence.ParseType("sgxENCLAVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.ParseType("Nitro"); err == nil {
		t.Fatal("unknown type accepted")
	}
}
