package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/collateral/amd"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/devaik"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/internal/tcbbaseline"
)

// VerifierDeps are what the built-in verifiers are built from.
type VerifierDeps struct {
	Config config.Config
	// Now is the verification clock.
	Now func() time.Time
	Log *slog.Logger
	// TPM is the instance's TPM service; nil leaves Tpm out (offline
	// verification has no service contexts to open).
	TPM *tpm.Service

	// Offline verification (`maat evidence verify`) only: extra trust roots
	// (test PKIs), expired collateral accepted and reported, a root CA CRL
	// URL, and call options applied to every SGX quote (a PCK chain for
	// quotes that carry none). The server leaves them zero.
	SGXRoots                []sgx.TrustRoot
	AcceptExpiredCollateral bool
	RootCRLURL              string
	SGXCall                 []sgx.CallOption

	// Simulated, when set (--dev with dev-trust-simulated-evidence only),
	// is the development PKI whose `maat simulate` evidence SgxEnclave,
	// OpenEnclave, TdxVm and SevSnpVm (and AzureGuest, for their isolation
	// evidence) also accept, verified against its own root and collateral
	// and marked x-maat-simulated-evidence.
	Simulated *simulate.PKI

	// Observation (metrics, tracing), when set: Upstream wraps the
	// collateral source behind the cache ("pcs" or "dir"), Cache wraps the
	// cache the verifiers use.
	CollateralUpstream func(name string, src collateral.Source) collateral.Source
	CollateralCache    func(cache collateral.Source) collateral.Source
}

// NewVerifiers is the catalog of built-in attestation types: every verifier
// the server (and `maat evidence verify`, so offline claims equal the
// server's) uses, built explicitly from the configuration. A type missing
// here answers MAA's "not supported". It returns an error naming the
// configuration key that is wrong.
func NewVerifiers(d VerifierDeps) (map[evidence.Type]evidence.Verifier, error) {
	intel, err := intelCollateral(d)
	if err != nil {
		return nil, err
	}
	sopts := sgx.DefaultOptions()
	sopts.Now = d.Now
	sopts.Collateral = intel
	sopts.Roots = append(sopts.Roots, d.SGXRoots...)
	sopts.AcceptExpiredCollateral = d.AcceptExpiredCollateral
	sgxv, err := sgx.NewVerifier(sopts)
	if err != nil {
		return nil, fmt.Errorf("SGX verifier: %w", err)
	}
	accept := make([]collateral.TCBStatus, 0, len(d.Config.AcceptTCBStatus))
	for _, s := range d.Config.AcceptTCBStatus {
		accept = append(accept, collateral.TCBStatus(s))
	}
	if len(accept) == 0 {
		accept = nil // the default set
	}

	tdxv, tdxAccept, tdxOpts, err := newTDX(d, sopts)
	if err != nil {
		return nil, err
	}

	vs := map[evidence.Type]evidence.Verifier{
		evidence.SgxEnclave:  sgx.NewEvidenceVerifier(sgxv, accept, d.SGXCall...),
		evidence.OpenEnclave: openenclave.NewEvidenceVerifier(sgxv, accept, d.SGXCall...),
		evidence.TdxVm:       tdx.NewEvidenceVerifier(tdxv, tdxAccept, tdxOpts...),
	}
	if d.TPM != nil {
		vs[evidence.Tpm] = tpm.NewEvidenceVerifier(d.TPM)
	}
	snpv, err := sevsnpVerifier(d)
	if err != nil {
		return nil, err
	}
	vs[evidence.SevSnpVm] = snpv
	if d.Simulated != nil {
		if vs[evidence.SevSnpVm], err = simulatedSNP(snpv, d.Simulated, d.Now, d.Log); err != nil {
			return nil, err
		}
		if vs[evidence.TdxVm], err = simulatedTDX(vs[evidence.TdxVm], d.Simulated, d.Now, tdxAccept, tdxOpts, d.Log); err != nil {
			return nil, err
		}
	}
	agv, err := azureGuestVerifier(d, vs[evidence.SevSnpVm], vs[evidence.TdxVm])
	if err != nil {
		return nil, err
	}
	vs[evidence.AzureGuest] = agv
	if d.Simulated != nil {
		return withSimulated(vs, d.Simulated, d.Now, accept, d.Log)
	}
	return vs, nil
}

