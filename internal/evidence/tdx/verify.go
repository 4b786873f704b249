package tdx

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
)

// TCBStatus is a TCB status (see collateral.TCBStatus for the values).
type TCBStatus = collateral.TCBStatus

// Unmatched says what to do with a quote whose platform matches no TCB
// level of its TDX TCB Info (decision D9: Azure DCesv6 quotes match none of
// Intel's levels).
type Unmatched string

// Unmatched values.
const (
	// UnmatchedReject rejects such a quote with a message naming the FMSPC,
	// the PCK components and the lowest level (the default).
	UnmatchedReject Unmatched = "reject"
	// UnmatchedOutOfDate accepts it with TCB status OutOfDate and
	// Result.Unmatched set (claim x-maat-tdx-tcb-unmatched).
	UnmatchedOutOfDate Unmatched = "out-of-date"
)

// ParseUnmatched returns the Unmatched for s ("reject", "out-of-date"; ""
// means reject). It returns an error naming the accepted values otherwise.
func ParseUnmatched(s string) (Unmatched, error) {
	switch Unmatched(s) {
	case "", UnmatchedReject:
		return UnmatchedReject, nil
	case UnmatchedOutOfDate:
		return UnmatchedOutOfDate, nil
	}
	return "", fmt.Errorf("tdx: unmatched TCB level handling %q is neither %q nor %q", s, UnmatchedReject, UnmatchedOutOfDate)
}

// Options configure a Verifier. They are copied by NewVerifier and never
// modified. Start from DefaultOptions.
type Options struct {
	// DCAP are the shared options: trust roots (nil means Intel's),
	// clock, expired-collateral acceptance, collateral source, cache size.
	DCAP dcap.Options
	// Unmatched is what to do with a quote matching no TCB level; "" means
	// UnmatchedReject.
	Unmatched Unmatched
}

// DefaultOptions returns the production defaults: the Intel root only, the
// wall clock, expired collateral rejected, no collateral source, quotes
// matching no TCB level rejected.
func DefaultOptions() Options {
	return Options{DCAP: dcap.DefaultOptions(), Unmatched: UnmatchedReject}
}

// Verifier verifies TD quotes. It is safe for concurrent use.
type Verifier struct {
	core      *dcap.Verifier
	unmatched Unmatched
}

// NewVerifier returns a verifier with a copy of opts. It returns an error
// when a root has no certificate or Unmatched is unknown.
func NewVerifier(opts Options) (*Verifier, error) {
	u, err := ParseUnmatched(string(opts.Unmatched))
	if err != nil {
		return nil, err
	}
	c, err := dcap.NewVerifier(opts.DCAP)
	if err != nil {
		return nil, err
	}
	return &Verifier{core: c, unmatched: u}, nil
}

// Result is what a successful verification established.
type Result struct {
	Quote  *Quote
	Report Report
	// TCBStatus is QVL's final status: the TCB level's status merged with
	// the TDX module's and then with the TD QE's. Never Revoked (an error).
	// OutOfDate when Unmatched.
	TCBStatus TCBStatus
	// PlatformTCBStatus is the matched TCB level's own status ("" when
	// Unmatched).
	PlatformTCBStatus TCBStatus
	// ModuleID is the TDX module identity used ("TDX_01", …), "" when the
	// quote's TEE_TCB_SVN[1] is 0 and the TCB Info's tdxModule applies;
	// ModuleStatus is its level's status ("" then).
	ModuleID     string
	ModuleStatus TCBStatus
	QEStatus     TCBStatus
	// TCBDate is the matched level's tcbDate (zero when Unmatched).
	TCBDate time.Time
	// AdvisoryIDs is the union of the TCB level's, the module level's and
	// the QE level's IDs.
	AdvisoryIDs []string
	// Unmatched is set when no TCB level matched and the verifier is
	// configured with UnmatchedOutOfDate.
	Unmatched bool
	// RelaunchAdvised (TD 1.5 only): the TD is out of date by the TDX
	// module it was launched with (TEE_TCB_SVN) while the module now
	// running (TEE_TCB_SVN_2) meets the latest level, so relaunching it
	// would bring it up to date (QVL's TD_RELAUNCH_ADVISED; see
	// relaunchAdvised).
	RelaunchAdvised bool
	// FMSPC and PCEID are upper-case hex from the PCK certificate.
	FMSPC, PCEID string
	PCK          dcap.PCKExtensions
	PCKCA        string
	// TCBEvaluationDataNumber is the smaller of the TCB Info's and the TD_QE
	// identity's.
	TCBEvaluationDataNumber int
	CollateralExpiry        time.Time
	CollateralExpired       bool
	Root                    string
	VerifiedAt              time.Time
	Hashes                  dcap.CollateralHashes
}

