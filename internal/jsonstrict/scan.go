package jsonstrict

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// scanner is a single-pass JSON validator over b: it checks the grammar of
// RFC 8259 exactly as encoding/json does (strings without raw control
// characters and with valid escapes, numbers, literals), bounds nesting, and
// reports duplicate member names. It never allocates for names without
// escapes.
type scanner struct {
	b     []byte
	i     int
	depth int
	fold  bool
	// foldTopOnly limits fold to the outermost object (deeper objects are
	// checked for exact duplicates).
	foldTopOnly bool
	level       int
}

var errEnd = errors.New("unexpected end of JSON input")

func (s *scanner) syntax(what string) error {
	if s.i >= len(s.b) {
		return errEnd
	}
	return fmt.Errorf("invalid character %q %s (offset %d)", s.b[s.i], what, s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value starting at s.i (after white space).
func (s *scanner) value() error {
	s.ws()
	if s.i >= len(s.b) {
		return errEnd
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array(nil)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return s.syntax("looking for beginning of value")
}

func (s *scanner) lit(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		if len(s.b)-s.i < len(w) && w[:len(s.b)-s.i] == string(s.b[s.i:]) {
			return errEnd
		}
		return fmt.Errorf("invalid literal at offset %d", s.i)
	}
	s.i += len(w)
	return nil
}

func (s *scanner) number() error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i >= len(s.b) {
		return errEnd
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return fmt.Errorf("invalid number at offset %d", start)
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			if s.i >= len(s.b) {
				return errEnd
			}
			return fmt.Errorf("invalid number at offset %d", start)
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			if s.i >= len(s.b) {
				return errEnd
			}
			return fmt.Errorf("invalid number at offset %d", start)
		}
	}
	return nil
}

// str scans a string at s.i and returns its raw bytes (quotes included) and
// whether it has escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	start := s.i
	s.i++ // opening quote
	for s.i < len(s.b) {
		// Fast path: a run of plain characters (the whole of a base64
		// member), scanned with a local index.
		b, i := s.b, s.i
		for i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		s.i = i
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], escaped, nil
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, errEnd
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for k := 0; k < 4; k++ {
					if s.i >= len(s.b) {
						return nil, false, errEnd
					}
					h := s.b[s.i]
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, s.syntax("in \\u hexadecimal character escape")
					}
					s.i++
				}
			default:
				return nil, false, s.syntax("in string escape code")
			}
		case c < 0x20:
			return nil, false, s.syntax("in string literal")
		default:
			s.i++
		}
	}
	return nil, false, errEnd
}

// plainWord reports whether all eight bytes of x are plain string bytes
// (see plainStringByte): none below 0x20, none a quote or a backslash. It
// uses the classic SWAR tests "has a byte less than n" and "has a zero
// byte", which are exact for whether any byte matches.
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	less20 := (x - ones*0x20) & ^x & highs
	q := x ^ (ones * '"')
	quote := (q - ones) & ^q & highs
	bs := x ^ (ones * '\\')
	backslash := (bs - ones) & ^bs & highs
	return less20|quote|backslash == 0
}

// plainStringByte[c] is true for bytes that stand for themselves inside a
// JSON string: everything but the quote, the backslash and control bytes.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// name returns the decoded member name of a raw string (a subslice of the
// input when it has no escapes).
func name(raw []byte, escaped bool) []byte {
	// encoding/json replaces each invalid UTF-8 sequence with U+FFFD, so
	// "\xeb" and "\xff" are the same name to every decoder downstream:
	// such names are decoded before they are compared.
	if !escaped && utf8.Valid(raw) {
		return raw[1 : len(raw)-1]
	}
	var n string
	_ = json.Unmarshal(raw, &n) // validated by str
	return []byte(n)
}

func (s *scanner) enter() error {
	s.depth--
	if s.depth < 0 {
		return errors.New("JSON nested too deeply")
	}
	return nil
}

// object scans an object; each member is passed to member (when non-nil)
// with its name and raw value.
func (s *scanner) object(member func(name string, value []byte)) error {
	if member == nil {
		return s.objectBytes(nil)
	}
	return s.objectBytes(func(name, value []byte) { member(string(name), value) })
}

// objectBytes is object with the member name as bytes (aliasing the input
// when unescaped), for callers that do not keep it.
func (s *scanner) objectBytes(member func(name, value []byte)) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.level++
	defer func() { s.depth++; s.level-- }()
	fold := s.fold && (!s.foldTopOnly || s.level == 1)
	s.i++ // {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	var seenBuf [8][]byte
	seen := seenBuf[:0]
	for {
		s.ws()
		if s.i >= len(s.b) {
			return errEnd
		}
		if s.b[s.i] != '"' {
			return s.syntax("looking for beginning of object key string")
		}
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		n := name(raw, esc)
		for _, p := range seen {
			if bytes.Equal(p, n) || (fold && bytes.EqualFold(p, n)) {
				return &DuplicateError{Name: string(n), First: string(p)}
			}
		}
		seen = append(seen, n)
		s.ws()
		if s.i >= len(s.b) {
			return errEnd
		}
		if s.b[s.i] != ':' {
			return s.syntax("after object key")
		}
		s.i++
		s.ws()
		start := s.i
		if err := s.value(); err != nil {
			return err
		}
		if member != nil {
			member(n, s.b[start:s.i])
		}
		s.ws()
		if s.i >= len(s.b) {
			return errEnd
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("after object key:value pair")
		}
	}
}

// array scans an array; each element is passed to elem (when non-nil) raw.
func (s *scanner) array(elem func(value []byte)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth++ }()
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		start := s.i
		if err := s.value(); err != nil {
			return err
		}
		if elem != nil {
			elem(s.b[start:s.i])
		}
		s.ws()
		if s.i >= len(s.b) {
			return errEnd
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax("after array element")
		}
	}
}

// end checks that only white space follows the document.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errors.New("data after the JSON document")
	}
	return nil
}