// azureGuestVerifier is the AzureGuest verifier: the SevSnpVm and TdxVm
// verifiers for the isolation evidence and the configured Azure vTPM AK
// roots.
func azureGuestVerifier(d VerifierDeps, snp, tdxv evidence.Verifier) (*azureguest.Verifier, error) {
	o := azureguest.DefaultOptions()
	o.SNP, o.TDX, o.Now = snp, tdxv, d.Now
	if len(d.Config.AzureVTPMAKRoots) > 0 {
		ders, err := loadCertificates(d.Config.AzureVTPMAKRoots)
		if err != nil {
			return nil, fmt.Errorf("azure-vtpm-ak-roots: %w", err)
		}
		for _, der := range ders {
			c, _ := x509.ParseCertificate(der)
			o.AKRoots = append(o.AKRoots, c)
		}
	}
	if d.Config.Dev {
		// As for /attest/Tpm: a --dev server trusts the public development
		// AIK CA, so `maat attest azureguest --simulator` validates as a
		// Trusted Launch guest; tokens name it in x-maat-azurevm-akcert-root.
		root, err := devaik.Root()
		if err != nil {
			return nil, err
		}
		o.AKRoots = append(o.AKRoots, root)
		if d.Log != nil {
			d.Log.Warn("DEVELOPMENT AIK CA: AzureGuest AK certificates issued by the public development CA are trusted", "ca", root.Subject.CommonName)
		}
	}
	return azureguest.New(o), nil
}

// sevsnpVerifier is the SevSnpVm verifier: AMD's embedded roots, the
// instance clock, and (when configured) AMD collateral.
func sevsnpVerifier(d VerifierDeps) (*sevsnp.Verifier, error) {
	c := d.Config
	o := sevsnp.DefaultOptions()
	o.Now = d.Now
	o.Logger = d.Log
	o.CRL = sevsnp.CRLMode(c.SevSnpCRL)
	o.AllowBelowMinimum = c.SevSnpAllowBelowMin
	o.AcceptHCLReport = c.SevSnpAcceptHCL
	for _, s := range c.SevSnpMinimumTCB {
		p, t, err := sevsnp.ParseMinimumTCB(s)
		if err != nil {
			return nil, fmt.Errorf("sevsnp-minimum-tcb: %w", err)
		}
		if o.MinimumTCB == nil {
			o.MinimumTCB = map[sevsnp.Product]sevsnp.TCB{}
		}
		o.MinimumTCB[p] = t
	}
	for _, s := range c.SevSnpUVMIssuers {
		u, err := sevsnp.ParseUVMIssuer(s)
		if err != nil {
			return nil, fmt.Errorf("sevsnp-uvm-issuer: %w", err)
		}
		o.UVMIssuers = append(o.UVMIssuers, u)
	}
	if len(c.SevSnpCompliantIDKeys) > 0 {
		cvm := &sevsnp.CVMCompliance{}
		for _, s := range c.SevSnpCompliantIDKeys {
			k, err := sevsnp.ParseIDKeyDigest(s)
			if err != nil {
				return nil, fmt.Errorf("sevsnp-compliant-idkeydigest: %w", err)
			}
			cvm.IDKeyDigests = append(cvm.IDKeyDigests, k)
		}
		o.CompliantCVM = cvm
	}
	ao := amd.DefaultOptions()
	if c.SevSnpKDSURL != "" {
		ao.KDSURL = c.SevSnpKDSURL
	}
	ao.THIMURL = c.SevSnpTHIMURL
	ao.Dir = c.CollateralDir
	if c.DataDir != "" {
		ao.CacheDir = filepath.Join(c.DataDir, "amd-collateral")
	}
	ao.Fetch = c.SevSnpFetch && !c.Offline
	ao.Now = d.Now
	ao.Logger = d.Log
	src, err := amd.New(ao)
	if err != nil {
		return nil, fmt.Errorf("sevsnp-kds-url: %w", err)
	}
	o.Collateral = src
	v, err := sevsnp.NewVerifier(o)
	if err != nil {
		return nil, fmt.Errorf("SevSnpVm verifier: %w", err)
	}
	return v, nil
}

