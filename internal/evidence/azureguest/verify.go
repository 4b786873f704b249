package azureguest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Causes of binding failures, wrapped by the *maaerr.Error Verify returns.
var (
	ErrVMPL           = errors.New("the SNP report is not from VMPL 0")
	ErrRuntimeBinding = errors.New("the runtime claims are not bound to the hardware report")
	ErrAKBinding      = errors.New("HCLAkPub is not AikPub")
	ErrAKCert         = errors.New("the AK certificate does not verify")
	ErrNoIsolation    = errors.New("this instance does not verify this isolation type")
)

// Options configure a Verifier. New copies them. Start from DefaultOptions.
type Options struct {
	// SNP verifies SevSnp isolation evidence: an *sevsnp.Verifier (its
	// Verify takes the {"SnpReport","VcekCertChain"} JSON and returns
	// *sevsnp.Result as Detail). Nil: SevSnp guests are refused.
	SNP evidence.Verifier
	// TDX verifies Tdx isolation evidence (a TD quote): a
	// *tdx.EvidenceVerifier (Detail *tdx.Result). Nil: Tdx guests are
	// refused.
	TDX evidence.Verifier
	// AKRoots are the Azure vTPM AK certificate roots
	// (azure-vtpm-ak-roots), AKIntermediates optional intermediates. With
	// none, no AikCert validates: TrustedLaunch guests are refused and
	// CVMs report x-maat-azurevm-akcert-validated false.
	AKRoots, AKIntermediates []*x509.Certificate
	// Now is the clock for the AK certificate; nil means time.Now.
	Now func() time.Time
}

// DefaultOptions returns no isolation verifiers, no AK roots and the wall
// clock: a Verifier that refuses everything until configured.
func DefaultOptions() Options { return Options{} }

// Verifier verifies AzureGuest attestations. It is safe for concurrent use.
type Verifier struct {
	snp, tdx evidence.Verifier
	roots    *x509.CertPool
	inter    *x509.CertPool
	nroots   int
	now      func() time.Time
}

var _ evidence.Verifier = (*Verifier)(nil)

