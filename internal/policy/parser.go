package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Policy is a parsed and checked policy, ready to evaluate. It is immutable
// and safe for concurrent use by multiple goroutines.
type Policy struct {
	text   string
	file   *File
	limits Limits
	hash   string // Hash(text), computed once: every token carries it
}

// Parse parses and checks policy text with DefaultLimits. On failure it
// returns nil and a *ParseError (which unwraps to a *maaerr.Error with code
// PolicyParsingError).
func Parse(text string) (*Policy, error) { return ParseWithLimits(text, Limits{}) }

// ParseWithLimits is Parse with explicit limits; zero fields of lim take their
// defaults. The limits are kept for Evaluate. On failure it returns nil and a
// *ParseError.
func ParseWithLimits(text string, lim Limits) (*Policy, error) {
	lim = lim.withDefaults()
	if len(text) > lim.MaxPolicyBytes {
		return nil, &ParseError{Line: 1, Col: 1, Msg: fmt.Sprintf("policy is %d bytes, more than the limit of %d", len(text), lim.MaxPolicyBytes)}
	}
	p := &parser{lex: newLexer(text), lim: lim}
	p.next()
	f, err := p.parseFile()
	if err != nil {
		return nil, err
	}
	return &Policy{text: text, file: f, limits: lim, hash: Hash(text)}, nil
}

// Text returns the policy text exactly as given to Parse.
func (p *Policy) Text() string { return p.text }

// Version returns the policy's language version.
func (p *Policy) Version() Version { return p.file.Version }

// AST returns the syntax tree. The tree is shared: callers must not modify it.
func (p *Policy) AST() *File { return p.file }

// Hash returns the x-ms-policy-hash of the policy text (see Hash).
func (p *Policy) Hash() string { return p.hash }

type parser struct {
	lex     *lexer
	tok     token
	lim     Limits
	version Version
	rules   int
	// per rule
	idents  map[string]int
	nesting int
}

func (p *parser) next() { p.tok = p.lex.next() }

// fail builds a ParseError at the current token.
func (p *parser) fail(expected string) *ParseError {
	if p.tok.kind == tInvalid || p.tok.kind == tBadToken {
		return newParseError(p.tok.pos, p.tok.text, expected, p.tok.err)
	}
	return newParseError(p.tok.pos, p.tok.describe(), expected, "")
}

func (p *parser) expect(k tokKind, expected string) (token, error) {
	if p.tok.kind != k {
		return token{}, p.fail(expected)
	}
	t := p.tok
	p.next()
	return t, nil
}

func (p *parser) parseFile() (*File, error) {
	f := &File{}
	// version=M.m;
	if p.tok.kind != tIdent || p.tok.text != "version" {
		return nil, p.fail(`"version"`)
	}
	f.VersionPos = p.tok.pos
	p.next()
	if _, err := p.expect(tAssign, `"="`); err != nil {
		return nil, err
	}
	maj, err := p.expect(tInt, "version number (1.0, 1.1 or 1.2)")
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tDot || p.tok.pos.Offset != maj.end {
		return nil, p.fail(`"." of a version number such as 1.0`)
	}
	p.next()
	if p.tok.kind != tInt || p.tok.pos.Offset != maj.end+1 {
		return nil, p.fail("minor version number")
	}
	min := p.tok
	p.next()
	f.Version = Version{int(maj.num), int(min.num)}
	switch f.Version {
	case Version{1, 0}, Version{1, 1}, Version{1, 2}:
	default:
		return nil, newParseError(maj.pos, maj.text+"."+min.text, "1.0, 1.1 or 1.2",
			fmt.Sprintf("unsupported policy version %s.%s (supported: 1.0, 1.1, 1.2)", maj.text, min.text))
	}
	p.version = f.Version
	if _, err := p.expect(tSemi, `";" after the version`); err != nil {
		return nil, err
	}

	last := SectionKind(0)
	for p.tok.kind != tEOF {
		if p.tok.kind != tIdent {
			return nil, p.fail(sectionExpectation(last))
		}
		kind := sectionKind(p.tok.text)
		if kind == 0 {
			return nil, p.fail(sectionExpectation(last))
		}
		if kind <= last {
			return nil, newParseError(p.tok.pos, strconv.Quote(p.tok.text), sectionExpectation(last),
				fmt.Sprintf("section %s is out of order or repeated (order: configurationrules, authorizationrules, issuancerules; each at most once)", kind))
		}
		if kind == ConfigurationRules && !p.version.atLeast(1, 1) {
			return nil, newParseError(p.tok.pos, strconv.Quote(p.tok.text), "",
				fmt.Sprintf("configurationrules requires policy version 1.1 or later (this policy is version %s)", p.version))
		}
		if kind == IssuanceRules && last < AuthorizationRules {
			return nil, newParseError(p.tok.pos, strconv.Quote(p.tok.text), "authorizationrules",
				"expected authorizationrules before issuancerules (authorizationrules is required)")
		}
		sec, err := p.parseSection(kind)
		if err != nil {
			return nil, err
		}
		f.Sections = append(f.Sections, sec)
		last = kind
	}
	if last < AuthorizationRules {
		return nil, newParseError(p.tok.pos, "end of policy", "authorizationrules",
			"expected authorizationrules section (it is required), found end of policy")
	}
	return f, nil
}

