package attestation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"maps"
	"strings"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/token"
)

// Data is runtime or init-time data as the client sent it.
type Data struct {
	Bytes []byte
	// JSON is dataType "JSON": the bytes are a JSON document whose parsed
	// form becomes x-ms-runtime / x-ms-inittime. Otherwise "Binary".
	JSON bool
}

// Request is one single-shot attestation.
type Request struct {
	Type evidence.Type
	// Evidence is the evidence member (quote, report, …) decoded from its
	// transport encoding, exactly as the client sent it.
	Evidence     []byte
	RuntimeData  *Data
	InitTimeData *Data
	// DraftPolicy, when set, is evaluated instead of the instance's policy
	// and the token is unsecured (alg none), as MAA does.
	DraftPolicy *string
	// Nonce, when set, is copied into the nonce claim.
	Nonce *string
}

// Pipeline runs attestations: the verifier of the request's type, then one
// appraisal shared by every type (data binding, policy, token). Fields are
// set at construction and not changed afterwards.
type Pipeline struct {
	// Verifiers holds one verifier per supported type; a type without one
	// answers MAA's "not supported" error.
	Verifiers map[evidence.Type]evidence.Verifier
	Policies  *Policies
	Tokens    Issuer
	// Fresh, when set, is asked before every attestation whether the
	// in-memory policy state may still be used (bounded staleness while the
	// store is unreachable); its error is returned as is.
	Fresh func() error
	// Observer, when set, is told of the policy and sign stages (metrics,
	// tracing); verifiers report their own stage through observe.Verifier.
	Observer observe.Observer
}

// Supports reports whether the pipeline has a verifier for t.
func (p *Pipeline) Supports(t evidence.Type) bool {
	_, ok := p.Verifiers[t]
	return ok
}

func (p *Pipeline) verifier(t evidence.Type) (evidence.Verifier, error) {
	v, ok := p.Verifiers[t]
	if !ok {
		return nil, maaerr.New(maaerr.InvalidParameter, "Attestation of type '%s' is not supported by this server yet.", t)
	}
	return v, nil
}

// Attest verifies req's evidence, binds its runtime and init-time data,
// evaluates the policy and returns the token. Errors: InvalidParameter for
// an unsupported type; the verifier's error (InvalidParameter,
// InvalidQuote) for evidence problems; InvalidParameter for data that does
// not match the report; PolicyParsingError for a bad draft policy;
// InvalidOperation when the type has no policy; PolicyEvaluationError when
// the policy does not authorize.
func (p *Pipeline) Attest(ctx context.Context, req Request) (string, error) {
	v, err := p.verifier(req.Type)
	if err != nil {
		return "", err
	}
	return p.run(ctx, v, req)
}

// Exchange serves one message of a multi-message protocol (Tpm): protocol
// steps before the evidence are answered by the verifier; the evidence
// message runs the pipeline and its token is wrapped into the protocol's
// final message. For a single-shot type it is InvalidParameter.
func (p *Pipeline) Exchange(ctx context.Context, t evidence.Type, msg []byte) ([]byte, error) {
	v, err := p.verifier(t)
	if err != nil {
		return nil, err
	}
	ch, ok := v.(evidence.Challenger)
	if !ok {
		return nil, maaerr.New(maaerr.InvalidParameter, "Attestation of type '%s' takes a single request, not protocol messages.", t)
	}
	answer, handled, err := ch.Exchange(ctx, msg)
	if err != nil || handled {
		return answer, err
	}
	tok, err := p.run(ctx, v, Request{Type: t, Evidence: msg})
	if err != nil {
		return nil, err
	}
	return ch.Wrap(tok), nil
}

// run is the pipeline: policy (its configuration decides how to verify),
// verification, binding, appraisal, issuance.
func (p *Pipeline) run(ctx context.Context, v evidence.Verifier, req Request) (string, error) {
	if p.Fresh != nil {
		if err := p.Fresh(); err != nil {
			return "", err
		}
	}
	pol, signer, err := p.policyFor(ctx, req)
	if err != nil {
		return "", err
	}
	cfg, err := pol.Configuration(ctx)
	if err != nil {
		return "", asPolicyError(err, maaerr.PolicyEvaluationError)
	}
	ver, err := v.Verify(ctx, req.Evidence, cfg)
	if err != nil {
		return "", err
	}
	return p.appraise(ctx, req, ver, pol, signer)
}