// Verify parses quote and verifies it (see VerifyQuote).
func (v *Verifier) Verify(ctx context.Context, quote []byte, opts ...dcap.CallOption) (*Result, error) {
	q, err := ParseQuote(quote)
	if err != nil {
		return nil, err
	}
	return v.VerifyQuote(ctx, q, opts...)
}

// VerifyQuote runs QVL's algorithm for TEE type 0x81 on q: the shared DCAP
// checks (PCK chain, CRLs, TDX TCB Info and TD_QE identity, QE report,
// attestation key, quote signature), the TDX module check (MRSIGNERSEAM
// and SEAM_ATTRIBUTES against tdxModule or tdxModuleIdentities
// "TDX_%02X" % TEE_TCB_SVN[1], module level by TEE_TCB_SVN[0]), TCB level
// selection (PCK SGX components and PCESVN, and TEE_TCB_SVN against
// tdxtcbcomponents — from index 2 when TEE_TCB_SVN[1] > 0), the status
// merge with the module and QE statuses, and for TD 1.5 the relaunch check
// on TEE_TCB_SVN_2.
//
// On failure it returns nil and a *maaerr.Error: InvalidQuote wrapping a
// dcap sentinel or ErrTDXModule; InvalidParameter wrapping
// dcap.ErrTCBNotSupported for a quote matching no TCB level (unless the
// verifier maps it to OutOfDate); ServiceUnavailable when collateral could
// not be fetched.
func (v *Verifier) VerifyQuote(ctx context.Context, q *Quote, opts ...dcap.CallOption) (*Result, error) {
	c, err := v.core.Core(ctx, &q.Quote, dcap.Profile{TEE: dcap.TEETypeTDX}, opts...)
	if err != nil {
		return nil, err
	}
	tcb, x, b := c.TCBInfo, c.PCK, &q.Body
	fmspc := strings.ToUpper(hex.EncodeToString(x.FMSPC[:]))

	// TDX module (QVL 4.1.2.4.11 and 4.1.2.4.17.4).
	mod, err := moduleFor(tcb, b.TEETCBSVN, fmspc)
	if err != nil {
		return nil, err
	}
	if b.MRSignerSEAM != mod.MRSigner {
		return nil, invalid(ErrTDXModule, "MRSIGNERSEAM %x is not the %s signer %x of FMSPC %s", b.MRSignerSEAM, mod.name(), mod.MRSigner, fmspc)
	}
	if b.SEAMAttributes != [8]byte{} || b.SEAMAttributes != mod.Attributes {
		return nil, invalid(ErrTDXModule, "SEAM_ATTRIBUTES %x must be zero and equal the %s attributes %x", b.SEAMAttributes, mod.name(), mod.Attributes)
	}
	var modLevel *collateral.QELevel
	if mod.ID != "" {
		if modLevel = moduleLevel(mod, b.TEETCBSVN); modLevel == nil {
			return nil, maaerr.Wrap(dcap.ErrTCBNotSupported, maaerr.InvalidParameter,
				"TDX module %s SVN %d (TEE_TCB_SVN[0]) is below every level of that module in the TCB Info of FMSPC %s (lowest isvsvn %d)",
				mod.ID, b.TEETCBSVN[0], fmspc, mod.Levels[len(mod.Levels)-1].ISVSVN)
		}
	}

	// TCB level (4.1.2.4.17).
	r := &Result{
		Quote: q, Report: *b, QEStatus: c.QELevel.Status, ModuleID: mod.ID,
		FMSPC: fmspc, PCEID: strings.ToUpper(hex.EncodeToString(x.PCEID[:])), PCK: *x, PCKCA: c.PCKCA,
		TCBEvaluationDataNumber: min(tcb.TCBEvaluationDataNumber, c.QEIdentity.TCBEvaluationDataNumber),
		CollateralExpiry:        c.CollateralExpiry, CollateralExpired: c.Expired,
		Root: c.Root, VerifiedAt: c.VerifiedAt, Hashes: c.Hashes,
	}
	var levelAdv []string
	level := selectLevel(tcb, x, b.TEETCBSVN)
	switch {
	case level != nil:
		r.PlatformTCBStatus, r.TCBDate, levelAdv = level.Status, level.TCBDate, level.AdvisoryIDs
	case v.unmatched == UnmatchedOutOfDate:
		r.PlatformTCBStatus, r.Unmatched = "", true
	default:
		return nil, unmatchedError(tcb, x, b.TEETCBSVN, fmspc)
	}
	platform := r.PlatformTCBStatus
	if r.Unmatched {
		platform = collateral.OutOfDate
	}
	status := platform
	var modAdv []string
	if modLevel != nil {
		r.ModuleStatus, modAdv = modLevel.Status, modLevel.AdvisoryIDs
		status = dcap.MergeStatus(status, modLevel.Status)
	}
	status = dcap.MergeStatus(status, r.QEStatus)
	if status == collateral.Revoked {
		return nil, invalid(dcap.ErrTCBRevoked, "FMSPC %s: TCB level status %s, TDX module %s status %s, TD QE status %s", fmspc, platform, mod.name(), r.ModuleStatus, r.QEStatus)
	}
	r.TCBStatus = status
	r.AdvisoryIDs = dcap.UnionIDs(dcap.UnionIDs(levelAdv, modAdv), c.QELevel.AdvisoryIDs)

	// TD 1.5 relaunch check (QVL's TDRelaunchCheck).
	if b.V15 {
		if r.RelaunchAdvised, err = relaunchAdvised(tcb, x, b, fmspc, status, r.ModuleStatus, r.QEStatus); err != nil {
			return nil, err
		}
	}
	if err := v.core.ExpiryError(&c); err != nil {
		return nil, err
	}
	return r, nil
}

