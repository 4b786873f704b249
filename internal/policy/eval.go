package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"unsafe"
)

// Result is the outcome of evaluating a policy.
type Result struct {
	// Authorized is true when a permit() fired in authorizationrules and no
	// deny() did.
	Authorized  bool
	PermitFired bool
	DenyFired   bool
	// Claims are the issued (outgoing) claims in issuance order. A type can
	// occur more than once; ClaimsJSON renders repeats as a JSON array.
	Claims []Claim
	// Properties are the claims issued with issueproperty, in order.
	Properties []Claim
	// Steps is the number of evaluation steps used (see Limits.MaxSteps).
	Steps int
}

// ClaimsJSON returns the issued claims as a JSON-ready object: a type issued
// once maps to its value; a type issued n>1 times maps to an array of the n
// values in issuance order.
func (r *Result) ClaimsJSON() map[string]any { return claimsJSON(r.Claims) }

// PropertiesJSON renders Properties like ClaimsJSON renders Claims.
func (r *Result) PropertiesJSON() map[string]any { return claimsJSON(r.Properties) }

// Property returns the value of the last property of the given type, and
// false when no such property was issued.
func (r *Result) Property(typ string) (Value, bool) {
	for i := len(r.Properties) - 1; i >= 0; i-- {
		if r.Properties[i].Type == typ {
			return r.Properties[i].Value, true
		}
	}
	return Value{}, false
}

func claimsJSON(cs []Claim) map[string]any {
	m := make(map[string]any, len(cs))
	for _, c := range cs {
		v := c.Value.Interface()
		switch old := m[c.Type].(type) {
		case nil:
			m[c.Type] = v
		case []any:
			m[c.Type] = append(old, v)
		default:
			m[c.Type] = []any{old, v}
		}
	}
	return m
}

// Evaluate runs the policy over the incoming claims: configurationrules,
// then authorizationrules, then (when authorized) issuancerules. Claims with
// an empty Issuer count as issued by AttestationService; a claim with the
// zero Value is an error. incoming is not modified.
//
// When the policy does not authorize the request, Evaluate returns a Result
// with Authorized false (and no issued claims) together with an error that
// wraps ErrNotAuthorized and a *maaerr.Error with code PolicyEvaluationError
// and MAA's message (MsgDenyIssued or MsgNoPermit). When a rule cannot be
// evaluated, or a limit or ctx stops evaluation, it returns nil and an
// *EvalError (code PolicyEvaluationError).
func (p *Policy) Evaluate(ctx context.Context, incoming []Claim) (*Result, error) {
	lim := &p.limits // read only
	if len(incoming) > lim.MaxClaims {
		return nil, evalErr(Pos{Line: 1, Col: 1}, "%d incoming claims, more than the limit of %d", len(incoming), lim.MaxClaims)
	}
	for i := range incoming {
		if incoming[i].Value.t == 0 {
			return nil, evalErr(Pos{Line: 1, Col: 1}, "incoming claim %q has no value", incoming[i].Type)
		}
	}
	e := evaluatorPool.Get().(*evaluator)
	defer e.release()
	e.ctx, e.lim, e.res, e.base = ctx, lim, &Result{}, incoming
	e.res.Claims = make([]Claim, 0, 8)
	f := p.file
	if s := f.Section(ConfigurationRules); s != nil {
		if err := e.section(s); err != nil {
			return nil, err
		}
	}
	if err := e.section(f.Section(AuthorizationRules)); err != nil {
		return nil, err
	}
	res := e.res
	switch {
	case res.DenyFired:
		res.Claims, res.Steps = nil, e.steps
		return res, errDenied()
	case !res.PermitFired:
		res.Claims, res.Steps = nil, e.steps
		return res, errNoPermit()
	}
	res.Authorized = true
	if s := f.Section(IssuanceRules); s != nil {
		if err := e.section(s); err != nil {
			return nil, err
		}
	}
	res.Steps = e.steps
	return res, nil
}

