package sgx

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/dcap"
)

// TCBStatus is a TCB status (see collateral.TCBStatus for the values).
type TCBStatus = collateral.TCBStatus

// Options configure a Verifier (see dcap.Options: Roots, Now,
// AcceptExpiredCollateral, Collateral, CacheEntries). They are copied by
// NewVerifier and never modified. Start from DefaultOptions.
type Options = dcap.Options

// DefaultOptions returns the production defaults: the Intel root only, the
// wall clock, expired collateral rejected, no collateral source.
func DefaultOptions() Options { return dcap.DefaultOptions() }

// Verifier verifies SGX quotes. It is safe for concurrent use; it caches
// parsed PCK chains and verified collateral by content hash, never per-call
// state.
type Verifier struct {
	core *dcap.Verifier
}

// NewVerifier returns a verifier with a copy of opts. It returns an error
// when a root has no certificate.
func NewVerifier(opts Options) (*Verifier, error) {
	c, err := dcap.NewVerifier(opts)
	if err != nil {
		return nil, err
	}
	return &Verifier{core: c}, nil
}

// CallOption adjusts one Verify call.
type CallOption = dcap.CallOption

// WithEvidence sets the bytes whose SHA-256 is reported as quotehash: the
// evidence exactly as the client sent it (for OpenEnclave, the whole report
// with its header). Without it, quotehash is SHA-256 of the quote bytes.
func WithEvidence(b []byte) CallOption { return dcap.WithEvidence(b) }

// WithPCKChain supplies the PEM PCK chain (leaf, intermediate, root) for a
// quote whose certification data is type 1–4 and so carries no chain.
func WithPCKChain(pem []byte) CallOption { return dcap.WithPCKChain(pem) }

// WithCollateral uses b instead of the verifier's collateral source.
func WithCollateral(b *collateral.Bundle) CallOption { return dcap.WithCollateral(b) }

// WithTime verifies at t instead of the verifier's clock.
func WithTime(t time.Time) CallOption { return dcap.WithTime(t) }

// CollateralHashes are the SHA-256 digests MAA reports in
// x-ms-sgx-collateral (see dcap.CollateralHashes).
type CollateralHashes = dcap.CollateralHashes

// Result is what a successful verification established. It exists only for
// evidence that passed every check.
type Result struct {
	Quote *Quote
	// Report is the verified enclave report body.
	Report ReportBody
	// TCBStatus is the platform TCB level's status merged with the QE's
	// status as QVL does. Never Revoked (that is an error).
	TCBStatus TCBStatus
	// PlatformTCBStatus is the matched TCB level's own status.
	PlatformTCBStatus TCBStatus
	TCBDate           time.Time
	// AdvisoryIDs is the union of the TCB level's and the QE level's IDs.
	AdvisoryIDs []string
	QEStatus    TCBStatus
	// FMSPC and PCEID are lower-case hex from the PCK certificate.
	FMSPC string
	PCEID string
	PCK   PCKExtensions
	// PCKCA is "processor" or "platform".
	PCKCA string
	// TCBEvaluationDataNumber is the smaller of the TCB Info's and the QE
	// Identity's (as QvE reports it).
	TCBEvaluationDataNumber int
	// CollateralExpiry is the earliest nextUpdate / notAfter among the CRLs,
	// the TCB Info, the QE Identity and every certificate used.
	CollateralExpiry time.Time
	// CollateralExpired is set when AcceptExpiredCollateral let expired
	// collateral through.
	CollateralExpired bool
	// Root is the Name of the trust root the PCK chain chained to.
	Root       string
	VerifiedAt time.Time
	Hashes     CollateralHashes
}

// Verify parses quote and verifies it (see VerifyQuote). On failure it
// returns nil and a *maaerr.Error wrapping one of the Err* sentinels.
func (v *Verifier) Verify(ctx context.Context, quote []byte, opts ...CallOption) (*Result, error) {
	q, err := ParseQuote(quote)
	if err != nil {
		return nil, err
	}
	return v.VerifyQuote(ctx, q, opts...)
}

// VerifyQuote runs QVL's algorithm on q: the shared DCAP checks
// (dcap.Verifier.Core: PCK chain to a pinned root, CRLs, TCB Info and QE
// Identity, QE report and attestation-key binding, QE identity and TCB
// level, quote signature), then TCB level selection by the PCK
// certificate's components and PCESVN and the QE status merge. Like QVL it
// treats TCB status Revoked (platform or QE) as a failure (ErrTCBRevoked).
//
// On failure it returns nil and a *maaerr.Error (InvalidQuote; InvalidParameter
// for a malformed PCK chain PEM; ServiceUnavailable when collateral could not
// be fetched) wrapping one of the Err* sentinels.
func (v *Verifier) VerifyQuote(ctx context.Context, q *Quote, opts ...CallOption) (*Result, error) {
	c, err := v.core.Core(ctx, &q.Quote, dcap.Profile{TEE: dcap.TEETypeSGX}, opts...)
	if err != nil {
		return nil, err
	}
	tcb, x := c.TCBInfo, c.PCK
	// TCB level by the PCK certificate's TCB (4.1.2.4.17).
	lvl := -1
	for i := range tcb.Levels {
		if dcap.SGXLevelMatches(&tcb.Levels[i], x) {
			lvl = i
			break
		}
	}
	if lvl < 0 {
		return nil, invalid(ErrTCBNotSupported, "no TCB level of FMSPC %x matches the PCK TCB", tcb.FMSPC)
	}
	level := &tcb.Levels[lvl]
	qeStatus := c.QELevel.Status
	status := dcap.MergeStatus(level.Status, qeStatus)
	if status == collateral.Revoked {
		return nil, invalid(ErrTCBRevoked, "platform TCB status %s, QE status %s", level.Status, qeStatus)
	}
	if err := v.core.ExpiryError(&c); err != nil {
		return nil, err
	}
	return &Result{
		Quote:                   q,
		Report:                  q.Body,
		TCBStatus:               status,
		PlatformTCBStatus:       level.Status,
		TCBDate:                 level.TCBDate,
		AdvisoryIDs:             dcap.UnionIDs(level.AdvisoryIDs, c.QELevel.AdvisoryIDs),
		QEStatus:                qeStatus,
		FMSPC:                   hex.EncodeToString(x.FMSPC[:]),
		PCEID:                   hex.EncodeToString(x.PCEID[:]),
		PCK:                     *x,
		PCKCA:                   c.PCKCA,
		TCBEvaluationDataNumber: min(tcb.TCBEvaluationDataNumber, c.QEIdentity.TCBEvaluationDataNumber),
		CollateralExpiry:        c.CollateralExpiry,
		CollateralExpired:       c.Expired,
		Root:                    c.Root,
		VerifiedAt:              c.VerifiedAt,
		Hashes:                  c.Hashes,
	}, nil
}

// Step entry points for the component benchmarks.

type stepResult struct{ err error }

func (v *Verifier) buildPCKChain(ders [][]byte) stepResult {
	_, err := v.core.BuildPCKChain(ders)
	return stepResult{err}
}

func (v *Verifier) verifiedSigned(it *collateral.Item, isTCB bool) (any, error) {
	if !isTCB {
		panic("sgx: verifiedSigned is for TCB Info")
	}
	return v.core.VerifiedTCBInfo(it, false)
}

func (v *Verifier) verifiedCRL(it *collateral.Item, issuer *x509.Certificate, name string) (any, error) {
	return v.core.VerifiedCRL(it, issuer, name)
}

func verifyRS(pub *ecdsa.PublicKey, msg, sig []byte) bool { return dcap.VerifyRS(pub, msg, sig) }
