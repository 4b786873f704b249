package attestation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/token"
)

// Maat-namespaced claims for what MAA does not expose under its own names:
// the SGX TCB appraisal of the evidence. They are incoming claims policies
// can test, and appear in the token.
const (
	ClaimTCBStatus   = "x-maat-sgx-tcb-status"     // string: UpToDate, SWHardeningNeeded, …
	ClaimAdvisoryIDs = "x-maat-sgx-advisory-ids"   // array of strings (JSON-valued for policies)
	ClaimQEStatus    = "x-maat-sgx-qe-status"      // string: the QE identity's TCB status
	ClaimFMSPC       = "x-maat-sgx-fmspc"          // string: lower hex
	ClaimTCBEvalNum  = "x-maat-sgx-tcb-eval-num"   // number: TCB evaluation data number
	ClaimCollExpired = "x-maat-collateral-expired" // bool, only when expired collateral was accepted
)

// DefaultAcceptedTCB is the default set of acceptable TCB statuses.
var DefaultAcceptedTCB = []collateral.TCBStatus{
	collateral.UpToDate, collateral.SWHardeningNeeded, collateral.ConfigurationNeeded, collateral.ConfigurationAndSWHardeningNeeded,
}

// Data is runtime or init-time data as the client sent it.
type Data struct {
	Bytes []byte
	// JSON is dataType "JSON": the bytes are a JSON document whose parsed
	// form becomes x-ms-runtime / x-ms-inittime. Otherwise "Binary".
	JSON bool
}

// Request is one SGX or OpenEnclave attestation.
type Request struct {
	Type         string // TypeSGX or TypeOpenEnclave
	Evidence     []byte // the quote (SgxEnclave) or OE report/evidence (OpenEnclave), as sent
	RuntimeData  *Data
	InitTimeData *Data
	// DraftPolicy, when set, is evaluated instead of the instance's policy
	// and the token is unsecured (alg none), as MAA does.
	DraftPolicy *string
	// Nonce, when set, is copied into the nonce claim.
	Nonce *string
}

// Attester runs the attestation pipeline. Fields are set at construction.
type Attester struct {
	SGX       *sgx.Verifier
	OE        *openenclave.Verifier
	Policies  *Policies
	Tokens    Issuer
	AcceptTCB []collateral.TCBStatus
	// Fresh, when set, is asked before every attestation whether the
	// in-memory policy state may still be used (bounded staleness while the
	// store is unreachable); its error is returned as is.
	Fresh func() error
}