func sectionExpectation(last SectionKind) string {
	switch last {
	case 0:
		return "configurationrules or authorizationrules"
	case ConfigurationRules:
		return "authorizationrules"
	case AuthorizationRules:
		return "issuancerules or end of policy"
	}
	return "end of policy"
}

// sectionKind matches section names case-insensitively (see DECISIONS.md:
// MAA's own documentation writes "Issuancerules").
func sectionKind(name string) SectionKind {
	switch strings.ToLower(name) {
	case "configurationrules":
		return ConfigurationRules
	case "authorizationrules":
		return AuthorizationRules
	case "issuancerules":
		return IssuanceRules
	}
	return 0
}

func (p *parser) parseSection(kind SectionKind) (*Section, error) {
	sec := &Section{Kind: kind, Pos: p.tok.pos}
	p.next()
	if _, err := p.expect(tLBrace, `"{" after `+kind.String()); err != nil {
		return nil, err
	}
	for p.tok.kind != tRBrace {
		if p.tok.kind == tEOF {
			return nil, p.fail(`a rule or "}" closing ` + kind.String())
		}
		r, err := p.parseRule(kind)
		if err != nil {
			return nil, err
		}
		sec.Rules = append(sec.Rules, r)
	}
	p.next()
	if _, err := p.expect(tSemi, `";" after "}" closing `+kind.String()); err != nil {
		return nil, err
	}
	return sec, nil
}

func (p *parser) parseRule(kind SectionKind) (*Rule, error) {
	p.rules++
	if p.rules > p.lim.MaxRules {
		return nil, newParseError(p.tok.pos, "", "", fmt.Sprintf("too many rules (limit %d)", p.lim.MaxRules))
	}
	r := &Rule{Pos: p.tok.pos}
	p.idents = map[string]int{}
	if p.tok.kind != tArrow {
		for {
			if len(r.Conditions) >= p.lim.MaxConditions {
				return nil, newParseError(p.tok.pos, "", "", fmt.Sprintf("too many conditions in one rule (limit %d)", p.lim.MaxConditions))
			}
			c, err := p.parseCondition()
			if err != nil {
				return nil, err
			}
			r.Conditions = append(r.Conditions, c)
			if p.tok.kind == tAnd {
				p.next()
				continue
			}
			if p.tok.kind == tArrow {
				break
			}
			if p.tok.kind == tOr {
				return nil, newParseError(p.tok.pos, `"||"`, `"&&" or "=>"`,
					`expected "&&" or "=>", found "||" (conditions can only be joined with "&&"; write alternatives as separate rules)`)
			}
			return nil, p.fail(`"&&" or "=>"`)
		}
	}
	p.next() // =>
	a, err := p.parseAction(kind)
	if err != nil {
		return nil, err
	}
	r.Action = a
	r.nslots = len(p.idents)
	if _, err := p.expect(tSemi, `";" after the rule's action`); err != nil {
		return nil, err
	}
	return r, nil
}

