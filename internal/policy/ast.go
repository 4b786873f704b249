package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a position in the policy text. Line and Col start at 1; Col counts
// Unicode code points (a tab is one column). Offset is the byte offset.
type Pos struct {
	Offset int
	Line   int
	Col    int
}

// String implements fmt.Stringer.
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Version is a policy language version (1.0, 1.1 or 1.2).
type Version struct{ Major, Minor int }

// String implements fmt.Stringer.
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

func (v Version) atLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// SectionKind names a policy section.
type SectionKind uint8

// The three sections, in the order they must appear and are evaluated.
const (
	ConfigurationRules SectionKind = iota + 1
	AuthorizationRules
	IssuanceRules
)

// String implements fmt.Stringer.
func (k SectionKind) String() string {
	switch k {
	case ConfigurationRules:
		return "configurationrules"
	case AuthorizationRules:
		return "authorizationrules"
	case IssuanceRules:
		return "issuancerules"
	}
	return "unknown section"
}

// File is the syntax tree of a whole policy.
type File struct {
	Version    Version
	VersionPos Pos
	Sections   []*Section // in source order (configuration, authorization, issuance)
}

// Section returns the section of kind k, or nil when the policy has none.
func (f *File) Section(k SectionKind) *Section {
	for _, s := range f.Sections {
		if s.Kind == k {
			return s
		}
	}
	return nil
}

// Section is one `name { rules };` block.
type Section struct {
	Kind  SectionKind
	Pos   Pos
	Rules []*Rule
}

// Rule is `conditions => action;`. A rule without conditions always fires.
type Rule struct {
	Pos        Pos
	Conditions []*Condition
	Action     *Action
	nslots     int // number of identifiers bound in the rule
}

// Condition is `[!][ident:][prop op expr, ...]`. It holds when at least one
// claim satisfies every property condition (or, negated, when none does).
type Condition struct {
	Pos     Pos
	Negated bool
	Ident   string // "" when the condition binds no identifier
	Props   []*PropCond
	slot    int // binding slot of Ident, -1 if none
}

// Property is a claim property that a condition or a reference can name.
type Property uint8

// Claim properties.
const (
	PropType Property = iota + 1
	PropValue
	PropValueType
	PropIssuer
)

var propNames = map[string]Property{"type": PropType, "value": PropValue, "valueType": PropValueType, "issuer": PropIssuer}

// String implements fmt.Stringer.
func (p Property) String() string {
	switch p {
	case PropType:
		return "type"
	case PropValue:
		return "value"
	case PropValueType:
		return "valueType"
	case PropIssuer:
		return "issuer"
	}
	return "?"
}

// Op is a comparison operator.
type Op uint8

// Comparison operators.
const (
	OpEq Op = iota + 1
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
)

// String implements fmt.Stringer.
func (o Op) String() string {
	return [...]string{"", "==", "!=", "<", "<=", ">", ">="}[o]
}

// PropCond is one `prop op expr` inside a condition.
type PropCond struct {
	Pos  Pos
	Prop Property
	Op   Op
	Expr Expr
}

// Expr is an expression: a literal, a claim property reference or a
// function call.
type Expr interface {
	Position() Pos
	String() string
	expr()
}

// StringLit is a string literal (Value is decoded).
type StringLit struct {
	Pos   Pos
	Value string
}

// IntLit is an integer literal.
type IntLit struct {
	Pos   Pos
	Value int64
}

// BoolLit is true or false.
type BoolLit struct {
	Pos   Pos
	Value bool
}

// Ref is `ident.prop`: the given property of every claim bound to ident.
type Ref struct {
	Pos   Pos
	Ident string
	Prop  Property
	slot  int
}

// Call is a function call (policy version 1.2).
type Call struct {
	Pos   Pos
	Name  string
	Args  []Expr
	fn    *function
	query *compiledQuery // compiled query when JmesPath's query is a literal
}

// Position returns where the expression starts; String renders it in
// policy syntax. Together they implement Expr.
func (e *StringLit) Position() Pos { return e.Pos }
func (e *IntLit) Position() Pos    { return e.Pos }
func (e *BoolLit) Position() Pos   { return e.Pos }
func (e *Ref) Position() Pos       { return e.Pos }
func (e *Call) Position() Pos      { return e.Pos }
func (*StringLit) expr()           {}
func (*IntLit) expr()              {}
func (*BoolLit) expr()             {}
func (*Ref) expr()                 {}
func (*Call) expr()                {}

// String renders the literal with the escapes the lexer accepts.
func (e *StringLit) String() string { return quote(e.Value) }
func (e *IntLit) String() string    { return strconv.FormatInt(e.Value, 10) }
func (e *BoolLit) String() string   { return strconv.FormatBool(e.Value) }
func (e *Ref) String() string       { return e.Ident + "." + e.Prop.String() }
func (e *Call) String() string {
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = a.String()
	}
	return e.Name + "(" + strings.Join(args, ", ") + ")"
}

// quote renders s as a policy string literal (the escapes the lexer accepts).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ActionKind is the verb of a rule's action.
type ActionKind uint8

// Actions.
const (
	ActPermit ActionKind = iota + 1
	ActDeny
	ActAdd
	ActIssue
	ActIssueProperty
)

var actionNames = map[string]ActionKind{"permit": ActPermit, "deny": ActDeny, "add": ActAdd, "issue": ActIssue, "issueproperty": ActIssueProperty}

// String implements fmt.Stringer.
func (a ActionKind) String() string {
	return [...]string{"", "permit", "deny", "add", "issue", "issueproperty"}[a]
}

// Action is the right-hand side of a rule. For add/issue/issueproperty either
// Claim is set (`claim=c`) or Type and Value are.
type Action struct {
	Pos       Pos
	Kind      ActionKind
	Type      Expr   // type=...
	Value     Expr   // value=...
	Claim     string // claim=ident
	ClaimPos  Pos
	claimSlot int
}

// String renders the syntax tree in a canonical one-line-per-rule form used
// by golden tests.
func (f *File) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version=%s;\n", f.Version)
	for _, s := range f.Sections {
		fmt.Fprintf(&b, "%s {\n", s.Kind)
		for _, r := range s.Rules {
			b.WriteString("  ")
			b.WriteString(r.String())
			b.WriteString("\n")
		}
		b.WriteString("};\n")
	}
	return b.String()
}

// String renders the rule on one line in canonical form.
func (r *Rule) String() string {
	var b strings.Builder
	for i, c := range r.Conditions {
		if i > 0 {
			b.WriteString(" && ")
		}
		if c.Negated {
			b.WriteString("!")
		}
		if c.Ident != "" {
			b.WriteString(c.Ident + ":")
		}
		b.WriteString("[")
		for j, p := range c.Props {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s%s%s", p.Prop, p.Op, p.Expr)
		}
		b.WriteString("]")
	}
	if len(r.Conditions) > 0 {
		b.WriteString(" ")
	}
	b.WriteString("=> ")
	a := r.Action
	b.WriteString(a.Kind.String() + "(")
	switch {
	case a.Claim != "":
		b.WriteString("claim=" + a.Claim)
	case a.Type != nil:
		fmt.Fprintf(&b, "type=%s, value=%s", a.Type, a.Value)
	}
	b.WriteString(");")
	return b.String()
}
