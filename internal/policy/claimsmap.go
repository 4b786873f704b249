package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/maat-attest/maat/internal/jsonenc"
)

// IncomingClaims converts verified claims (claim type → Go value) into the
// policy engine's incoming claims: the one conversion every attestation type
// uses. Claims come out in claim-type order so evaluation is deterministic.
// bool, string and integer values become Boolean, String and Integer claims
// (a float64 or json.Number only when it is integral); any other value
// (objects, arrays) becomes a JSON-valued claim holding its compact JSON
// text. issuer is the claims' issuer ("" means IssuerService); types listed
// in readOnly are marked ReadOnly. It returns an error naming the claim whose
// value cannot be represented.
func IncomingClaims(m map[string]any, issuer string, readOnly []string) ([]Claim, error) {
	if issuer == "" {
		issuer = IssuerService
	}
	types := make([]string, 0, len(m))
	for k := range m {
		types = append(types, k)
	}
	slices.Sort(types)
	out := make([]Claim, 0, len(types))
	for _, k := range types {
		v, err := valueOf(m[k])
		if err != nil {
			return nil, fmt.Errorf("claim %q: %w", k, err)
		}
		out = append(out, Claim{Type: k, Value: v, Issuer: issuer, ReadOnly: len(readOnly) > 0 && slices.Contains(readOnly, k)})
	}
	return out, nil
}

func valueOf(x any) (Value, error) {
	switch x := x.(type) {
	case bool:
		return Boolean(x), nil
	case string:
		return String(x), nil
	case int:
		return Integer(int64(x)), nil
	case int64:
		return Integer(x), nil
	case int32:
		return Integer(int64(x)), nil
	case uint8:
		return Integer(int64(x)), nil
	case uint16:
		return Integer(int64(x)), nil
	case uint32:
		return Integer(int64(x)), nil
	case uint64:
		if x > math.MaxInt64 {
			return Value{}, fmt.Errorf("integer %d out of range", x)
		}
		return Integer(int64(x)), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return Value{}, fmt.Errorf("number %v is not an integer", x)
		}
		return Integer(int64(x)), nil
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return Value{}, fmt.Errorf("number %s is not an integer", x)
		}
		return Integer(n), nil
	case nil:
		return Value{}, fmt.Errorf("null value")
	}
	// jsonenc produces json.Marshal's bytes without its reflection.
	b, err := jsonenc.Append(nil, x)
	if err != nil {
		return Value{}, err
	}
	return String(string(b)), nil
}

// Configuration evaluates only the policy's configurationrules, with no
// incoming claims, and returns the properties they set (the last value of
// each type wins): bool, int64 or string values. Configuration decides how
// evidence is verified, so it runs before verification. A policy without
// configurationrules returns nil. On an evaluation error it returns nil and
// an *EvalError.
func (p *Policy) Configuration(ctx context.Context) (map[string]any, error) {
	s := p.file.Section(ConfigurationRules)
	if s == nil {
		return nil, nil
	}
	e := evaluatorPool.Get().(*evaluator)
	defer e.release()
	e.ctx, e.lim, e.res, e.base = ctx, &p.limits, &Result{}, nil
	if err := e.section(s); err != nil {
		return nil, err
	}
	if len(e.res.Properties) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(e.res.Properties))
	for _, c := range e.res.Properties {
		out[c.Type] = c.Value.Interface()
	}
	return out, nil
}
