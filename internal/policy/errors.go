package policy

import (
	"errors"
	"fmt"

	"github.com/maat-attest/maat/internal/maaerr"
)

// ParseError is a syntax or semantic error in a policy text. It unwraps to a
// *maaerr.Error with code PolicyParsingError, so both
// errors.As(err, new(*policy.ParseError)) and errors.As(err, new(*maaerr.Error))
// succeed.
type ParseError struct {
	Line, Col int    // where the mistake is (1-based; Col counts code points)
	Found     string // what was found there, e.g. `"="` or `string "X"`; may be empty
	Expected  string // what the grammar allows there, e.g. `"=="`; may be empty
	Msg       string // the whole human-readable message (without the position)
}

// Error returns "line:col: message".
func (e *ParseError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Unwrap returns the domain error (code PolicyParsingError) carrying the
// same text, so the HTTP edge renders MAA's error envelope.
func (e *ParseError) Unwrap() error {
	return &maaerr.Error{Code: maaerr.PolicyParsingError, Message: e.Error()}
}

func newParseError(p Pos, found, expected, msg string) *ParseError {
	if msg == "" {
		switch {
		case expected != "" && found != "":
			msg = "expected " + expected + ", found " + found
		case expected != "":
			msg = "expected " + expected
		default:
			msg = "unexpected " + found
		}
	}
	return &ParseError{Line: p.Line, Col: p.Col, Found: found, Expected: expected, Msg: msg}
}

// ErrNotAuthorized is wrapped by the error Evaluate returns when the
// authorizationrules did not authorize the request (a deny() fired, or no
// permit() fired). Test with errors.Is.
var ErrNotAuthorized = errors.New("policy: not authorized")

// Messages MAA's policy engine uses for the two authorization failures
// (observed: the cpp SDK recordings; documented: troubleshoot guide).
const (
	MsgDenyIssued = "Policy Engine Exception: A Deny claim was issued, authorization failed."
	MsgNoPermit   = "Policy Engine Exception: No Permit claim was issued in the authorizationrules section, authorization failed."
)

// EvalError is a failure while evaluating a rule (a function given the wrong
// kind of value, a JSON document that is not valid, an evaluation limit). It
// unwraps to a *maaerr.Error with code PolicyEvaluationError.
type EvalError struct {
	Pos Pos    // the rule, condition or expression being evaluated
	Msg string // human-readable message without the position
	Err error  // optional cause (e.g. a JMESPath syntax error, context cancellation)
}

// Error returns "line:col: message".
func (e *EvalError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg) }

// Unwrap returns the domain error (PolicyEvaluationError) wrapping the cause.
func (e *EvalError) Unwrap() error {
	return &maaerr.Error{Code: maaerr.PolicyEvaluationError, Message: "Policy Engine Exception: " + e.Error(), Err: e.Err}
}

func evalErr(p Pos, format string, args ...any) *EvalError {
	return &EvalError{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

func errDenied() error {
	return maaerr.Wrap(ErrNotAuthorized, maaerr.PolicyEvaluationError, MsgDenyIssued)
}
func errNoPermit() error {
	return maaerr.Wrap(ErrNotAuthorized, maaerr.PolicyEvaluationError, MsgNoPermit)
}