// policyFor returns the draft policy of req or the instance's policy for its
// type, with the certificate that signed the latter (nil when unsigned).
func (p *Pipeline) policyFor(ctx context.Context, req Request) (*policy.Policy, []byte, error) {
	if req.DraftPolicy != nil {
		pol, err := policy.Parse(*req.DraftPolicy)
		if err != nil {
			return nil, nil, asPolicyError(err, maaerr.PolicyParsingError)
		}
		return pol, nil, nil
	}
	ap, err := p.Policies.Get(ctx, req.Type)
	if err != nil {
		return nil, nil, err
	}
	if ap.Policy == nil {
		return nil, nil, maaerr.New(maaerr.InvalidOperation, "A %s attestation policy has not been set on the attestation provider.", req.Type)
	}
	return ap.Policy, ap.SignerCertDER, nil
}

// appraise binds the client's data to the verified report, evaluates the
// policy over the incoming claims and issues the token: the same for every
// attestation type.
func (p *Pipeline) appraise(ctx context.Context, req Request, ver *evidence.Verified, pol *policy.Policy, signer []byte) (string, error) {
	claims, err := IncomingClaims(ver, req.RuntimeData, req.InitTimeData)
	if err != nil {
		return "", err
	}

	incoming, err := policy.IncomingClaims(claims, policy.IssuerService, ver.ReadOnly)
	if err != nil {
		return "", maaerr.Wrap(err, maaerr.Internal, "converting the %s claims failed", req.Type)
	}
	if len(ver.CustomClaims) > 0 {
		custom, err := policy.IncomingClaims(ver.CustomClaims, policy.IssuerCustom, nil)
		if err != nil {
			return "", maaerr.Wrap(err, maaerr.InvalidParameter, "The evidence's custom claims are invalid.")
		}
		incoming = append(incoming, custom...)
	}
	pctx, end := observe.Start(ctx, p.Observer, observe.Policy)
	result, err := pol.Evaluate(pctx, incoming)
	end(err)
	if err != nil {
		return "", asPolicyError(err, maaerr.PolicyEvaluationError)
	}

	issued := result.ClaimsJSON()
	out := claims
	if ver.IssuedOnly {
		out = make(map[string]any, len(issued)+len(ver.TokenClaims)+8)
		out["x-ms-attestation-type"] = ver.AttestationType
	}
	for k, v := range issued {
		if _, taken := out[k]; !taken {
			out[k] = v
		}
	}
	for k, v := range ver.TokenClaims {
		if _, taken := issued[k]; !taken {
			out[k] = v
		}
	}
	if !ver.NoPolicyClaim && !(ver.PolicyClaimIfIssued && len(issued) == 0) {
		out["x-ms-policy"] = issued
	}
	out["x-ms-policy-hash"] = pol.Hash()
	if signer != nil {
		if c, err := x509.ParseCertificate(signer); err == nil {
			out["x-ms-policy-signer"] = SignerJWK(c)
		}
	}
	if req.Nonce != nil {
		out["nonce"] = *req.Nonce
	}
	_, end = observe.Start(ctx, p.Observer, observe.Sign)
	tok, err := p.Tokens.Issue(out, token.Options{
		Unsecured: req.DraftPolicy != nil,
		Lifetime:  ver.Token.Lifetime,
		X5C:       ver.Token.X5C,
		X5T:       ver.Token.X5T,
	})
	end(err)
	if err != nil || ver.Seal == nil {
		return tok, err
	}
	sealed, err := ver.Seal(tok)
	if err != nil {
		return "", maaerr.Wrap(err, maaerr.Internal, "sealing the %s token failed", req.Type)
	}
	return sealed, nil
}