// New returns a Verifier with a copy of o.
func New(o Options) *Verifier {
	v := &Verifier{snp: o.SNP, tdx: o.TDX, roots: x509.NewCertPool(), inter: x509.NewCertPool(), nroots: len(o.AKRoots), now: o.Now}
	for _, c := range o.AKRoots {
		v.roots.AddCert(c)
	}
	for _, c := range o.AKIntermediates {
		v.inter.AddCert(c)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// Result is what a successful verification established.
type Result struct {
	Info   *AttestationInfo
	AK     *tpm2.TPMTPublic
	Quote  *tpm.GuestQuote
	Events []tpm.Event
	EncKey *rsa.PublicKey
	// AKCertValidated: AikCert holds AikPub and chains to a configured root,
	// AKCertRoot (that root's subject common name).
	AKCertValidated bool
	AKCertRoot      string
	// Isolation is nil for TrustedLaunch.
	Isolation *IsolationResult
}

// IsolationResult is verified SNP or TDX isolation evidence bound to the
// vTPM.
type IsolationResult struct {
	Type IsolationType
	// Verified is the SNP or TDX verifier's result (its claims nest in
	// x-ms-isolation-tee).
	Verified      *evidence.Verified
	RuntimeClaims *hcl.RuntimeClaims
	// Hash is the hash under which the runtime claims equal the report data.
	Hash hcl.HashType
}

// VerifyTPM verifies the vTPM half: the PCR quote with AikPub over PcrSet,
// the TCG log replayed into the quoted PCRs, and the EncKey certified by
// the AK with the attributes and PolicyPCR it must have (tpm.VerifyPCRQuote,
// tpm.ReplayPCRs, tpm.VerifyCertifiedKey). It returns the tpm package's
// *maaerr.Error on failure.
func VerifyTPM(info *AttestationInfo) (*tpm2.TPMTPublic, *tpm.GuestQuote, []tpm.Event, *rsa.PublicKey, error) {
	ak, _, err := tpm.ParsePublicArea(info.TPM.AikPub)
	if err != nil {
		return nil, nil, nil, nil, maaerr.Wrap(errors.Join(ErrMalformed, err), maaerr.InvalidParameter, "TpmInfo.AikPub is not a TPM2B_PUBLIC: %v", err)
	}
	if ak.Type != tpm2.TPMAlgRSA {
		return nil, nil, nil, nil, maaerr.New(maaerr.InvalidParameter, "TpmInfo.AikPub is not an RSA key (type 0x%04x); Azure vTPM AKs are RSA-2048", uint16(ak.Type))
	}
	q, err := tpm.VerifyPCRQuote(ak, info.TPM.PcrQuote, info.TPM.PcrSignature, info.TPM.PcrSet, info.TPM.PCRs)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	events, err := tpm.ReplayPCRs(info.TcgLogs, q.PCRs)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	enc, err := tpm.VerifyCertifiedKey(ak, info.TPM.EncKeyPub, info.TPM.EncKeyCertifyInfo, info.TPM.EncKeyCertifyInfoSignature, q)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return ak, q, events, enc, nil
}

// VerifyIsolation verifies SNP or TDX isolation evidence and binds the vTPM
// to it: the hardware evidence verifies (SNP: VMPL 0 required, checked
// before the signature), the runtime claims hash (SHA-256, else SHA-384,
// else SHA-512) to the leading report-data bytes, and their HCLAkPub is ak.
// It returns a *maaerr.Error: the isolation verifier's, InvalidParameter
// for malformed runtime claims, InvalidQuote wrapping ErrVMPL,
// ErrRuntimeBinding or ErrAKBinding, InvalidParameter wrapping
// ErrNoIsolation when the type is not configured.
func (v *Verifier) VerifyIsolation(ctx context.Context, iso Isolation, ak crypto.PublicKey, cfg evidence.Config) (*IsolationResult, error) {
	var reportData []byte
	var ver *evidence.Verified
	switch iso.Type {
	case SevSnp:
		if v.snp == nil {
			return nil, maaerr.Wrap(ErrNoIsolation, maaerr.InvalidParameter, "This instance does not verify SevSnp isolation evidence.")
		}
		ev, err := sevsnp.DecodeEvidence(iso.Proof)
		if err != nil {
			return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "IsolationInfo.Evidence.Proof: %v", err)
		}
		r, err := sevsnp.ParseReport(ev.Report)
		if err != nil {
			return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "IsolationInfo.Evidence.Proof: SnpReport: %v", err)
		}
		if r.VMPL != 0 {
			return nil, maaerr.Wrap(ErrVMPL, maaerr.InvalidQuote, "The SNP report was requested at VMPL %d; the paravisor's report must come from VMPL 0.", r.VMPL)
		}
		if ver, err = v.snp.Verify(ctx, iso.Proof, cfg); err != nil {
			return nil, err
		}
		res, ok := ver.Detail.(*sevsnp.Result)
		if !ok {
			return nil, maaerr.New(maaerr.Internal, "the SevSnp verifier returned no report")
		}
		reportData = res.Report.ReportData[:]
	case Tdx:
		if v.tdx == nil {
			return nil, maaerr.Wrap(ErrNoIsolation, maaerr.InvalidParameter, "This instance does not verify Tdx isolation evidence.")
		}
		var err error
		if ver, err = v.tdx.Verify(ctx, iso.Proof, cfg); err != nil {
			return nil, err
		}
		res, ok := ver.Detail.(*tdx.Result)
		if !ok {
			return nil, maaerr.New(maaerr.Internal, "the Tdx verifier returned no report")
		}
		reportData = res.Report.ReportData[:]
	default:
		return nil, maaerr.New(maaerr.InvalidParameter, "IsolationInfo.Type %s carries no isolation evidence", iso.Type)
	}
	h, ok := hcl.BoundHash(iso.RunTimeData, reportData)
	if !ok {
		return nil, maaerr.Wrap(ErrRuntimeBinding, maaerr.InvalidQuote, "IsolationInfo.Evidence.RunTimeData is not bound to the %s report: neither its SHA-256, SHA-384 nor SHA-512 (%x…) is the report data (%x…).", iso.Type, hcl.HashSHA256.Sum(iso.RunTimeData)[:8], reportData[:8])
	}
	rc, err := hcl.ParseRuntimeClaims(iso.RunTimeData)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "IsolationInfo.Evidence.RunTimeData: %v", err)
	}
	jwk, ok := rc.Key(hcl.KidAkPub)
	if !ok {
		return nil, maaerr.Wrap(ErrAKBinding, maaerr.InvalidQuote, "The runtime claims have no single %s key: the vTPM cannot be bound to the hardware report.", hcl.KidAkPub)
	}
	hk, err := jwk.RSAPublicKey()
	if err != nil {
		return nil, maaerr.Wrap(errors.Join(ErrAKBinding, err), maaerr.InvalidQuote, "The runtime claims' %s is not a usable RSA key: %v", hcl.KidAkPub, err)
	}
	if !hk.Equal(ak) {
		return nil, maaerr.Wrap(ErrAKBinding, maaerr.InvalidQuote, "TpmInfo.AikPub is not the %s of the runtime claims: the quote was not made by this VM's vTPM.", hcl.KidAkPub)
	}
	return &IsolationResult{Type: iso.Type, Verified: ver, RuntimeClaims: rc, Hash: h}, nil
}