// NewBaselines builds the GET /tcbbaselines service (decision D10) on the
// configured Intel collateral, reading the selected baseline from the
// instance's policies.
func NewBaselines(d VerifierDeps, policies *attestation.Policies) (*tcbbaseline.Service, error) {
	src, err := intelCollateral(d)
	if err != nil {
		return nil, err
	}
	v, err := dcap.NewVerifier(dcap.Options{Now: d.Now, AcceptExpiredCollateral: d.AcceptExpiredCollateral})
	if err != nil {
		return nil, err
	}
	return &tcbbaseline.Service{Source: src, Verifier: v, PolicyConfig: func(ctx context.Context, t evidence.Type) (map[string]any, error) {
		ap, err := policies.Get(ctx, t)
		if err != nil || ap.Policy == nil {
			return nil, err
		}
		return ap.Policy.Configuration(ctx)
	}}, nil
}

// newTDX builds the TdxVm verifier on the same roots, clock and Intel
// collateral as SGX, with the TDX TCB configuration (decision D9).
func newTDX(d VerifierDeps, dcapOpts sgx.Options) (*tdx.Verifier, []collateral.TCBStatus, []tdx.AdapterOption, error) {
	unmatched, err := tdx.ParseUnmatched(d.Config.TDXUnmatched)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("tdx-unmatched-tcb-level: %w", err)
	}
	v, err := tdx.NewVerifier(tdx.Options{DCAP: dcapOpts, Unmatched: unmatched})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TDX verifier: %w", err)
	}
	var accept []collateral.TCBStatus // nil: tdx.DefaultAcceptedTCB
	for _, s := range d.Config.TDXAcceptTCB {
		accept = append(accept, collateral.TCBStatus(s))
	}
	var opts []tdx.AdapterOption
	if len(d.Config.TDXCompliantMRSEAM)+len(d.Config.TDXCompliantMRTD) > 0 {
		c := &tdx.Compliance{}
		for _, l := range []struct {
			key  string
			vals []string
			dst  *[][48]byte
		}{{"tdx-compliant-mrseam", d.Config.TDXCompliantMRSEAM, &c.MRSEAM}, {"tdx-compliant-mrtd", d.Config.TDXCompliantMRTD, &c.MRTD}} {
			for _, s := range l.vals {
				m, err := tdx.ParseMeasurement(s)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("%s: %w", l.key, err)
				}
				*l.dst = append(*l.dst, m)
			}
		}
		opts = append(opts, tdx.WithCompliance(c))
	}
	return v, accept, opts, nil
}

// intelCollateral is the Intel collateral source the configuration names
// (a local bundle, or a PCS-compatible service), behind the cache.
func intelCollateral(d VerifierDeps) (collateral.Source, error) {
	cfg, now, rootCRLURL := d.Config, d.Now, d.RootCRLURL
	var src collateral.Source
	name := "dir"
	switch {
	case cfg.CollateralDir != "":
		// Offline needs collateral-dir (validated), and Dir never touches
		// the network, so offline mode is the Dir source itself.
		src = collateral.Dir{Path: cfg.CollateralDir, Now: now}
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
		opts.Now = now
		if rootCRLURL != "" {
			opts.RootCRLURL = rootCRLURL
		}
		pcs, err := collateral.NewPCS(opts)
		if err != nil {
			return nil, fmt.Errorf("collateral-url: %w", err)
		}
		src, name = pcs, "pcs"
	}
	if d.CollateralUpstream != nil {
		src = d.CollateralUpstream(name, src)
	}
	cacheOpts := collateral.DefaultCacheOptions()
	cacheOpts.Now = now
	cacheOpts.Logger = d.Log
	var cache collateral.Source = collateral.NewCache(src, cacheOpts)
	if d.CollateralCache != nil {
		cache = d.CollateralCache(cache)
	}
	return cache, nil
}