// vset is the value of an expression: zero (an empty value, e.g. JSON null),
// one, or many values (a Set). ro marks values computed from read-only claims.
type vset struct {
	vals []Value
	ro   bool
}

type jsonKey struct {
	p *byte
	n int
}

// jsonDoc keeps the source string alive, so its address cannot be reused by
// another string while the cache entry exists.
type jsonDoc struct {
	src  string
	data any
}

type evaluator struct {
	ctx context.Context
	lim *Limits
	res *Result
	// The incoming set is base (the caller's claims, never modified) followed
	// by added (claims from add/issue/issueproperty).
	base  []Claim
	added []Claim
	steps int

	bind [][]int32 // per identifier slot: indexes into claims
	idx  []int32   // arena for bind
	vals []Value   // arena for expression values, reset per rule

	jsonCache map[jsonKey]jsonDoc // decoded JSON documents, by string identity
	jpCache   map[string]compiledQuery
}

// evaluatorPool recycles the per-evaluation scratch state (a *Policy stays
// immutable: nothing of an evaluation is kept in it).
var evaluatorPool = sync.Pool{New: func() any { return new(evaluator) }}

// release clears every reference to the evaluation's data and returns e to
// the pool.
func (e *evaluator) release() {
	clear(e.added)
	clear(e.vals[:cap(e.vals)])
	clear(e.bind[:cap(e.bind)])
	*e = evaluator{added: e.added[:0], vals: e.vals[:0], idx: e.idx[:0], bind: e.bind[:0]}
	// Do not keep large buffers alive between evaluations.
	if cap(e.added) > 256 || cap(e.vals) > 1024 || cap(e.idx) > 1024 {
		return
	}
	evaluatorPool.Put(e)
}

func (e *evaluator) nclaims() int { return len(e.base) + len(e.added) }

// claim returns the i-th claim of the incoming set.
func (e *evaluator) claim(i int) *Claim {
	if i < len(e.base) {
		return &e.base[i]
	}
	return &e.added[i-len(e.base)]
}

// issuerOf returns the claim's issuer; incoming claims without one are
// AttestationService's.
func issuerOf(c *Claim) string {
	if c.Issuer == "" {
		return IssuerService
	}
	return c.Issuer
}

func (e *evaluator) step(p Pos, n int) error {
	e.steps += n
	if e.steps > e.lim.MaxSteps {
		return evalErr(p, "evaluation exceeded the limit of %d steps", e.lim.MaxSteps)
	}
	return nil
}

func (e *evaluator) section(s *Section) error {
	for _, r := range s.Rules {
		if err := e.ctx.Err(); err != nil {
			return &EvalError{Pos: r.Pos, Msg: "evaluation stopped: " + err.Error(), Err: err}
		}
		fired, err := e.rule(r)
		if err != nil {
			return err
		}
		if fired && r.Action.Kind == ActDeny {
			// A deny is final: later authorization rules cannot undo it.
			return nil
		}
	}
	return nil
}

