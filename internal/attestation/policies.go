package attestation

import (
	"context"
	"errors"
	"sync"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
)

// ActivePolicy is the policy in force for one attestation type: compiled,
// immutable, shared by every attestation that uses it.
type ActivePolicy struct {
	Type evidence.Type
	// Policy is nil when the type has no policy (Tpm before one is set).
	Policy *policy.Policy
	// JWS is the policy JWS as stored (or MAA's unsecured form of the default).
	JWS string
	// SignerCertDER is the certificate that signed JWS, if any.
	SignerCertDER []byte
	// Version is the store version; 0 for the default.
	Version int64
	Default bool
}

// Policies serves the policy in force per attestation type from memory,
// loading from the store only on a miss. Invalidate drops the cache (called
// when the store's generation moves, i.e. another process changed it).
// An attestation takes one *ActivePolicy pointer, so it never mixes two
// versions of a policy.
type Policies struct {
	Store      store.Store
	InstanceID string

	mu    sync.RWMutex
	cache map[evidence.Type]*ActivePolicy
	// epoch increases on every change; a load that started in an older
	// epoch does not fill the cache (its result may predate the change).
	epoch uint64
}

// NewPolicies returns an empty cache over st.
func NewPolicies(st store.Store, instanceID string) *Policies {
	return &Policies{Store: st, InstanceID: instanceID, cache: map[evidence.Type]*ActivePolicy{}}
}

// Get returns the policy in force for typ (canonical spelling). It returns
// an Internal error when the store fails or a stored policy no longer parses.
func (p *Policies) Get(ctx context.Context, typ evidence.Type) (*ActivePolicy, error) {
	p.mu.RLock()
	ap, ok := p.cache[typ]
	epoch := p.epoch
	p.mu.RUnlock()
	if ok {
		return ap, nil
	}
	ap, err := p.load(ctx, typ)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.epoch == epoch {
		p.cache[typ] = ap
	}
	p.mu.Unlock()
	return ap, nil
}

func (p *Policies) load(ctx context.Context, typ evidence.Type) (*ActivePolicy, error) {
	sp, err := p.Store.GetPolicy(ctx, p.InstanceID, string(typ))
	if errors.Is(err, store.ErrNotFound) {
		return DefaultPolicy(typ)
	}
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.ServiceUnavailable, "The %s policy could not be loaded; the policy store is unavailable.", typ)
	}
	compiled, err := policy.Parse(sp.Text)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.Internal, "the stored %s policy no longer parses", typ)
	}
	return &ActivePolicy{Type: typ, Policy: compiled, JWS: sp.JWS, SignerCertDER: sp.SignerCertDER, Version: sp.Version}, nil
}

// DefaultPolicy returns MAA's default policy for typ, with the unsecured JWS
// MAA returns for it: {"alg":"none"} over {"AttestationPolicy": base64url(text)},
// or an empty payload for types without a default (Tpm).
func DefaultPolicy(typ evidence.Type) (*ActivePolicy, error) {
	compiled, ok := policy.ParsedDefault(string(typ))
	if !ok {
		return &ActivePolicy{Type: typ, JWS: unsecuredHeader + "..", Default: true}, nil
	}
	jws, err := unsecuredPolicyJWS(compiled.Text())
	if err != nil {
		return nil, err
	}
	return &ActivePolicy{Type: typ, Policy: compiled, JWS: jws, Default: true}, nil
}

// Invalidate drops every cached policy; the next Get reloads from the
// store. It is called after every change, local (set, reset) or seen in the
// store (another replica): reloading, rather than caching what a local write
// stored, keeps concurrent writers from leaving an older policy cached.
func (p *Policies) Invalidate() {
	p.mu.Lock()
	p.cache = map[evidence.Type]*ActivePolicy{}
	p.epoch++
	p.mu.Unlock()
}