type module struct {
	collateral.TDXModuleIdentity
}

func (m module) name() string {
	if m.ID == "" {
		return "tdxModule"
	}
	return "TDX module " + m.ID
}

// moduleFor returns the module identity for TEE_TCB_SVN[1] > 0, or the TCB
// Info's tdxModule.
func moduleFor(tcb *collateral.TCBInfo, svn [16]byte, fmspc string) (module, error) {
	if svn[1] == 0 {
		return module{collateral.TDXModuleIdentity{TDXModule: *tcb.TDXModule}}, nil
	}
	id := fmt.Sprintf("TDX_%02X", svn[1])
	for _, m := range tcb.TDXModuleIdentities {
		if m.ID == id {
			return module{m}, nil
		}
	}
	ids := make([]string, 0, len(tcb.TDXModuleIdentities))
	for _, m := range tcb.TDXModuleIdentities {
		ids = append(ids, m.ID)
	}
	return module{}, invalid(ErrTDXModule, "the quote's TDX module %s (TEE_TCB_SVN[1] = %d) has no identity in the TCB Info of FMSPC %s (it has: %s)", id, svn[1], fmspc, strings.Join(ids, ", "))
}

func moduleLevel(m module, svn [16]byte) *collateral.QELevel {
	for i := range m.Levels {
		if uint16(svn[0]) >= m.Levels[i].ISVSVN {
			return &m.Levels[i]
		}
	}
	return nil
}

