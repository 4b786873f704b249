package app

import (
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/tcbbaseline"
	"github.com/maat-attest/maat/internal/token"
)

// instance is one attestation instance: its identity, its signing keys and
// token issuer, its policies and their management, and its attestation
// pipeline. Everything an instance serves hangs off this one value.
type instance struct {
	id         string
	issuer     string
	mode       store.Mode
	keys       *keys.Manager
	sealer     keys.Sealer // seals private keys at rest (signing and release keys)
	tokens     *token.Issuer
	policies   *attestation.Policies
	management *attestation.Management
	pipeline   *attestation.Pipeline
	baselines  *tcbbaseline.Service
}

// buildInstance builds the instance in dependency order: the store record,
// the signing keys, the token issuer, the policies and their management
// (seeding Isolated mode's certificates), the TPM service, the verifier
// catalog, the pipeline.
func (a *App) buildInstance(ctx context.Context, issuer string) (*instance, error) {
	cfg := a.cfg
	in := &instance{id: InstanceID, issuer: issuer, mode: store.ModeAAD}
	if cfg.Mode == "isolated" {
		in.mode = store.ModeIsolated
	}
	if err := a.ensureInstance(ctx, in); err != nil {
		return nil, err
	}

	sealer, err := Sealer(cfg, a.log)
	in.sealer = sealer
	if err != nil {
		return nil, err
	}
	backend, err := keys.NewBackend(cfg.TokenSigner, a.log)
	if err != nil {
		return nil, fmt.Errorf("token-signer: %w", err)
	}
	in.keys = keys.NewManagerWithBackend(a.store, in.id, sealer, a.now, a.log, backend)
	if _, err := in.keys.Reseal(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	created, err := in.keys.EnsureActive(ctx, in.issuer)
	if err != nil {
		in.keys.Close()
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if created {
		active, _ := in.keys.Active()
		a.log.Info("generated signing key", "kid", active.KID, "subject", active.Cert.Subject.CommonName)
	}
	a.log.Info("token signer", "backend", in.keys.Backend(), "configured", cmp.Or(cfg.TokenSigner, keys.BackendAuto), "compiled_in", strings.Join(keys.SignerBackends(), ","))
	in.tokens = &token.Issuer{IssuerURI: func() string { return in.issuer }, Keys: in.keys, Now: a.now}

	in.policies = attestation.NewPolicies(a.store, in.id)
	in.management = &attestation.Management{
		Store: a.store, InstanceID: in.id, Mode: in.mode, Policies: in.policies, Tokens: in.tokens, Now: a.now,
		AllowChainedSigners: cfg.AllowChainedSigners,
		AllowReplay:         cfg.AllowManagementReplay,
	}
	a.buildRecorder(in)
	if in.mode == store.ModeIsolated {
		if err := a.seedCertificates(ctx, in); err != nil {
			return nil, err
		}
	}

	tpmSvc, err := a.buildTPM(in.keys)
	if err != nil {
		return nil, err
	}
	simulated, err := a.simulatedPKI()
	if err != nil {
		return nil, err
	}
	verifiers, err := NewVerifiers(a.observeDeps(VerifierDeps{Config: cfg, Now: a.verifyNow, Log: a.log, TPM: tpmSvc, Simulated: simulated}))
	if err != nil {
		return nil, err
	}
	a.observeVerifiers(verifiers)
	in.pipeline = &attestation.Pipeline{Verifiers: verifiers, Policies: in.policies, Tokens: in.tokens, Fresh: a.fresh, Observer: a.observer}
	if in.baselines, err = NewBaselines(VerifierDeps{Config: cfg, Now: a.now, Log: a.log}, in.policies); err != nil {
		return nil, err
	}
	return in, nil
}

func (a *App) seedCertificates(ctx context.Context, in *instance) error {
	ders, err := loadCertificates(a.cfg.PolicyMgmtCerts)
	if err != nil {
		return err
	}
	if err := in.management.SeedCertificates(ctx, ders); err != nil {
		return err
	}
	have, err := a.store.ListPolicyCertificates(ctx, in.id)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("policy-management-cert: Isolated mode needs at least one policy management certificate")
	}
	return nil
}

// buildTPM builds the TPM service of /attest/Tpm. Service contexts are
// sealed with the configured key, or with keys derived (HKDF-SHA256) from
// the instance's signing keys as they are now: the active one seals, the
// other published ones still open. The key manager is asked on every
// challenge and request, so replicas sharing the store agree across a
// rotation whenever they started.
func (a *App) buildTPM(km *keys.Manager) (*tpm.Service, error) {
	opts := tpm.DefaultOptions()
	opts.Now = a.verifyNow
	if a.cfg.TPMContextKey != "" {
		k, err := keys.LoadKeyEncryptionKey(a.cfg.TPMContextKey, keys.KeyFileOptions{AllowInsecurePermissions: a.cfg.AllowInsecureKeyFilePermissions})
		if err != nil {
			return nil, fmt.Errorf("tpm-context-key-file: %w", err)
		}
		opts.ServiceContextKey = k
	} else {
		opts.ContextKeys = func() ([]byte, [][]byte, error) { return contextKeys(km.Current()) }
	}
	if len(a.cfg.TPMAIKRoots) > 0 {
		ders, err := loadCertificates(a.cfg.TPMAIKRoots)
		if err != nil {
			return nil, fmt.Errorf("tpm-aik-root: %w", err)
		}
		pool := x509.NewCertPool()
		for _, der := range ders {
			c, _ := x509.ParseCertificate(der)
			pool.AddCert(c)
		}
		opts.AIKRoots = pool
	}
	if a.cfg.Dev {
		var err error
		if opts.AIKRoots, err = a.devAIKRoots(opts.AIKRoots); err != nil {
			return nil, err
		}
	}
	svc, err := tpm.New(opts)
	if err != nil {
		return nil, fmt.Errorf("TPM attestation: %w", err)
	}
	return svc, nil
}

// contextKeys derives the TPM service-context keys from a key set: the
// active key's seals, every published key's opens.
func contextKeys(set *keys.Set) ([]byte, [][]byte, error) {
	if set == nil || set.Active == nil {
		return nil, nil, errors.New("no active signing key")
	}
	seal, err := deriveContextKey(set.Active)
	if err != nil {
		return nil, nil, err
	}
	var open [][]byte
	for _, k := range set.Published {
		if k == set.Active {
			continue
		}
		dk, err := deriveContextKey(k)
		if err != nil {
			return nil, nil, err
		}
		open = append(open, dk)
	}
	return seal, open, nil
}

func deriveContextKey(k *keys.Key) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, err
	}
	return hkdf.Key(sha256.New, der, nil, "maat tpm service context v1", 32)
}

func loadCertificates(paths []string) ([][]byte, error) {
	var ders [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("policy-management-cert: %w", err)
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, fmt.Errorf("policy-management-cert %s: %w", p, err)
			}
			ders = append(ders, blk.Bytes)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("policy-management-cert %s: no PEM certificate found", p)
		}
	}
	return ders, nil
}
