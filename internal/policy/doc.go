// Package policy implements the Microsoft Azure Attestation (MAA) policy
// language, versions 1.0, 1.1 and 1.2: a lexer and parser into a syntax tree
// with source positions, semantic checks at parse time, an evaluator, MAA's
// default policies and MAA's policy hash.
//
// Parse, then Evaluate:
//
//	p, err := policy.Parse(text)          // *ParseError (PolicyParsingError) on failure
//	res, err := p.Evaluate(ctx, incoming) // incoming: verified claims, issuer AttestationService
//	if errors.Is(err, policy.ErrNotAuthorized) { ... res.Authorized == false ... }
//	res.ClaimsJSON()     // issued claims, for the token and x-ms-policy
//	res.PropertiesJSON() // issueproperty claims (x-ms-sgx-tcbidentifier, required_pcr_mask, ...)
//
// Default returns MAA's default policy text for SgxEnclave and OpenEnclave
// (ParsedDefault a shared parsed copy), Hash computes x-ms-policy-hash, and
// ClaimsFromJSON reads incoming claims from JSON (for the CLI and tests).
//
// A *Policy is immutable and safe for concurrent use; cache it per instance
// and attestation type. Parsing bounds the policy (size, rules, conditions,
// nesting; see Limits) and evaluation bounds the work (steps, claims, JSON
// size and depth, string length). Evaluation is deterministic: rules run in
// order, claims are matched in the order they entered the incoming set.
//
// # Semantics in brief
//
// Sections run in the order configurationrules (1.1+), authorizationrules,
// issuancerules. A rule fires when every condition holds; a rule without
// conditions always fires. A condition holds when at least one claim of the
// incoming set satisfies all its property conditions (a negated condition,
// 1.2+, when none does). An identifier (c:[...]) binds every claim that
// satisfied its condition, so c.value is a Set when several claims matched;
// actions given a Set produce one claim per element, and comparisons against
// a Set hold when == holds for some element (!= when it holds for none).
//
// Authorization: the request is authorized when a permit() fired and no
// deny() fired. A deny() is final (it stops the authorization rules and wins
// over any permit); if no permit() fired the request is refused as well.
// The errors carry MAA's messages MsgDenyIssued and MsgNoPermit.
//
// Issuance: add() extends the incoming set (visible to later rules), issue()
// extends the incoming and the outgoing set, issueproperty() the incoming set
// and the properties. Claims built from type=/value= get issuer
// AttestationPolicy. A claim type issued more than once keeps every value:
// Result.Claims lists them all and ClaimsJSON renders them as a JSON array
// in issuance order.
//
// The decisions on the irregular forms found in MAA's documentation (single
// "=" in conditions, positional issue arguments, NegateBol, keyword case,
// ...) are listed, with the reason for each, in DECISIONS.md next to this
// file; each has a test in decisions_test.go.
package policy