// IncomingClaims returns the claims a policy sees for verified evidence and
// the client's runtime and init-time data (each may be nil): the verifier's
// claims, x-ms-attestation-type, and the claims derived from the data once
// it is bound to the report. The server's pipeline and `maat evidence
// verify` both use it, so offline claims equal the server's. It returns
// InvalidParameter when data does not match the report or is not the JSON
// it claims to be.
func IncomingClaims(ver *evidence.Verified, runtime, initTime *Data) (map[string]any, error) {
	claims := make(map[string]any, len(ver.Claims)+8)
	maps.Copy(claims, ver.Claims)
	claims["x-ms-attestation-type"] = ver.AttestationType
	if err := bindData(claims, "runtime", runtime, ver.RuntimeData, "x-ms-runtime", ver.BinaryRuntimeClaims); err != nil {
		return nil, err
	}
	if (runtime == nil || !runtime.JSON) && ver.EvidenceRuntimeJSON != nil {
		v, err := decodeJSONData(ver.EvidenceRuntimeJSON)
		if err != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "The runtime claims the evidence carries are not a JSON document: %v.", err)
		}
		claims["x-ms-runtime"] = v
	}
	if err := bindData(claims, "init-time", initTime, ver.InitTimeData, "x-ms-inittime", nil); err != nil {
		return nil, err
	}
	return claims, nil
}

// bindData checks SHA-256(data) against the report field the verifier
// named (MAA's binding of runtime data to report data and of init-time data
// to the config id / host data) and adds the claims MAA derives from the
// data: for JSON data the parsed document under jsonClaim; for binary
// runtime data the base64url bytes under each of binaryClaims.
func bindData(claims map[string]any, what string, d *Data, b *evidence.Binding, jsonClaim string, binaryClaims []string) error {
	if d == nil {
		return nil
	}
	if b == nil {
		return maaerr.New(maaerr.InvalidParameter, "This attestation type takes no %s data.", what)
	}
	h := sha256.Sum256(d.Bytes)
	matched := b.Value != nil && subtle.ConstantTimeCompare(h[:], b.Value) == 1
	if !matched && b.SHA384 != nil {
		h384 := sha512.Sum384(d.Bytes)
		matched = subtle.ConstantTimeCompare(h384[:], b.SHA384) == 1
	}
	if !matched {
		if b.Value == nil {
			h384 := sha512.Sum384(d.Bytes)
			return maaerr.New(maaerr.InvalidParameter, "The %s data does not match the enclave: SHA-384 of the %s data must equal the quote's %s (expected %s…, got %s…).",
				what, what, b.Field, prefixHex(b.SHA384), prefixHex(h384[:]))
		}
		alt := ""
		if b.SHA384 != nil {
			alt = " (or its SHA-384 the whole field)"
		}
		return maaerr.New(maaerr.InvalidParameter, "The %s data does not match the enclave: SHA-256 of the %s data must equal the quote's %s%s (expected %s…, got %s…).",
			what, what, b.Field, alt, prefixHex(b.Value), prefixHex(h[:]))
	}
	if d.JSON {
		v, err := decodeJSONData(d.Bytes)
		if err != nil {
			return maaerr.New(maaerr.InvalidParameter, "The %s data has dataType JSON but is not a JSON document: %v.", strings.ReplaceAll(what, "-", ""), err)
		}
		claims[jsonClaim] = v
		return nil
	}
	if len(binaryClaims) > 0 {
		e := jose.B64.EncodeToString(d.Bytes)
		for _, c := range binaryClaims {
			claims[c] = e
		}
	}
	return nil
}

func prefixHex(b []byte) string {
	return hex.EncodeToString(b[:min(8, len(b))])
}

// decodeJSONData parses JSON runtime or init-time data (a trailing NUL, as
// MAA's C++ SDK sends, is tolerated).
func decodeJSONData(b []byte) (any, error) {
	doc := bytes.TrimRight(b, "\x00")
	return jsonstrict.Decode(doc, 0)
}

func asPolicyError(err error, code maaerr.Code) error {
	var e *maaerr.Error
	if errors.As(err, &e) && (e.Code == maaerr.PolicyParsingError || e.Code == maaerr.PolicyEvaluationError) {
		return e
	}
	return maaerr.Wrap(err, code, "%v", err)
}
