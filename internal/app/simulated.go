package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/simulate"
)

// simulatedPKI returns the development PKI whose simulated evidence this
// server trusts: only with --dev and dev-trust-simulated-evidence. Without
// --dev the setting is ignored, whatever the configuration says, and an
// error is logged.
func (a *App) simulatedPKI() (*simulate.PKI, error) {
	if !a.cfg.DevTrustSimulatedEvidence {
		return nil, nil
	}
	if !a.cfg.Dev {
		a.log.Error("dev-trust-simulated-evidence is IGNORED: it needs --dev; simulated evidence is refused like any evidence from an untrusted root")
		return nil, nil
	}
	p, err := simulate.Load(a.cfg.DataDir, a.now())
	if err != nil {
		return nil, fmt.Errorf("dev-trust-simulated-evidence: %w", err)
	}
	fmt.Fprintf(a.out, "SIMULATED EVIDENCE TRUSTED: SGX/OpenEnclave/TDX/SEV-SNP evidence signed by the development PKI in %s/%s is accepted; its tokens carry %s: true\n",
		a.cfg.DataDir, simulate.DirName, simulate.ClaimSimulated)
	a.log.Warn("SIMULATED EVIDENCE TRUSTED: the development PKI of the data directory signs evidence this server accepts; its tokens prove nothing about real hardware",
		"dir", a.cfg.DataDir+"/"+simulate.DirName, "claim", simulate.ClaimSimulated)
	return p, nil
}

// withSimulated makes the SgxEnclave and OpenEnclave verifiers also accept
// evidence of the development PKI p (SevSnpVm, TdxVm and AzureGuest take
// simulatedSNP and simulatedTDX in NewVerifiers) and marks AzureGuest tokens whose isolation
// evidence is simulated: evidence whose PCK chain the production roots do
// not know is verified again, by the same code, against p's root
// and collateral only (never mixed with Intel's), and its claims carry
// simulate.ClaimSimulated.
func withSimulated(vs map[evidence.Type]evidence.Verifier, p *simulate.PKI, now func() time.Time, accept []collateral.TCBStatus, log *slog.Logger) (map[evidence.Type]evidence.Verifier, error) {
	v, err := sgx.NewVerifier(sgx.Options{Roots: []sgx.TrustRoot{p.TrustRoot()}, Now: now, Collateral: p.Collateral(now)})
	if err != nil {
		return nil, fmt.Errorf("simulated evidence verifier: %w", err)
	}
	out := make(map[evidence.Type]evidence.Verifier, len(vs))
	for t, prod := range vs {
		out[t] = prod
	}
	if prod, ok := vs[evidence.SgxEnclave]; ok {
		out[evidence.SgxEnclave] = simulatedOr{prod: prod, dev: sgx.NewEvidenceVerifier(v, accept), untrusted: sgx.ErrUntrustedRoot, log: log}
	}
	if prod, ok := vs[evidence.OpenEnclave]; ok {
		out[evidence.OpenEnclave] = simulatedOr{prod: prod, dev: openenclave.NewEvidenceVerifier(v, accept), untrusted: sgx.ErrUntrustedRoot, log: log}
	}
	if prod, ok := vs[evidence.AzureGuest]; ok {
		out[evidence.AzureGuest] = markSimulatedIsolation{prod: prod, log: log}
	}
	return out, nil
}

// simulatedSNP returns the SevSnpVm verifier of a server that trusts
// simulated evidence: prod, and for reports whose chain ends at an ARK prod
// does not know, a separate verifier whose only roots are the development
// ARKs (OnlyRoots: AMD's are prod's). It has no AMD collateral: the VCEK
// comes with the evidence and the CRL is "unavailable" (soft mode). The
// AzureGuest verifier uses it too, for simulated HCL reports.
func simulatedSNP(prod evidence.Verifier, p *simulate.PKI, now func() time.Time, log *slog.Logger) (evidence.Verifier, error) {
	snp, err := sevsnp.NewVerifier(sevsnp.Options{Roots: p.SNPRoots(), OnlyRoots: true, Now: now, CRL: sevsnp.CRLSoft, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("simulated SEV-SNP verifier: %w", err)
	}
	return simulatedOr{prod: prod, dev: snp, untrusted: sevsnp.ErrUntrustedRoot, log: log}, nil
}

// simulatedTDX returns the TdxVm verifier of a server that trusts simulated
// evidence: prod, and for TD quotes whose PCK chain ends at a root prod
// does not know, a separate verifier whose only root is the development
// one and whose only collateral is the development TDX collateral (never
// mixed with Intel's), gating the same TCB statuses and issuing the same
// compliance status. The AzureGuest verifier uses it too, for TDX
// isolation evidence.
func simulatedTDX(prod evidence.Verifier, p *simulate.PKI, now func() time.Time, accept []collateral.TCBStatus, opts []tdx.AdapterOption, log *slog.Logger) (evidence.Verifier, error) {
	v, err := tdx.NewVerifier(tdx.Options{DCAP: dcap.Options{Roots: []dcap.TrustRoot{p.TrustRoot()}, Now: now, Collateral: p.Collateral(now)}})
	if err != nil {
		return nil, fmt.Errorf("simulated TDX verifier: %w", err)
	}
	return simulatedOr{prod: prod, dev: tdx.NewEvidenceVerifier(v, accept, opts...), untrusted: dcap.ErrUntrustedRoot, log: log}, nil
}

// markSimulatedIsolation lifts the simulated-evidence mark of an AzureGuest
// attestation's isolation evidence (nested in x-ms-isolation-tee) to the
// token's top level, where policies and relying parties look for it.
type markSimulatedIsolation struct {
	prod evidence.Verifier
	log  *slog.Logger
}

func (m markSimulatedIsolation) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	ver, err := m.prod.Verify(ctx, raw, cfg)
	if err != nil {
		return nil, err
	}
	if res, ok := ver.Detail.(*azureguest.Result); ok && res.Isolation != nil && res.Isolation.Verified != nil &&
		res.Isolation.Verified.Claims[simulate.ClaimSimulated] == true {
		ver.Claims[simulate.ClaimSimulated] = true
		m.log.Warn("SIMULATED EVIDENCE accepted (AzureGuest with a development HCL report): the token says so", "claim", simulate.ClaimSimulated)
	}
	return ver, nil
}

// simulatedOr verifies with the production verifier and, only when that
// refuses the chain's root (the untrusted sentinel), with the development
// one.
type simulatedOr struct {
	prod, dev evidence.Verifier
	untrusted error
	log       *slog.Logger
}

func (s simulatedOr) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	ver, err := s.prod.Verify(ctx, raw, cfg)
	if err == nil || !errors.Is(err, s.untrusted) {
		return ver, err
	}
	dver, derr := s.dev.Verify(ctx, raw, cfg)
	if errors.Is(derr, s.untrusted) {
		return nil, err // neither root: the production answer
	}
	if derr != nil {
		return nil, derr
	}
	dver.Claims[simulate.ClaimSimulated] = true
	s.log.Warn("SIMULATED EVIDENCE accepted (development PKI): the token says so", "claim", simulate.ClaimSimulated)
	return dver, nil
}