func (p *parser) parseCondition() (*Condition, error) {
	c := &Condition{Pos: p.tok.pos, slot: -1}
	if p.tok.kind == tNot {
		if !p.version.atLeast(1, 2) {
			return nil, newParseError(p.tok.pos, `"!"`, "",
				fmt.Sprintf(`the "!" (not) condition operator requires policy version 1.2 or later (this policy is version %s)`, p.version))
		}
		c.Negated = true
		p.next()
	}
	var identTok token
	if p.tok.kind == tIdent {
		identTok = p.tok
		p.next()
		if _, err := p.expect(tColon, `":" after identifier `+strconv.Quote(identTok.text)); err != nil {
			return nil, err
		}
		if c.Negated {
			return nil, newParseError(identTok.pos, strconv.Quote(identTok.text), "",
				fmt.Sprintf("a negated condition matches no claim, so it cannot bind identifier %q", identTok.text))
		}
		if identTok.text == "true" || identTok.text == "false" {
			return nil, newParseError(identTok.pos, strconv.Quote(identTok.text), "an identifier",
				fmt.Sprintf("%s is a literal and cannot be used as an identifier", identTok.text))
		}
	}
	if _, err := p.expect(tLBrack, `"[" starting a condition`); err != nil {
		return nil, err
	}
	for {
		pc, err := p.parsePropCond()
		if err != nil {
			return nil, err
		}
		c.Props = append(c.Props, pc)
		if p.tok.kind == tComma {
			p.next()
			continue
		}
		if p.tok.kind == tRBrack {
			p.next()
			break
		}
		return nil, p.fail(`"," or "]"`)
	}
	// The identifier is bound after its own condition: it cannot be used
	// inside it.
	if identTok.text != "" {
		if _, dup := p.idents[identTok.text]; dup {
			return nil, newParseError(identTok.pos, strconv.Quote(identTok.text), "",
				fmt.Sprintf("identifier %q is already bound in this rule", identTok.text))
		}
		c.Ident = identTok.text
		c.slot = len(p.idents)
		p.idents[identTok.text] = c.slot
	}
	return c, nil
}

func (p *parser) parsePropCond() (*PropCond, error) {
	if p.tok.kind != tIdent {
		return nil, p.fail("claim property (type, value, valueType or issuer)")
	}
	prop, ok := propNames[p.tok.text]
	if !ok {
		msg := ""
		if q, ok2 := propNames[caseFold(p.tok.text)]; ok2 {
			msg = fmt.Sprintf("unknown claim property %q (did you mean %q? property names are case-sensitive)", p.tok.text, q.String())
		}
		if msg == "" {
			msg = fmt.Sprintf("expected claim property (type, value, valueType or issuer), found %q", p.tok.text)
		}
		return nil, newParseError(p.tok.pos, strconv.Quote(p.tok.text), "claim property (type, value, valueType or issuer)", msg)
	}
	pc := &PropCond{Pos: p.tok.pos, Prop: prop}
	p.next()
	switch p.tok.kind {
	case tEq:
		pc.Op = OpEq
	case tNe:
		pc.Op = OpNe
	case tLt:
		pc.Op = OpLt
	case tLe:
		pc.Op = OpLe
	case tGt:
		pc.Op = OpGt
	case tGe:
		pc.Op = OpGe
	case tAssign:
		return nil, newParseError(p.tok.pos, `"="`, `"=="`,
			fmt.Sprintf(`expected comparison operator, found "=" (a condition compares: write %s=="…"; "=" only assigns in actions)`, prop))
	default:
		return nil, p.fail("comparison operator (==, !=, <, <=, >, >=)")
	}
	opPos := p.tok.pos
	p.next()
	e, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	pc.Expr = e
	// Static checks on literals.
	if prop != PropValue {
		if pc.Op != OpEq && pc.Op != OpNe {
			return nil, newParseError(opPos, strconv.Quote(pc.Op.String()), `"==" or "!="`,
				fmt.Sprintf("operator %s cannot compare the %s property (a string); use == or !=", pc.Op, prop))
		}
		switch lit := e.(type) {
		case *IntLit, *BoolLit:
			return nil, newParseError(e.Position(), e.String(), "string",
				fmt.Sprintf("the %s property is a string; compare it with a string literal, not %s", prop, e.String()))
		case *StringLit:
			if prop == PropValueType {
				if _, ok := parseValueType(lit.Value); !ok {
					return nil, newParseError(e.Position(), e.String(), `"String", "Integer" or "Boolean"`,
						fmt.Sprintf(`unknown valueType %s (valueType is "String", "Integer" or "Boolean")`, e.String()))
				}
			}
		}
	} else if pc.Op != OpEq && pc.Op != OpNe {
		switch e.(type) {
		case *StringLit, *BoolLit:
			return nil, newParseError(e.Position(), e.String(), "integer",
				fmt.Sprintf("operator %s compares integers, not %s", pc.Op, e.String()))
		}
	}
	return pc, nil
}

func caseFold(s string) string {
	for name := range propNames {
		if strings.EqualFold(name, s) {
			return name
		}
	}
	return ""
}

