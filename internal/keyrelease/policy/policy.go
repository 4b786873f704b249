// Package policy parses and evaluates secure key release policies in Azure
// Key Vault's documented release-policy format (versions 1.0.0 and 1.0.2):
// a policy is an anyOf list of authorities (token issuers), each with an
// allOf or anyOf tree of claim conditions (equals, notEquals, less,
// lessOrEquals, greater, greaterOrEquals, exists). A user writes the policy
// once and rehearses it against Maat before giving it to Azure Key Vault.
//
// Parsing checks structure only; [Policy.Evaluate] decides a release from a
// token's issuer and claims, which the caller must have validated.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Bounds on untrusted policies.
const (
	// MaxPolicyBytes bounds the policy document (64 KiB).
	MaxPolicyBytes = 64 << 10
	// MaxDepth bounds condition nesting.
	MaxDepth = 16
	// MaxConditions bounds the number of conditions in one policy.
	MaxConditions = 1024
)

// Versions are the release-policy versions accepted.
var Versions = []string{"1.0.0", "1.0.2"}

// Operator is a claim comparison.
type Operator string

// The operators of the release-policy grammar.
const (
	Equals          Operator = "equals"
	NotEquals       Operator = "notEquals"
	Less            Operator = "less"
	LessOrEquals    Operator = "lessOrEquals"
	Greater         Operator = "greater"
	GreaterOrEquals Operator = "greaterOrEquals"
	Exists          Operator = "exists"
)

var operators = []Operator{Equals, NotEquals, Less, LessOrEquals, Greater, GreaterOrEquals, Exists}

// Condition is a claim condition (Claim set) or an anyOf / allOf list.
type Condition struct {
	// Claim is the claim name; a name with dots that is not itself a claim
	// is a path into JSON-valued claims ("x-ms-runtime.keys").
	Claim    string
	Operator Operator
	// Value is a string, json.Number or bool.
	Value any

	// AnyOf or AllOf (exactly one of them, for a list condition).
	AnyOf, AllOf []Condition
}

// Authority is the conditions for tokens of one issuer.
type Authority struct {
	// Authority is the issuer URL ("https://sharedeus2.eus2.attest.azure.net").
	Authority string
	// Condition is an anyOf or allOf list.
	Condition Condition
}

// Policy is a parsed release policy.
type Policy struct {
	Version     string
	Authorities []Authority
}

type parser struct {
	conditions int
}

func parseErr(path, format string, args ...any) error {
	return maaerr.New(maaerr.InvalidParameter, "The key release policy is invalid at %s: %s.", path, fmt.Sprintf(format, args...))
}

// Parse parses a release policy. Member names are matched
// case-insensitively (the documented grammar writes "anyof", its examples
// "anyOf"); a member given twice, in any case, is refused. It returns an
// InvalidParameter *maaerr.Error naming the place that is wrong (for
// example "anyOf[0].allOf[2]") for a policy over [MaxPolicyBytes], invalid
// JSON, an unknown version or member, a condition with no or two operators,
// an empty list, or nesting deeper than [MaxDepth].
func Parse(doc []byte) (*Policy, error) {
	if len(doc) > MaxPolicyBytes {
		return nil, maaerr.New(maaerr.InvalidParameter, "The key release policy is %d bytes, longer than %d.", len(doc), MaxPolicyBytes)
	}
	// One strict pass (duplicates in any case; a JSON depth bound loose
	// enough that MaxDepth is reported with its path), then one decode and
	// a walk of the tree.
	if err := jsonstrict.Check(doc, true, 4*MaxDepth+8); err != nil {
		return nil, parseErr("the top level", "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, parseErr("the top level", "%v", err)
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, parseErr("the top level", "not a JSON object (want {\"version\": \"1.0.0\", \"anyOf\": [...]})")
	}
	p := &Policy{}
	var pr parser
	for name, v := range obj {
		switch {
		case strings.EqualFold(name, "version"):
			s, ok := v.(string)
			if !ok {
				return nil, parseErr("version", "want a string")
			}
			p.Version = s
		case strings.EqualFold(name, "anyOf"):
			items, ok := v.([]any)
			if !ok || len(items) == 0 {
				return nil, parseErr("anyOf", "want a non-empty array of authorities")
			}
			for i, it := range items {
				a, err := pr.authority(it, fmt.Sprintf("anyOf[%d]", i))
				if err != nil {
					return nil, err
				}
				p.Authorities = append(p.Authorities, a)
			}
		case strings.EqualFold(name, "allOf"):
			return nil, parseErr("allOf", "a policy's top level is an anyOf list of authorities")
		default:
			return nil, parseErr(name, "unknown member (want version and anyOf)")
		}
	}
	known := false
	for _, v := range Versions {
		known = known || p.Version == v
	}
	if !known {
		return nil, parseErr("version", "got %q, want one of %s", p.Version, strings.Join(Versions, ", "))
	}
	if len(p.Authorities) == 0 {
		return nil, parseErr("anyOf", "missing: a policy needs at least one authority")
	}
	return p, nil
}

func (pr *parser) authority(v any, path string) (Authority, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return Authority{}, parseErr(path, "not a JSON object (want {\"authority\": URL, \"allOf\" or \"anyOf\": [...]})")
	}
	var a Authority
	lists := 0
	for name, m := range obj {
		switch {
		case strings.EqualFold(name, "authority"):
			s, ok := m.(string)
			if !ok || s == "" {
				return Authority{}, parseErr(path+".authority", "want the issuer URL as a non-empty string")
			}
			a.Authority = s
		case strings.EqualFold(name, "anyOf"), strings.EqualFold(name, "allOf"):
			lists++
			c, err := pr.list(name, m, path+"."+name, 1)
			if err != nil {
				return Authority{}, err
			}
			a.Condition = c
		default:
			return Authority{}, parseErr(path+"."+name, "unknown member (want authority and allOf or anyOf)")
		}
	}
	switch {
	case lists != 1:
		return Authority{}, parseErr(path, "want exactly one of allOf and anyOf, got %d", lists)
	case a.Authority == "":
		return Authority{}, parseErr(path, "missing \"authority\" (the issuer URL of the tokens these conditions apply to)")
	}
	return a, nil
}

