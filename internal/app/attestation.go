package app

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/auth"
	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/httpapi"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/store"
)

// buildAttestation wires collateral, verifiers, the policy cache, policy
// management and the attester from the configuration.
func (a *App) buildAttestation(ctx context.Context) (*attestation.Attester, error) {
	cfg := a.cfg
	var src collateral.Source
	switch {
	case cfg.CollateralDir != "":
		src = collateral.Dir{Path: cfg.CollateralDir, Now: a.now}
	default:
		opts := collateral.DefaultPCSOptions()
		if cfg.CollateralURL != "" {
			opts.BaseURL = cfg.CollateralURL
		}
		if cfg.CollateralCA != "" {
			pemBytes, err := os.ReadFile(cfg.CollateralCA)
			if err != nil {
				return nil, fmt.Errorf("collateral-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("collateral-ca: %s holds no PEM certificate", cfg.CollateralCA)
			}
			opts.RootCAs = pool
		}
		opts.Now = a.now
		pcs, err := collateral.NewPCS(opts)
		if err != nil {
			return nil, fmt.Errorf("collateral-url: %w", err)
		}
		src = pcs
	}
	cacheOpts := collateral.DefaultCacheOptions()
	cacheOpts.Now = a.now
	// Offline needs collateral-dir (validated), and Dir never touches the
	// network, so offline mode is the Dir source itself.
	cacheOpts.Logger = a.log
	cache := collateral.NewCache(src, cacheOpts)

	vopts := sgx.DefaultOptions()
	vopts.Now = a.now
	vopts.Collateral = cache
	sgxv, err := sgx.NewVerifier(vopts)
	if err != nil {
		return nil, fmt.Errorf("SGX verifier: %w", err)
	}
	accept := make([]collateral.TCBStatus, 0, len(cfg.AcceptTCBStatus))
	for _, s := range cfg.AcceptTCBStatus {
		accept = append(accept, collateral.TCBStatus(s))
	}

	mode := store.ModeAAD
	if cfg.Mode == "isolated" {
		mode = store.ModeIsolated
	}
	a.policies = attestation.NewPolicies(a.store, InstanceID)
	a.management = &attestation.Management{
		Store: a.store, InstanceID: InstanceID, Mode: mode, Policies: a.policies, Tokens: a.tokens, Now: a.now,
	}
	if mode == store.ModeIsolated {
		ders, err := loadCertificates(cfg.PolicyMgmtCerts)
		if err != nil {
			return nil, err
		}
		if err := a.management.SeedCertificates(ctx, ders); err != nil {
			return nil, err
		}
		have, err := a.store.ListPolicyCertificates(ctx, InstanceID)
		if err != nil {
			return nil, err
		}
		if len(have) == 0 {
			return nil, fmt.Errorf("policy-management-cert: Isolated mode needs at least one policy management certificate")
		}
	}
	return &attestation.Attester{
		SGX:       sgxv,
		OE:        openenclave.NewVerifier(sgxv),
		Policies:  a.policies,
		Tokens:    a.tokens,
		AcceptTCB: accept,
		Fresh:     a.fresh,
	}, nil
}

// buildTPM builds the /attest/Tpm exchange. Service contexts are sealed
// with the configured key, or with keys derived (HKDF-SHA256) from the
// instance's signing keys: the active one seals, the other published ones
// still open, so every replica sharing the store agrees.
func (a *App) buildTPM(policies *attestation.Policies) (*attestation.TPMAttester, error) {
	opts := tpm.DefaultOptions()
	opts.Now = a.now
	if a.cfg.TPMContextKey != "" {
		k, err := keys.LoadKeyEncryptionKey(a.cfg.TPMContextKey)
		if err != nil {
			return nil, fmt.Errorf("tpm-context-key-file: %w", err)
		}
		opts.ServiceContextKey = k
	} else {
		set := a.keys.Current()
		for _, k := range set.Published {
			dk, err := deriveContextKey(k)
			if err != nil {
				return nil, err
			}
			if k == set.Active {
				opts.ServiceContextKey = dk
			} else {
				opts.PreviousServiceContextKeys = append(opts.PreviousServiceContextKeys, dk)
			}
		}
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
	svc, err := tpm.New(opts)
	if err != nil {
		return nil, fmt.Errorf("TPM attestation: %w", err)
	}
	return &attestation.TPMAttester{Service: svc, Policies: policies, Tokens: a.tokens, Fresh: a.fresh}, nil
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

// buildAuth chooses how management calls are authenticated: none when
// auth-disabled (loudly logged); OIDC bearer tokens when oidc-issuer is set;
// else in --dev a development bearer token (random and printed when not
// configured); else management calls are refused.
func (a *App) buildAuth() (httpapi.Authenticator, error) {
	switch {
	case a.cfg.AuthDisabled:
		a.log.Warn("AUTHENTICATION DISABLED: anyone who can reach this server can change its policies and certificates")
		return nil, nil
	case a.cfg.OIDCIssuer != "":
		opts := auth.DefaultOptions()
		opts.Issuer, opts.Audience = a.cfg.OIDCIssuer, a.cfg.OIDCAudience
		opts.RolesClaim, opts.ReaderRoles, opts.ContributorRoles = a.cfg.OIDCRolesClaim, a.cfg.OIDCReaders, a.cfg.OIDCWriters
		opts.Now = a.now
		a.log.Info("management calls authenticated by OIDC bearer tokens", "issuer", opts.Issuer, "audience", opts.Audience, "roles_claim", opts.RolesClaim)
		return auth.New(opts)
	case a.cfg.Dev:
		tok := a.cfg.DevBearerToken
		if tok == "" {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return nil, err
			}
			tok = hex.EncodeToString(b)
			fmt.Fprintf(a.out, "dev bearer token for management calls: %s\n", tok)
		}
		return httpapi.StaticBearer{Token: tok}, nil
	default:
		a.log.Warn("management calls are refused: no authentication is configured (set oidc-issuer and oidc-audience, or auth-disabled on a closed network)")
		return refuseAll{}, nil
	}
}

type refuseAll struct{}

func (refuseAll) Authenticate(*http.Request) error {
	return maaerr.New(maaerr.Unauthorized, "Policy and certificate management is not authorized: this server has no authentication configured.")
}