// parseExpr parses a literal, a reference ident.prop or a function call.
func (p *parser) parseExpr() (Expr, error) {
	t := p.tok
	switch t.kind {
	case tString:
		p.next()
		return &StringLit{Pos: t.pos, Value: t.text}, nil
	case tInt:
		p.next()
		return &IntLit{Pos: t.pos, Value: t.num}, nil
	case tIdent:
		p.next()
		switch t.text {
		case "true", "false":
			return &BoolLit{Pos: t.pos, Value: t.text == "true"}, nil
		}
		if p.tok.kind == tLParen {
			return p.parseCall(t)
		}
		if p.tok.kind != tDot {
			if _, ok := p.idents[t.text]; ok {
				return nil, p.fail(`"." and a claim property after identifier ` + strconv.Quote(t.text))
			}
			return nil, newParseError(t.pos, strconv.Quote(t.text), "a literal, ident.property or a function call",
				fmt.Sprintf("undefined identifier %q (identifiers are bound by an earlier condition of the same rule, as in c:[type==\"…\"])", t.text))
		}
		p.next()
		if p.tok.kind != tIdent {
			return nil, p.fail("claim property (type, value, valueType or issuer)")
		}
		prop, ok := propNames[p.tok.text]
		if !ok {
			return nil, p.fail("claim property (type, value, valueType or issuer)")
		}
		slot, bound := p.idents[t.text]
		if !bound {
			return nil, newParseError(t.pos, strconv.Quote(t.text), "",
				fmt.Sprintf("undefined identifier %q (identifiers are bound by an earlier condition of the same rule, as in %s:[type==\"…\"])", t.text, t.text))
		}
		p.next()
		return &Ref{Pos: t.pos, Ident: t.text, Prop: prop, slot: slot}, nil
	}
	return nil, p.fail("a value (string, integer, true, false, ident.property or function call)")
}