func (pr *parser) list(name string, v any, path string, depth int) (Condition, error) {
	if depth > MaxDepth {
		return Condition{}, parseErr(path, "nested deeper than %d", MaxDepth)
	}
	items, ok := v.([]any)
	if !ok || len(items) == 0 {
		return Condition{}, parseErr(path, "want a non-empty array of conditions")
	}
	out := make([]Condition, 0, len(items))
	for i, it := range items {
		c, err := pr.condition(it, fmt.Sprintf("%s[%d]", path, i), depth)
		if err != nil {
			return Condition{}, err
		}
		out = append(out, c)
	}
	if strings.EqualFold(name, "anyOf") {
		return Condition{AnyOf: out}, nil
	}
	return Condition{AllOf: out}, nil
}

func (pr *parser) condition(v any, path string, depth int) (Condition, error) {
	if pr.conditions++; pr.conditions > MaxConditions {
		return Condition{}, parseErr(path, "more than %d conditions", MaxConditions)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Condition{}, parseErr(path, "not a JSON object (want {\"claim\": name, \"equals\": value} or an anyOf/allOf list)")
	}
	if len(obj) == 1 {
		for name, m := range obj {
			if strings.EqualFold(name, "anyOf") || strings.EqualFold(name, "allOf") {
				return pr.list(name, m, path+"."+name, depth+1)
			}
		}
	}
	// Sorted, so that an error names the same member every time.
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	var c Condition
	hasClaim := false
	for _, name := range names {
		m := obj[name]
		if strings.EqualFold(name, "claim") {
			s, ok := m.(string)
			if !ok || s == "" {
				return Condition{}, parseErr(path+".claim", "want the claim name as a non-empty string")
			}
			c.Claim, hasClaim = s, true
			continue
		}
		op, ok := operator(name)
		if !ok {
			if strings.EqualFold(name, "anyOf") || strings.EqualFold(name, "allOf") {
				return Condition{}, parseErr(path+"."+name, "a list condition has no other members")
			}
			return Condition{}, parseErr(path+"."+name, "unknown member (want claim and one of %s)", opNames())
		}
		if c.Operator != "" {
			return Condition{}, parseErr(path, "two operators (%s and %s); use allOf to combine conditions", c.Operator, op)
		}
		switch m.(type) {
		case string, json.Number, bool:
		default:
			return Condition{}, parseErr(path+"."+name, "want a string, number or boolean, got %s", show(m))
		}
		if _, isBool := m.(bool); op == Exists && !isBool {
			return Condition{}, parseErr(path+".exists", "want true or false")
		}
		if _, isNum := m.(json.Number); (op == Less || op == LessOrEquals || op == Greater || op == GreaterOrEquals) && !isNum {
			return Condition{}, parseErr(path+"."+name, "want a number")
		}
		c.Operator, c.Value = op, m
	}
	switch {
	case !hasClaim:
		return Condition{}, parseErr(path, "missing \"claim\"")
	case c.Operator == "":
		return Condition{}, parseErr(path, "no operator (want one of %s)", opNames())
	}
	return c, nil
}

func operator(name string) (Operator, bool) {
	for _, o := range operators {
		if strings.EqualFold(name, string(o)) {
			return o, true
		}
	}
	return "", false
}