func (e *evaluator) rule(r *Rule) (bool, error) {
	e.vals = e.vals[:0]
	e.idx = e.idx[:0]
	if cap(e.bind) < r.nslots {
		e.bind = make([][]int32, r.nslots)
	}
	e.bind = e.bind[:r.nslots]
	for _, c := range r.Conditions {
		ok, err := e.condition(c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, e.action(r.Action)
}

func (e *evaluator) condition(c *Condition) (bool, error) {
	// Right-hand sides depend only on earlier bindings: evaluate them once.
	var small [4]vset
	rhs := small[:0]
	if len(c.Props) > len(small) {
		rhs = make([]vset, 0, len(c.Props))
	}
	for _, pc := range c.Props {
		v, err := e.expr(pc.Expr, 0)
		if err != nil {
			return false, err
		}
		rhs = append(rhs, v)
	}
	n := e.nclaims()
	if err := e.step(c.Pos, n+1); err != nil {
		return false, err
	}
	start := len(e.idx)
	matched := false
	for i := 0; i < n; i++ {
		if !claimMatches(e.claim(i), c.Props, rhs) {
			continue
		}
		matched = true
		if c.slot < 0 {
			break
		}
		e.idx = append(e.idx, int32(i))
	}
	if c.slot >= 0 {
		e.bind[c.slot] = e.idx[start:len(e.idx):len(e.idx)]
	}
	return matched != c.Negated, nil
}

func claimMatches(cl *Claim, props []*PropCond, rhs []vset) bool {
	for i, pc := range props {
		var have Value
		switch pc.Prop {
		case PropType:
			have = String(cl.Type)
		case PropIssuer:
			have = String(issuerOf(cl))
		case PropValueType:
			have = String(cl.Value.t.String())
		case PropValue:
			have = cl.Value
		}
		if !compare(have, pc.Op, rhs[i].vals) {
			return false
		}
	}
	return true
}

// compare applies op between have and a set of values: == holds when have
// equals some value, != when it equals none, and the ordering operators when
// have and some value are both Integers in that order.
func compare(have Value, op Op, want []Value) bool {
	switch op {
	case OpEq, OpNe:
		eq := false
		for _, w := range want {
			if have.Equal(w) {
				eq = true
				break
			}
		}
		return eq == (op == OpEq)
	}
	if have.t != TypeInteger {
		return false
	}
	for _, w := range want {
		if w.t != TypeInteger {
			continue
		}
		var ok bool
		switch op {
		case OpLt:
			ok = have.i < w.i
		case OpLe:
			ok = have.i <= w.i
		case OpGt:
			ok = have.i > w.i
		case OpGe:
			ok = have.i >= w.i
		}
		if ok {
			return true
		}
	}
	return false
}

func (e *evaluator) push(v Value) []Value {
	start := len(e.vals)
	e.vals = append(e.vals, v)
	return e.vals[start:len(e.vals):len(e.vals)]
}

func (e *evaluator) expr(x Expr, depth int) (vset, error) {
	switch x := x.(type) {
	case *StringLit:
		return vset{vals: e.push(String(x.Value))}, nil
	case *IntLit:
		return vset{vals: e.push(Integer(x.Value))}, nil
	case *BoolLit:
		return vset{vals: e.push(Boolean(x.Value))}, nil
	case *Ref:
		start := len(e.vals)
		ro := false
		for _, i := range e.bind[x.slot] {
			cl := e.claim(int(i))
			ro = ro || cl.ReadOnly
			switch x.Prop {
			case PropType:
				e.vals = append(e.vals, String(cl.Type))
			case PropIssuer:
				e.vals = append(e.vals, String(issuerOf(cl)))
			case PropValueType:
				e.vals = append(e.vals, String(cl.Value.t.String()))
			case PropValue:
				e.vals = append(e.vals, cl.Value)
			}
		}
		return vset{vals: e.vals[start:len(e.vals):len(e.vals)], ro: ro}, nil
	case *Call:
		return e.call(x, depth)
	}
	return vset{}, fmt.Errorf("policy: unknown expression %T", x)
}

func (e *evaluator) call(c *Call, depth int) (vset, error) {
	if err := e.step(c.Pos, 1); err != nil {
		return vset{}, err
	}
	var small [2]vset
	args := small[:0]
	ro := false
	for i, a := range c.Args {
		v, err := e.expr(a, depth+1)
		if err != nil {
			return vset{}, err
		}
		switch c.fn.args[i] {
		case argString, argBool, argAny:
			if len(v.vals) != 1 {
				what := "no value"
				if len(v.vals) > 1 {
					what = fmt.Sprintf("a set of %d values", len(v.vals))
				}
				return vset{}, evalErr(a.Position(), "argument %d of %s must be a single value, found %s", i+1, c.Name, what)
			}
			if want := c.fn.args[i].valueType(); want != 0 && v.vals[0].t != want {
				return vset{}, evalErr(a.Position(), "argument %d of %s must be a %s, found %s %s", i+1, c.Name, want, v.vals[0].t, clip(v.vals[0].String(), 60))
			}
		}
		ro = ro || v.ro
		args = append(args, v)
	}
	if !c.fn.propagatesReadOnly {
		ro = false
	}
	switch c.Name {
	case "JmesPath":
		doc, query := args[0].vals[0].s, args[1].vals[0].s
		s, err := e.jmesPath(c, doc, query)
		if err != nil {
			return vset{}, err
		}
		return vset{vals: e.push(String(s)), ro: ro}, nil
	case "JsonToClaimValue":
		doc := args[0].vals[0].s
		if err := checkJSONShape(doc, e.lim.MaxJSONBytes, e.lim.MaxJSONDepth); err != nil {
			return vset{}, evalErr(c.Pos, "JsonToClaimValue: %v", err)
		}
		start := len(e.vals)
		var err error
		e.vals, err = jsonToValues(doc, e.vals)
		if err != nil {
			e.vals = e.vals[:start]
			return vset{}, evalErr(c.Pos, "JsonToClaimValue: %v", err)
		}
		return vset{vals: e.vals[start:len(e.vals):len(e.vals)], ro: ro}, nil
	case "IsSubsetOf":
		sub, super := args[0].vals, args[1].vals
		if err := e.step(c.Pos, len(sub)*len(super)); err != nil {
			return vset{}, err
		}
		for _, a := range sub {
			found := false
			for _, b := range super {
				if a.Equal(b) {
					found = true
					break
				}
			}
			if !found {
				return vset{vals: e.push(Boolean(false))}, nil
			}
		}
		return vset{vals: e.push(Boolean(true))}, nil
	case "AppendString":
		a, b := args[0].vals[0].s, args[1].vals[0].s
		if len(a)+len(b) > e.lim.MaxValueLen {
			return vset{}, evalErr(c.Pos, "AppendString: result would be %d bytes, more than the limit of %d", len(a)+len(b), e.lim.MaxValueLen)
		}
		return vset{vals: e.push(String(a + b)), ro: ro}, nil
	case "NegateBool":
		return vset{vals: e.push(Boolean(!args[0].vals[0].b)), ro: ro}, nil
	case "ContainsOnlyValue":
		set, v := args[0].vals, args[1].vals[0]
		ok := len(set) > 0
		for _, x := range set {
			if !x.Equal(v) {
				ok = false
				break
			}
		}
		return vset{vals: e.push(Boolean(ok))}, nil
	}
	return vset{}, evalErr(c.Pos, "unknown function %s", c.Name)
}

func (e *evaluator) jmesPath(c *Call, doc, query string) (string, error) {
	if doc == "" {
		return "", evalErr(c.Args[0].Position(), "JmesPath: the JSON argument is empty")
	}
	if query == "" {
		return "", evalErr(c.Args[1].Position(), "JmesPath: the query argument is empty")
	}
	var q compiledQuery
	if c.query != nil {
		q = *c.query
	} else {
		if len(query) > e.lim.MaxQueryLen {
			return "", evalErr(c.Args[1].Position(), "JmesPath: the query is %d bytes, more than the limit of %d", len(query), e.lim.MaxQueryLen)
		}
		var ok bool
		if q, ok = e.jpCache[query]; !ok {
			var err error
			if q, err = compileJMESPath(query); err != nil {
				return "", &EvalError{Pos: c.Args[1].Position(), Msg: "JmesPath: invalid query: " + err.Error(), Err: err}
			}
			if e.jpCache == nil {
				e.jpCache = map[string]compiledQuery{}
			}
			e.jpCache[query] = q
		}
	}
	key := jsonKey{unsafe.StringData(doc), len(doc)}
	cached, ok := e.jsonCache[key]
	data := cached.data
	if !ok {
		if err := checkJSONShape(doc, e.lim.MaxJSONBytes, e.lim.MaxJSONDepth); err != nil {
			return "", evalErr(c.Args[0].Position(), "JmesPath: %v", err)
		}
		if err := json.Unmarshal([]byte(doc), &data); err != nil {
			return "", &EvalError{Pos: c.Args[0].Position(), Msg: "JmesPath: the first argument is not valid JSON: " + err.Error(), Err: err}
		}
		if e.jsonCache == nil {
			e.jsonCache = map[jsonKey]jsonDoc{}
		}
		e.jsonCache[key] = jsonDoc{src: doc, data: data}
	}
	// Charge the query's shape times the document's size (see compiledQuery.cost).
	if err := e.step(c.Pos, satMul(1+len(doc)/1024, q.cost)); err != nil {
		return "", err
	}
	out, err := search(q.jp, data)
	if err != nil {
		return "", &EvalError{Pos: c.Pos, Msg: "JmesPath: " + err.Error(), Err: err}
	}
	s, err := marshalJSON(out)
	if err != nil {
		return "", &EvalError{Pos: c.Pos, Msg: "JmesPath: result cannot be rendered as JSON: " + err.Error(), Err: err}
	}
	if len(s) > e.lim.MaxValueLen {
		return "", evalErr(c.Pos, "JmesPath: result is %d bytes, more than the limit of %d", len(s), e.lim.MaxValueLen)
	}
	return s, nil
}

// search runs a compiled query, turning a panic inside the JMESPath library
// into an error.
func search(jp interface{ Search(any) (any, error) }, data any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("query failed: %v", r)
		}
	}()
	return jp.Search(data)
}