func (p *parser) parseCall(name token) (Expr, error) {
	fn, ok := functions[name.text]
	if !ok {
		msg := fmt.Sprintf("unknown function %q", name.text)
		if s := suggestFunction(name.text); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, newParseError(name.pos, strconv.Quote(name.text), "", msg)
	}
	if !p.version.atLeast(1, 2) {
		return nil, newParseError(name.pos, strconv.Quote(name.text), "",
			fmt.Sprintf("function %s requires policy version 1.2 or later (this policy is version %s)", name.text, p.version))
	}
	p.nesting++
	defer func() { p.nesting-- }()
	if p.nesting > p.lim.MaxNesting {
		return nil, newParseError(name.pos, "", "", fmt.Sprintf("function calls nested too deeply (limit %d)", p.lim.MaxNesting))
	}
	c := &Call{Pos: name.pos, Name: name.text, fn: fn}
	p.next() // (
	if p.tok.kind != tRParen {
		for {
			a, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
			if p.tok.kind == tComma {
				p.next()
				continue
			}
			break
		}
	}
	if _, err := p.expect(tRParen, `"," or ")"`); err != nil {
		return nil, err
	}
	if len(c.Args) != len(fn.args) {
		return nil, newParseError(name.pos, fmt.Sprintf("%d arguments", len(c.Args)), fmt.Sprintf("%d", len(fn.args)),
			fmt.Sprintf("function %s takes %d argument%s, found %d", fn.name, len(fn.args), plural(len(fn.args)), len(c.Args)))
	}
	for i, a := range c.Args {
		if k, ok := litKind(a); ok && fn.args[i] != argAny && fn.args[i] != argSet && k != fn.args[i].valueType() {
			return nil, newParseError(a.Position(), a.String(), fn.args[i].valueType().String(),
				fmt.Sprintf("argument %d of %s must be a %s, found %s", i+1, fn.name, fn.args[i].valueType(), a.String()))
		}
	}
	if fn.name == "JmesPath" {
		if q, ok := c.Args[1].(*StringLit); ok {
			if q.Value == "" {
				return nil, newParseError(q.Pos, `""`, "a JMESPath query", "the JMESPath query must not be empty")
			}
			if len(q.Value) > p.lim.MaxQueryLen {
				return nil, newParseError(q.Pos, "", "", fmt.Sprintf("the JMESPath query is %d bytes, more than the limit of %d", len(q.Value), p.lim.MaxQueryLen))
			}
			cq, err := compileJMESPath(q.Value)
			if err != nil {
				return nil, newParseError(q.Pos, q.String(), "a valid JMESPath query", "invalid JMESPath query: "+err.Error())
			}
			c.query = &cq
		}
	}
	return c, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func litKind(e Expr) (ValueType, bool) {
	switch e.(type) {
	case *StringLit:
		return TypeString, true
	case *IntLit:
		return TypeInteger, true
	case *BoolLit:
		return TypeBoolean, true
	}
	return 0, false
}

// parseAction parses permit() | deny() | verb(type=E, value=E) | verb(claim=ident).
func (p *parser) parseAction(sec SectionKind) (*Action, error) {
	if p.tok.kind != tIdent {
		return nil, p.fail("an action (permit, deny, add, issue or issueproperty)")
	}
	kind, ok := actionNames[p.tok.text]
	if !ok {
		msg := fmt.Sprintf("unknown action %q (actions: permit, deny, add, issue, issueproperty)", p.tok.text)
		return nil, newParseError(p.tok.pos, strconv.Quote(p.tok.text), "an action", msg)
	}
	a := &Action{Pos: p.tok.pos, Kind: kind, claimSlot: -1}
	if !actionAllowed(sec, kind) {
		return nil, newParseError(p.tok.pos, strconv.Quote(p.tok.text), allowedActions(sec),
			fmt.Sprintf("action %s is not allowed in %s (allowed: %s)", kind, sec, allowedActions(sec)))
	}
	p.next()
	if _, err := p.expect(tLParen, `"(" after `+kind.String()); err != nil {
		return nil, err
	}
	if kind == ActPermit || kind == ActDeny {
		if _, err := p.expect(tRParen, `")" (`+kind.String()+"() takes no arguments)"); err != nil {
			return nil, err
		}
		return a, nil
	}
	for {
		if p.tok.kind != tIdent || (p.tok.text != "type" && p.tok.text != "value" && p.tok.text != "claim") {
			if p.tok.kind == tString || p.tok.kind == tInt {
				return nil, newParseError(p.tok.pos, p.tok.describe(), `"type=", "value=" or "claim="`,
					fmt.Sprintf(`expected "type=", "value=" or "claim=", found %s (arguments of %s are named: %s(type="…", value=…))`, p.tok.describe(), kind, kind))
			}
			return nil, p.fail(`"type=", "value=" or "claim="`)
		}
		name := p.tok
		p.next()
		if _, err := p.expect(tAssign, `"=" after `+name.text); err != nil {
			return nil, err
		}
		switch name.text {
		case "claim":
			if a.Claim != "" || a.Type != nil || a.Value != nil {
				return nil, newParseError(name.pos, `"claim"`, "", "claim= cannot be combined with type=, value= or another claim=")
			}
			id, err := p.expect(tIdent, "an identifier bound by a condition")
			if err != nil {
				return nil, err
			}
			slot, ok := p.idents[id.text]
			if !ok {
				return nil, newParseError(id.pos, strconv.Quote(id.text), "",
					fmt.Sprintf("undefined identifier %q (identifiers are bound by a condition of the same rule, as in %s:[type==\"…\"])", id.text, id.text))
			}
			a.Claim, a.ClaimPos, a.claimSlot = id.text, id.pos, slot
		case "type", "value":
			if a.Claim != "" {
				return nil, newParseError(name.pos, strconv.Quote(name.text), "", "claim= cannot be combined with type= or value=")
			}
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if name.text == "type" {
				if a.Type != nil {
					return nil, newParseError(name.pos, `"type"`, "", "type= is given twice")
				}
				if k, ok := litKind(e); ok && k != TypeString {
					return nil, newParseError(e.Position(), e.String(), "string", "a claim type must be a string, found "+e.String())
				}
				a.Type = e
			} else {
				if a.Value != nil {
					return nil, newParseError(name.pos, `"value"`, "", "value= is given twice")
				}
				a.Value = e
			}
		}
		if p.tok.kind == tComma {
			p.next()
			continue
		}
		break
	}
	if p.tok.kind != tRParen {
		return nil, p.fail(`"," or ")"`)
	}
	if a.Claim == "" && (a.Type == nil || a.Value == nil) {
		missing := "type="
		if a.Type != nil {
			missing = "value="
		}
		return nil, newParseError(p.tok.pos, p.tok.describe(), missing,
			fmt.Sprintf("%s needs both type= and value= (or claim=); %s is missing", kind, missing))
	}
	p.next()
	return a, nil
}

func actionAllowed(sec SectionKind, k ActionKind) bool {
	switch sec {
	case ConfigurationRules:
		return k == ActIssueProperty
	case AuthorizationRules:
		return k == ActPermit || k == ActDeny || k == ActAdd
	case IssuanceRules:
		return k == ActAdd || k == ActIssue || k == ActIssueProperty
	}
	return false
}

func allowedActions(sec SectionKind) string {
	switch sec {
	case ConfigurationRules:
		return "issueproperty"
	case AuthorizationRules:
		return "permit, deny, add"
	}
	return "add, issue, issueproperty"
}