// Attest verifies req's evidence, binds its runtime and init-time data,
// evaluates the policy and returns the token. Errors: InvalidParameter or
// InvalidQuote for evidence problems (including a TCB status the instance
// does not accept and data that does not match the report),
// PolicyParsingError for a bad draft policy, PolicyEvaluationError when the
// policy does not authorize.
func (a *Attester) Attest(ctx context.Context, req Request) (string, error) {
	if a.Fresh != nil {
		if err := a.Fresh(); err != nil {
			return "", err
		}
	}
	var res *sgx.Result
	switch req.Type {
	case TypeSGX:
		r, err := a.SGX.Verify(ctx, req.Evidence, sgx.WithEvidence(req.Evidence))
		if err != nil {
			return "", err
		}
		res = r
	case TypeOpenEnclave:
		r, err := a.OE.Verify(ctx, req.Evidence)
		if err != nil {
			return "", err
		}
		res = r.Result
	default:
		return "", maaerr.New(maaerr.InvalidParameter, "Attestation type '%s' is not supported by this endpoint.", req.Type)
	}
	accept := a.AcceptTCB
	if accept == nil {
		accept = DefaultAcceptedTCB
	}
	if !slices.Contains(accept, res.TCBStatus) {
		return "", maaerr.New(maaerr.InvalidParameter, "The quote's TCB status '%s' is not accepted by this instance (accepted: %s); advisories: %s.",
			res.TCBStatus, joinStatuses(accept), strings.Join(res.AdvisoryIDs, ", "))
	}

	claims := res.Claims()
	claims["x-ms-attestation-type"] = "sgx"
	claims[ClaimTCBStatus] = string(res.TCBStatus)
	claims[ClaimQEStatus] = string(res.QEStatus)
	claims[ClaimAdvisoryIDs] = nonNil(res.AdvisoryIDs)
	claims[ClaimFMSPC] = res.FMSPC
	claims[ClaimTCBEvalNum] = res.TCBEvaluationDataNumber
	if res.CollateralExpired {
		claims[ClaimCollExpired] = true
	}
	if req.RuntimeData != nil {
		if err := bind("runtime data", req.RuntimeData.Bytes, res.Report.ReportData[:32], "report_data[0:32]"); err != nil {
			return "", err
		}
		if err := addData(claims, req.RuntimeData, "x-ms-runtime", true); err != nil {
			return "", err
		}
	}
	if req.InitTimeData != nil {
		if err := bind("init-time data", req.InitTimeData.Bytes, res.Report.ConfigID[:32], "config_id[0:32]"); err != nil {
			return "", err
		}
		if err := addData(claims, req.InitTimeData, "x-ms-inittime", false); err != nil {
			return "", err
		}
	}

	var pol *policy.Policy
	var signer []byte
	if req.DraftPolicy != nil {
		p, err := policy.Parse(*req.DraftPolicy)
		if err != nil {
			return "", asPolicyError(err, maaerr.PolicyParsingError)
		}
		pol = p
	} else {
		ap, err := a.Policies.Get(ctx, req.Type)
		if err != nil {
			return "", err
		}
		if ap.Policy == nil {
			return "", maaerr.New(maaerr.InvalidOperation, "No attestation policy has been set for %s.", req.Type)
		}
		pol, signer = ap.Policy, ap.SignerCertDER
	}
	incoming, err := incomingClaims(claims)
	if err != nil {
		return "", err
	}
	result, err := pol.Evaluate(ctx, incoming)
	if err != nil {
		return "", asPolicyError(err, maaerr.PolicyEvaluationError)
	}

	out := claims
	out["maa-attestationcollateral"] = claims["x-ms-sgx-collateral"]
	issued := result.ClaimsJSON()
	for k, v := range issued {
		if _, taken := out[k]; !taken {
			out[k] = v
		}
	}
	out["x-ms-policy"] = issued
	out["x-ms-policy-hash"] = pol.Hash()
	// MAA reports the TCB baseline identifier the policy selected, and
	// "azuredefault" when the policy selects none (observed with a 1.0 draft
	// policy).
	out["x-ms-sgx-tcbidentifier"] = "azuredefault"
	if v, ok := result.Property("x-ms-sgx-tcbidentifier"); ok {
		out["x-ms-sgx-tcbidentifier"] = v.Interface()
	}
	if signer != nil {
		if c, err := x509.ParseCertificate(signer); err == nil {
			out["x-ms-policy-signer"] = SignerJWK(c)
		}
	}
	if req.Nonce != nil {
		out["nonce"] = *req.Nonce
	}
	return a.Tokens.Issue(out, token.Options{Unsecured: req.DraftPolicy != nil})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func joinStatuses(ss []collateral.TCBStatus) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// bind checks SHA-256(data) == want, MAA's binding of runtime data to
// report_data and of init-time data to the config id.
func bind(what string, data, want []byte, field string) error {
	h := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(h[:], want) != 1 {
		return maaerr.New(maaerr.InvalidParameter, "The %s does not match the enclave: SHA-256 of the %s must equal the quote's %s.", what, what, field)
	}
	return nil
}

// addData adds the claims MAA derives from runtime/init-time data: for JSON
// data the parsed document under jsonClaim (a trailing NUL, as MAA's C++
// SDK sends, is tolerated); for binary runtime data x-ms-sgx-ehd and its
// legacy aliases aas-ehd and maa-ehd (base64url).
func addData(claims map[string]any, d *Data, jsonClaim string, ehd bool) error {
	if d.JSON {
		doc := bytes.TrimRight(d.Bytes, "\x00")
		var v any
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil || dec.More() {
			return maaerr.New(maaerr.InvalidParameter, "The %s data has dataType JSON but is not a JSON document.", strings.TrimPrefix(jsonClaim, "x-ms-"))
		}
		claims[jsonClaim] = v
		return nil
	}
	if ehd {
		e := jose.B64.EncodeToString(d.Bytes)
		claims["x-ms-sgx-ehd"] = e
		claims["aas-ehd"] = e
		claims["maa-ehd"] = e
	}
	return nil
}

// incomingClaims converts the service claims into the policy engine's
// claims (issuer AttestationService), in claim-type order so evaluation is
// deterministic; objects and arrays become JSON-valued claims.
func incomingClaims(claims map[string]any) ([]policy.Claim, error) {
	types := make([]string, 0, len(claims))
	for k := range claims {
		types = append(types, k)
	}
	slices.Sort(types)
	out := make([]policy.Claim, 0, len(types))
	for _, k := range types {
		var v policy.Value
		switch x := claims[k].(type) {
		case bool:
			v = policy.Boolean(x)
		case int:
			v = policy.Integer(int64(x))
		case int64:
			v = policy.Integer(x)
		case string:
			v = policy.String(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, maaerr.Wrap(err, maaerr.Internal, "encoding claim %s failed", k)
			}
			v = policy.String(string(b))
		}
		out = append(out, policy.ServiceClaim(k, v))
	}
	return out, nil
}

func asPolicyError(err error, code maaerr.Code) error {
	var e *maaerr.Error
	if errors.As(err, &e) && (e.Code == maaerr.PolicyParsingError || e.Code == maaerr.PolicyEvaluationError) {
		return e
	}
	return maaerr.Wrap(err, code, "%v", err)
}