func (e *evaluator) addIncoming(p Pos, c Claim) error {
	if e.nclaims() >= e.lim.MaxClaims {
		return evalErr(p, "the incoming claim set would exceed the limit of %d claims", e.lim.MaxClaims)
	}
	e.added = append(e.added, c)
	return nil
}

func (e *evaluator) action(a *Action) error {
	switch a.Kind {
	case ActPermit:
		e.res.PermitFired = true
		return nil
	case ActDeny:
		e.res.DenyFired = true
		return nil
	}
	if a.Claim != "" {
		// Copy first: adding claims may reallocate e.added.
		idx := e.bind[a.claimSlot]
		for _, i := range idx {
			c := *e.claim(int(i))
			c.Issuer = issuerOf(&c)
			if err := e.emit(a, c, c.ReadOnly, a.Kind != ActIssue); err != nil {
				return err
			}
		}
		return nil
	}
	tv, err := e.expr(a.Type, 0)
	if err != nil {
		return err
	}
	if len(tv.vals) != 1 || tv.vals[0].t != TypeString {
		return evalErr(a.Type.Position(), "type= must evaluate to a single string, found %d value(s)", len(tv.vals))
	}
	typ := tv.vals[0].s
	vv, err := e.expr(a.Value, 0)
	if err != nil {
		return err
	}
	// An empty value (JsonToClaimValue of null) makes the action a no-op;
	// a Set adds one claim per element.
	for _, v := range vv.vals {
		c := Claim{Type: typ, Value: v, Issuer: IssuerPolicy, ReadOnly: vv.ro}
		if err := e.emit(a, c, vv.ro, true); err != nil {
			return err
		}
	}
	return nil
}

// emit records a claim produced by add/issue/issueproperty. toIncoming is
// false for issue(claim=c), whose claims are already in the incoming set.
func (e *evaluator) emit(a *Action, c Claim, ro, toIncoming bool) error {
	if err := e.step(a.Pos, 1); err != nil {
		return err
	}
	if ro && a.Kind != ActAdd {
		return evalErr(a.Pos, "%s: claim %q is derived from a read-only claim and cannot be issued", a.Kind, c.Type)
	}
	if toIncoming {
		if err := e.addIncoming(a.Pos, c); err != nil {
			return err
		}
	}
	switch a.Kind {
	case ActIssue:
		if len(e.res.Claims) >= e.lim.MaxClaims {
			return evalErr(a.Pos, "more than %d claims issued", e.lim.MaxClaims)
		}
		c.ReadOnly = false
		e.res.Claims = append(e.res.Claims, c)
	case ActIssueProperty:
		if len(e.res.Properties) >= e.lim.MaxClaims {
			return evalErr(a.Pos, "more than %d properties issued", e.lim.MaxClaims)
		}
		c.ReadOnly = false
		e.res.Properties = append(e.res.Properties, c)
	}
	return nil
}
