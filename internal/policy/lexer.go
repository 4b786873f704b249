package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tSemi     // ;
	tLBrace   // {
	tRBrace   // }
	tLBrack   // [
	tRBrack   // ]
	tLParen   // (
	tRParen   // )
	tComma    // ,
	tColon    // :
	tDot      // .
	tAssign   // =
	tEq       // ==
	tNe       // !=
	tLt       // <
	tLe       // <=
	tGt       // >
	tGe       // >=
	tArrow    // =>
	tAnd      // &&
	tNot      // !
	tOr       // || (not part of the language; lexed to give a precise error)
	tInvalid  // a character that starts no token
	tBadToken // a malformed token (message in tok.err)
)

var tokNames = [...]string{
	tEOF: "end of policy", tIdent: "identifier", tString: "string", tInt: "integer",
	tSemi: `";"`, tLBrace: `"{"`, tRBrace: `"}"`, tLBrack: `"["`, tRBrack: `"]"`,
	tLParen: `"("`, tRParen: `")"`, tComma: `","`, tColon: `":"`, tDot: `"."`,
	tAssign: `"="`, tEq: `"=="`, tNe: `"!="`, tLt: `"<"`, tLe: `"<="`, tGt: `">"`,
	tGe: `">="`, tArrow: `"=>"`, tAnd: `"&&"`, tNot: `"!"`, tOr: `"||"`,
	tInvalid: "invalid character", tBadToken: "malformed token",
}

func (k tokKind) String() string { return tokNames[k] }

// token is one lexical token. text is the source text (for strings: the
// decoded value); for tInt, num holds the value.
type token struct {
	kind tokKind
	pos  Pos
	end  int // byte offset just past the token
	text string
	num  int64
	err  string // for tBadToken / tInvalid
}

// describe renders the token for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of policy"
	case tIdent:
		return strconv.Quote(t.text)
	case tString:
		return "string " + strconv.Quote(clip(t.text, 40))
	case tInt:
		return "integer " + t.text
	case tInvalid, tBadToken:
		return t.text
	}
	return t.kind.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// lexer turns policy text into tokens. It tracks line and column (columns
// count Unicode code points, starting at 1).
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer {
	l := &lexer{src: src, line: 1, col: 1}
	// A UTF-8 byte-order mark is tolerated at the very start (editors on
	// Windows write one); it is not part of the policy.
	if strings.HasPrefix(src, "\uFEFF") {
		l.off = 3
	}
	return l
}

func (l *lexer) pos() Pos { return Pos{Offset: l.off, Line: l.line, Col: l.col} }

// advance consumes one rune and updates line/column.
func (l *lexer) advance() rune {
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

// skipSpace skips white space and // comments.
func (l *lexer) skipSpace() {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance()
		case c == '/' && l.peekByte(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance()
			}
		default:
			return
		}
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// next returns the next token.
func (l *lexer) next() token {
	l.skipSpace()
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p, end: l.off}
	}
	c := l.src[l.off]
	two := func(k tokKind, text string) token {
		l.advance()
		l.advance()
		return token{kind: k, pos: p, end: l.off, text: text}
	}
	one := func(k tokKind) token {
		l.advance()
		return token{kind: k, pos: p, end: l.off, text: string(c)}
	}
	switch {
	case isIdentStart(c):
		start := l.off
		for l.off < len(l.src) && isIdentPart(l.src[l.off]) {
			l.advance()
		}
		return token{kind: tIdent, pos: p, end: l.off, text: l.src[start:l.off]}
	case c >= '0' && c <= '9' || (c == '-' && l.peekByte(1) >= '0' && l.peekByte(1) <= '9'):
		return l.number(p)
	case c == '"':
		return l.str(p)
	}
	switch c {
	case ';':
		return one(tSemi)
	case '{':
		return one(tLBrace)
	case '}':
		return one(tRBrace)
	case '[':
		return one(tLBrack)
	case ']':
		return one(tRBrack)
	case '(':
		return one(tLParen)
	case ')':
		return one(tRParen)
	case ',':
		return one(tComma)
	case ':':
		return one(tColon)
	case '.':
		return one(tDot)
	case '=':
		switch l.peekByte(1) {
		case '=':
			return two(tEq, "==")
		case '>':
			return two(tArrow, "=>")
		}
		return one(tAssign)
	case '!':
		if l.peekByte(1) == '=' {
			return two(tNe, "!=")
		}
		return one(tNot)
	case '<':
		if l.peekByte(1) == '=' {
			return two(tLe, "<=")
		}
		return one(tLt)
	case '>':
		if l.peekByte(1) == '=' {
			return two(tGe, ">=")
		}
		return one(tGt)
	case '&':
		if l.peekByte(1) == '&' {
			return two(tAnd, "&&")
		}
	case '|':
		if l.peekByte(1) == '|' {
			return two(tOr, "||")
		}
	}
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.advance()
	text := strconv.QuoteRune(r)
	if r == utf8.RuneError && n == 1 {
		text = "invalid UTF-8"
	}
	switch r {
	case '\u201C', '\u201D', '\u2018', '\u2019':
		return token{kind: tInvalid, pos: p, end: l.off, text: "typographic quote " + text,
			err: "typographic quote " + text + ` is not a string delimiter; use a straight double quote '"'`}
	}
	return token{kind: tInvalid, pos: p, end: l.off, text: "character " + text, err: "unexpected character " + text}
}

