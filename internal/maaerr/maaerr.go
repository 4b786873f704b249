// Package maaerr defines Maat's one domain error type. Every layer returns
// *Error (or wraps one with %w); the HTTP edge renders it once as MAA's error
// envelope {"error":{"code","message"}} with the matching status code (httpapi
// owns the code → status table), and the
// CLI prints its message. Codes are stable: clients of MAA branch on them.
package maaerr

import (
	"errors"
	"fmt"
)

// Code is an MAA error code as it appears in the "code" member of the error
// envelope and in the x-ms-error-code header.
type Code string

// The codes MAA documents or was observed to return, plus the generic ones a
// server needs (NotFound, MethodNotAllowed, Conflict, ServiceUnavailable, Internal).
const (
	InvalidParameter      Code = "InvalidParameter"
	InvalidQuote          Code = "InvalidQuote"
	InvalidOperation      Code = "InvalidOperation"
	PolicyEvaluationError Code = "PolicyEvaluationError"
	PolicyParsingError    Code = "PolicyParsingError"
	Unauthorized          Code = "Unauthorized"
	Forbidden             Code = "Forbidden"
	NotFound              Code = "NotFound"
	MethodNotAllowed      Code = "MethodNotAllowed"
	Conflict              Code = "Conflict"
	PayloadTooLarge       Code = "PayloadTooLarge"
	UnsupportedMediaType  Code = "UnsupportedMediaType"
	ServiceUnavailable    Code = "ServiceUnavailable"
	Internal              Code = "InternalError"
)

// Error is a domain error: a stable Code, a message safe to show to the
// caller, and an optional wrapped cause that is logged but never sent.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// New returns an *Error with the given code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message that wraps cause.
// The cause's text is not part of Message; it is reachable through Unwrap
// for logging and errors.Is/As.
func Wrap(cause error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the wrapped cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, &maaerr.Error{Code: maaerr.NotFound}) or use the
// sentinels below.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is checks by code.
var (
	ErrNotFound           = &Error{Code: NotFound}
	ErrConflict           = &Error{Code: Conflict}
	ErrInvalidParameter   = &Error{Code: InvalidParameter}
	ErrUnauthorized       = &Error{Code: Unauthorized}
	ErrServiceUnavailable = &Error{Code: ServiceUnavailable}
)

// As returns the *Error in err's chain, or an Internal error wrapping err when
// there is none. It returns nil for a nil err.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Err: err}
}