// checkAKCert parses AikCert, requires its key to be AikPub, and reports
// whether it chains to a configured root at the verification time.
func (v *Verifier) checkAKCert(der []byte, ak crypto.PublicKey) (string, bool, error) {
	if len(der) == 0 {
		return "", false, nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "", false, maaerr.Wrap(errors.Join(ErrMalformed, err), maaerr.InvalidParameter, "TpmInfo.AikCert is not a DER X.509 certificate: %v", err)
	}
	k, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok || !k.Equal(ak) {
		return "", false, maaerr.Wrap(ErrAKCert, maaerr.InvalidQuote, "TpmInfo.AikCert (subject %q) certifies another key than TpmInfo.AikPub.", c.Subject.String())
	}
	if v.nroots == 0 {
		return "", false, nil
	}
	chains, err := c.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: v.inter, CurrentTime: v.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil || len(chains) == 0 {
		return "", false, nil
	}
	chain := chains[0]
	return chain[len(chain)-1].Subject.CommonName, true, nil
}

// VerifyInfo verifies a decoded AttestationInfo: the vTPM (VerifyTPM), the
// isolation evidence and its binding (VerifyIsolation), and AikCert
// (required to chain to a configured root for TrustedLaunch, reported for
// CVMs). It returns a *maaerr.Error on failure.
func (v *Verifier) VerifyInfo(ctx context.Context, info *AttestationInfo, cfg evidence.Config) (*Result, error) {
	ak, q, events, enc, err := VerifyTPM(info)
	if err != nil {
		return nil, err
	}
	akKey, err := tpm2.Pub(*ak)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "TpmInfo.AikPub: unsupported key")
	}
	res := &Result{Info: info, AK: ak, Quote: q, Events: events, EncKey: enc}
	if info.Isolation.Type != TrustedLaunch {
		if res.Isolation, err = v.VerifyIsolation(ctx, info.Isolation, akKey, cfg); err != nil {
			return nil, err
		}
	}
	if res.AKCertRoot, res.AKCertValidated, err = v.checkAKCert(info.TPM.AikCert, akKey); err != nil {
		return nil, err
	}
	if info.Isolation.Type == TrustedLaunch && !res.AKCertValidated {
		why := "it does not chain to a configured Azure vTPM root (azure-vtpm-ak-roots) at " + v.now().UTC().Format(time.RFC3339)
		if len(info.TPM.AikCert) == 0 {
			why = "it is absent"
		} else if v.nroots == 0 {
			why = "this instance has no Azure vTPM roots configured (azure-vtpm-ak-roots)"
		}
		return nil, maaerr.Wrap(ErrAKCert, maaerr.InvalidQuote, "A TrustedLaunch guest has no hardware evidence, so its AK certificate must verify, but %s.", why)
	}
	return res, nil
}

// Verify implements evidence.Verifier for AzureGuest: raw is the decoded
// AttestationInfo. It decodes and verifies it (VerifyInfo) and returns the
// azurevm claims (Claims) with a sealer that encrypts the issued token to
// the certified EncKey (Seal), as MAA answers AzureGuest requests. On
// failure it returns a *maaerr.Error: InvalidParameter for malformed
// input, InvalidQuote for verification and binding failures.
func (v *Verifier) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	info, err := DecodeAttestationInfo(raw)
	if err != nil {
		return nil, err
	}
	res, err := v.VerifyInfo(ctx, info, cfg)
	if err != nil {
		return nil, err
	}
	claims, err := res.Claims()
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.Internal, "building the azurevm claims: %v", err)
	}
	enc := res.EncKey
	return &evidence.Verified{
		AttestationType:     AttestationType,
		Claims:              claims,
		PolicyClaimIfIssued: true,
		Seal: func(token string) (string, error) {
			return Seal(token, enc, nil)
		},
		Detail: res,
	}, nil
}

// AttestationType is the x-ms-attestation-type of AzureGuest tokens.
const AttestationType = "azurevm"