func (l *lexer) number(p Pos) token {
	start := l.off
	if l.src[l.off] == '-' {
		l.advance()
	}
	for l.off < len(l.src) && l.src[l.off] >= '0' && l.src[l.off] <= '9' {
		l.advance()
	}
	text := l.src[start:l.off]
	if l.off < len(l.src) && isIdentStart(l.src[l.off]) {
		for l.off < len(l.src) && isIdentPart(l.src[l.off]) {
			l.advance()
		}
		bad := l.src[start:l.off]
		return token{kind: tBadToken, pos: p, end: l.off, text: strconv.Quote(bad), err: "malformed number " + strconv.Quote(bad)}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return token{kind: tBadToken, pos: p, end: l.off, text: "integer " + clip(text, 40),
			err: "integer " + clip(text, 40) + " is out of range for a 64-bit integer"}
	}
	return token{kind: tInt, pos: p, end: l.off, text: text, num: n}
}

// str lexes a double-quoted string literal. Escapes: \" \\ \/ \b \f \n \r
// \t and \uXXXX; any other escape is an error. A string may not contain a
// raw line break, so a missing closing quote is reported on its own line.
func (l *lexer) str(p Pos) token {
	l.advance() // opening quote
	var b strings.Builder
	start := l.off
	simple := true
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' || l.src[l.off] == '\r' {
			msg := "unterminated string literal"
			if i := strings.IndexAny(l.src[start:l.off], "\u201C\u201D"); i >= 0 {
				msg += " (a typographic quote \u201D is not a string delimiter; use '\"')"
			}
			return token{kind: tBadToken, pos: p, end: l.off, text: "unterminated string", err: msg}
		}
		c := l.src[l.off]
		if c == '"' {
			var s string
			if simple {
				s = l.src[start:l.off]
			} else {
				s = b.String()
			}
			l.advance()
			return token{kind: tString, pos: p, end: l.off, text: s}
		}
		if c == '\\' {
			if simple {
				b.WriteString(l.src[start:l.off])
				simple = false
			}
			ep := l.pos()
			l.advance()
			if l.off >= len(l.src) {
				continue
			}
			e := l.src[l.off]
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
				l.advance()
			case 'b':
				b.WriteByte('\b')
				l.advance()
			case 'f':
				b.WriteByte('\f')
				l.advance()
			case 'n':
				b.WriteByte('\n')
				l.advance()
			case 'r':
				b.WriteByte('\r')
				l.advance()
			case 't':
				b.WriteByte('\t')
				l.advance()
			case 'u':
				l.advance()
				if l.off+4 > len(l.src) {
					return l.badEscape(ep, `\u`)
				}
				v, err := strconv.ParseUint(l.src[l.off:l.off+4], 16, 16)
				if err != nil {
					return l.badEscape(ep, `\u`+l.src[l.off:l.off+4])
				}
				for range 4 {
					l.advance()
				}
				b.WriteRune(rune(v))
			default:
				r, _ := utf8.DecodeRuneInString(l.src[l.off:])
				return l.badEscape(ep, `\`+string(r))
			}
			continue
		}
		if r, n := utf8.DecodeRuneInString(l.src[l.off:]); r == utf8.RuneError && n == 1 {
			return token{kind: tBadToken, pos: l.pos(), end: l.off + 1, text: "invalid UTF-8", err: "invalid UTF-8 in string literal"}
		}
		r := l.advance()
		if !simple {
			b.WriteRune(r)
		}
	}
}

func (l *lexer) badEscape(ep Pos, seq string) token {
	return token{kind: tBadToken, pos: ep, end: l.off, text: "escape " + strconv.Quote(seq),
		err: fmt.Sprintf("unknown escape sequence %s in string literal (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", seq)}
}
