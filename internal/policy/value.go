package policy

import (
	"strconv"
)

// ValueType is the type of a claim value.
type ValueType uint8

// Claim value types. JSON-valued claims (TPM "events", "pcrs", ...) are
// String claims whose value is the JSON text, as MAA's documentation says.
const (
	TypeString ValueType = iota + 1
	TypeInteger
	TypeBoolean
)

// String returns "String", "Integer" or "Boolean" (the valueType names).
func (t ValueType) String() string {
	switch t {
	case TypeString:
		return "String"
	case TypeInteger:
		return "Integer"
	case TypeBoolean:
		return "Boolean"
	}
	return "invalid"
}

// parseValueType parses "String", "Integer" or "Boolean" (exact case).
func parseValueType(s string) (ValueType, bool) {
	switch s {
	case "String":
		return TypeString, true
	case "Integer":
		return TypeInteger, true
	case "Boolean":
		return TypeBoolean, true
	}
	return 0, false
}

// ParseValueType parses "String", "Integer" or "Boolean" (exact case). It
// returns false for anything else.
func ParseValueType(s string) (ValueType, bool) { return parseValueType(s) }

// Value is an immutable claim value: a String, a 64-bit Integer or a Boolean.
// The zero Value is invalid (Type returns 0).
type Value struct {
	t ValueType
	b bool
	i int64
	s string
}

// String returns a String value.
func String(s string) Value { return Value{t: TypeString, s: s} }

// Integer returns an Integer value.
func Integer(i int64) Value { return Value{t: TypeInteger, i: i} }

// Boolean returns a Boolean value.
func Boolean(b bool) Value { return Value{t: TypeBoolean, b: b} }

// Type returns the value's type, or 0 for the zero Value.
func (v Value) Type() ValueType { return v.t }

// Str returns the string and true for a String value, "" and false otherwise.
func (v Value) Str() (string, bool) { return v.s, v.t == TypeString }

// Int returns the integer and true for an Integer value, 0 and false otherwise.
func (v Value) Int() (int64, bool) { return v.i, v.t == TypeInteger }

// Bool returns the boolean and true for a Boolean value, false and false otherwise.
func (v Value) Bool() (bool, bool) { return v.b, v.t == TypeBoolean }

// Interface returns the value as string, int64 or bool (nil for the zero Value).
func (v Value) Interface() any {
	switch v.t {
	case TypeString:
		return v.s
	case TypeInteger:
		return v.i
	case TypeBoolean:
		return v.b
	}
	return nil
}

// String renders the value as a policy literal would: "text", 42, true.
func (v Value) String() string {
	switch v.t {
	case TypeString:
		return strconv.Quote(v.s)
	case TypeInteger:
		return strconv.FormatInt(v.i, 10)
	case TypeBoolean:
		return strconv.FormatBool(v.b)
	}
	return "<invalid>"
}

// Equal reports whether v and w have the same type and value.
func (v Value) Equal(w Value) bool {
	if v.t != w.t {
		return false
	}
	switch v.t {
	case TypeString:
		return v.s == w.s
	case TypeInteger:
		return v.i == w.i
	case TypeBoolean:
		return v.b == w.b
	}
	return true
}

// Issuers of claims.
const (
	IssuerService = "AttestationService" // claims the service derived from verified evidence
	IssuerPolicy  = "AttestationPolicy"  // claims added or issued by the policy
	IssuerCustom  = "CustomClaim"        // claims supplied by the attester
)

// Claim is one claim: a type, a value and its issuer. ReadOnly marks claims
// whose values must not reach the token (MAA's "pcrs"): values computed from
// them cannot be issued.
type Claim struct {
	Type     string
	Value    Value
	Issuer   string // "" means IssuerService for incoming claims
	ReadOnly bool
}

// ServiceClaim returns an incoming claim issued by AttestationService.
func ServiceClaim(typ string, v Value) Claim {
	return Claim{Type: typ, Value: v, Issuer: IssuerService}
}