// tdxMatches is the TDX half of QVL's level match: TEE_TCB_SVN against
// tdxtcbcomponents, skipping the module's two bytes when a module identity
// judges them.
func tdxMatches(l *collateral.TCBLevel, svn [16]byte) bool {
	start := 0
	if svn[1] > 0 {
		start = 2
	}
	for i := start; i < 16; i++ {
		if svn[i] < l.TDXComponents[i] {
			return false
		}
	}
	return true
}

func selectLevel(tcb *collateral.TCBInfo, x *dcap.PCKExtensions, svn [16]byte) *collateral.TCBLevel {
	for i := range tcb.Levels {
		l := &tcb.Levels[i]
		if dcap.SGXLevelMatches(l, x) && tdxMatches(l, svn) {
			return l
		}
	}
	return nil
}

// relaunchAdvised is QVL's relaunch check for a TD 1.5 report: the TD was
// launched on a TDX module that is now out of date (TEE_TCB_SVN), while the
// platform's SGX TCB and the QE are fine; if the module now running
// (TEE_TCB_SVN_2) meets the TCB Info's latest level (the latest module
// identity level, and the latest TDX component 2; component 0 too without a
// module identity), relaunching the TD would bring it up to date. The
// status stays Intel's (attester_tcb_status is one of Intel's tcbStatus
// values); the advice is reported beside it. A TEE_TCB_SVN_2 naming a module
// the TCB Info does not know is an error, as in QVL.
func relaunchAdvised(tcb *collateral.TCBInfo, x *dcap.PCKExtensions, b *Report, fmspc string, merged, module, qe TCBStatus) (bool, error) {
	if module != collateral.OutOfDate || (merged != collateral.OutOfDate && merged != collateral.OutOfDateConfigurationNeeded) {
		return false, nil
	}
	if qe == collateral.OutOfDate || qe == collateral.OutOfDateConfigurationNeeded || qe == collateral.Revoked {
		return false, nil
	}
	sgxOnly := -1
	for i := range tcb.Levels {
		if dcap.SGXLevelMatches(&tcb.Levels[i], x) {
			sgxOnly = i
			break
		}
	}
	if sgxOnly < 0 {
		return false, nil
	}
	switch tcb.Levels[sgxOnly].Status {
	case collateral.UpToDate, collateral.SWHardeningNeeded, collateral.ConfigurationNeeded, collateral.ConfigurationAndSWHardeningNeeded:
	default:
		return false, nil
	}
	latest := &tcb.Levels[0]
	svn2 := b.TEETCBSVN2
	if svn2[2] < latest.TDXComponents[2] {
		return false, nil
	}
	if svn2[1] == 0 {
		return svn2[0] >= latest.TDXComponents[0], nil
	}
	m, err := moduleFor(tcb, svn2, fmspc)
	if err != nil {
		return false, err
	}
	return uint16(svn2[0]) >= m.Levels[0].ISVSVN, nil
}

func unmatchedError(tcb *collateral.TCBInfo, x *dcap.PCKExtensions, svn [16]byte, fmspc string) error {
	low := &tcb.Levels[len(tcb.Levels)-1]
	return maaerr.Wrap(dcap.ErrTCBNotSupported, maaerr.InvalidParameter,
		"the TD quote matches no TCB level of FMSPC %s (TCB Info evaluation data number %d): the PCK certificate has SGX components %v and PCESVN %d, the quote TEE_TCB_SVN %x; "+
			"the lowest level (%s, %s) needs SGX components %v, PCESVN %d and TDX components %v. "+
			"Intel's collateral does not cover this platform (Azure DCesv6 is a known case); configure tdx-unmatched-tcb-level out-of-date to accept such quotes as OutOfDate",
		fmspc, tcb.TCBEvaluationDataNumber, x.TCBComponents, x.PCESVN, svn,
		low.TCBDate.Format("2006-01-02"), low.Status, low.SGXComponents, low.PCESVN, low.TDXComponents)
}

func invalid(sentinel error, format string, args ...any) error {
	return maaerr.Wrap(sentinel, maaerr.InvalidQuote, format, args...)
}