func opNames() string {
	s := make([]string, len(operators))
	for i, o := range operators {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// Decision is the outcome of [Policy.Evaluate].
type Decision struct {
	// Release reports whether the key may be released.
	Release bool
	// Authority is the policy authority the token's issuer matched ("" if
	// none).
	Authority string
	// Reason says why the key is not released (empty when it is).
	Reason string
}

// Evaluate decides a release for a token from issuer with claims (decoded
// JSON: string, float64 or json.Number, bool, maps and slices). Only the
// authorities equal to issuer (ignoring case and a trailing slash) are
// evaluated; the key is released if one of them is satisfied. A condition
// on a claim the token does not carry is false (exists:false is true). The
// caller must have validated the token: Evaluate trusts issuer and claims.
func (p *Policy) Evaluate(issuer string, claims map[string]any) Decision {
	iss := normalizeAuthority(issuer)
	var reasons []string
	matched := ""
	for _, a := range p.Authorities {
		if normalizeAuthority(a.Authority) != iss {
			continue
		}
		matched = a.Authority
		ok, why := eval(a.Condition, claims)
		if ok {
			return Decision{Release: true, Authority: a.Authority}
		}
		reasons = append(reasons, why)
	}
	if matched == "" {
		names := make([]string, len(p.Authorities))
		for i, a := range p.Authorities {
			names[i] = a.Authority
		}
		return Decision{Reason: fmt.Sprintf("the token's issuer %q is not an authority of the release policy (authorities: %s)", issuer, strings.Join(names, ", "))}
	}
	return Decision{Authority: matched, Reason: strings.Join(reasons, "; ")}
}

func normalizeAuthority(s string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
}

func eval(c Condition, claims map[string]any) (bool, string) {
	switch {
	case c.AllOf != nil:
		for _, sub := range c.AllOf {
			if ok, why := eval(sub, claims); !ok {
				return false, why
			}
		}
		return true, ""
	case c.AnyOf != nil:
		whys := make([]string, 0, len(c.AnyOf))
		for _, sub := range c.AnyOf {
			ok, why := eval(sub, claims)
			if ok {
				return true, ""
			}
			whys = append(whys, why)
		}
		return false, "none of anyOf holds (" + strings.Join(whys, "; ") + ")"
	}
	v, present := lookup(claims, c.Claim)
	if c.Operator == Exists {
		want := c.Value.(bool)
		if present == want {
			return true, ""
		}
		if want {
			return false, fmt.Sprintf("claim %s is missing", c.Claim)
		}
		return false, fmt.Sprintf("claim %s is present, the policy requires it absent", c.Claim)
	}
	if !present {
		return false, fmt.Sprintf("claim %s is missing (the policy requires it %s %s)", c.Claim, c.Operator, show(c.Value))
	}
	ok := compare(c.Operator, v, c.Value)
	if ok {
		return true, ""
	}
	return false, fmt.Sprintf("claim %s is %s, the policy requires %s %s", c.Claim, show(v), c.Operator, show(c.Value))
}

// lookup finds a claim by its name or, failing that, by a dotted path into
// JSON-valued claims.
func lookup(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	parts := strings.Split(name, ".")
	for i := len(parts) - 1; i >= 1; i-- {
		head := strings.Join(parts[:i], ".")
		v, ok := claims[head]
		if !ok {
			continue
		}
		for _, p := range parts[i:] {
			m, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			if v, ok = m[p]; !ok {
				return nil, false
			}
		}
		return v, true
	}
	return nil, false
}

func compare(op Operator, got, want any) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		if !ok {
			return op == NotEquals
		}
		switch op {
		case Equals:
			return g == w
		case NotEquals:
			return g != w
		}
	case bool:
		g, ok := got.(bool)
		if !ok {
			return op == NotEquals
		}
		switch op {
		case Equals:
			return g == w
		case NotEquals:
			return g != w
		}
	case json.Number:
		wn, _ := new(big.Rat).SetString(w.String())
		gn := number(got)
		if wn == nil || gn == nil {
			return op == NotEquals
		}
		c := gn.Cmp(wn)
		switch op {
		case Equals:
			return c == 0
		case NotEquals:
			return c != 0
		case Less:
			return c < 0
		case LessOrEquals:
			return c <= 0
		case Greater:
			return c > 0
		case GreaterOrEquals:
			return c >= 0
		}
	}
	return false
}

func number(v any) *big.Rat {
	switch n := v.(type) {
	case json.Number:
		r, _ := new(big.Rat).SetString(n.String())
		return r
	case float64:
		return new(big.Rat).SetFloat64(n)
	case int:
		return new(big.Rat).SetInt64(int64(n))
	case int64:
		return new(big.Rat).SetInt64(n)
	}
	return nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
