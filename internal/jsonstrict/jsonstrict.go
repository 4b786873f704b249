// Package jsonstrict decodes JSON from clients so that every request has one
// meaning: a member that appears twice in an object (exactly, or in another
// case where names are matched case-insensitively) is an error rather than
// whichever occurrence a map iteration happens to keep. Objects are read
// once, in document order.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultMaxDepth bounds nesting when the caller gives no depth.
const DefaultMaxDepth = 64

// DuplicateError reports a member name that occurs twice in one object.
type DuplicateError struct {
	// Name is the second occurrence's name as written; First the first's.
	Name, First string
}

func (e *DuplicateError) Error() string {
	if e.Name == e.First {
		return fmt.Sprintf("the member %q appears twice", e.Name)
	}
	return fmt.Sprintf("the members %q and %q are the same name in different case", e.First, e.Name)
}

// ErrNotObject is returned by Object for valid JSON that is not an object.
var ErrNotObject = errors.New("not a JSON object")

// Member is one member of an object, in document order.
type Member struct {
	Name  string
	Value json.RawMessage
}

// Object is a decoded JSON object whose members are looked up
// case-insensitively (as MAA matches request member names).
type Object []Member

// Get returns the value of the member whose name equals name ignoring case.
func (o Object) Get(name string) (json.RawMessage, bool) {
	for _, m := range o {
		if strings.EqualFold(m.Name, name) {
			return m.Value, true
		}
	}
	return nil, false
}

// DecodeObject decodes b, which must be one JSON object, into its members.
// Its member names are compared case-insensitively: two names equal under
// case folding are a *DuplicateError; objects nested in member values may
// not repeat a name exactly either. Member values are returned raw. It returns ErrNotObject (wrapped) for other JSON values
// and a syntax error for invalid JSON or data after the object.
func DecodeObject(b []byte) (Object, error) {
	s := &scanner{b: b, depth: DefaultMaxDepth, fold: true, foldTopOnly: true}
	s.ws()
	if s.i >= len(b) {
		return nil, errEnd
	}
	if b[s.i] != '{' {
		if err := s.value(); err != nil {
			return nil, err
		}
		return nil, ErrNotObject
	}
	var out Object
	err := s.object(func(name string, value []byte) {
		if s.level == 1 {
			out = append(out, Member{Name: name, Value: value})
		}
	})
	if err != nil {
		return nil, err
	}
	if err := s.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// EachMember validates b, which must be one JSON object, and calls fn with
// each top-level member's name (decoded; it aliases b when the name has no
// escapes, so fn must not keep it) and raw value, in document order. Names
// are compared case-insensitively: two equal under case folding are a
// *DuplicateError, as for DecodeObject. It allocates nothing per member,
// for decoders that walk many small objects. An error from fn stops the
// walk and is returned; b is then only validated up to that member.
func EachMember(b []byte, fn func(name, value []byte) error) error {
	s := &scanner{b: b, depth: DefaultMaxDepth, fold: true, foldTopOnly: true}
	s.ws()
	if s.i >= len(b) {
		return errEnd
	}
	if b[s.i] != '{' {
		if err := s.value(); err != nil {
			return err
		}
		return ErrNotObject
	}
	var ferr error
	err := s.objectBytes(func(name, value []byte) {
		if s.level == 1 && ferr == nil {
			ferr = fn(name, value)
		}
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	return s.end()
}

// EqualFold reports whether name equals s under simple Unicode case
// folding (strings.EqualFold), without allocating for ASCII names.
func EqualFold(name []byte, s string) bool {
	ascii := true
	for _, c := range name {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				ascii = false
				break
			}
		}
	}
	if !ascii {
		return strings.EqualFold(string(name), s)
	}
	if len(name) != len(s) {
		return false
	}
	for i := range name {
		a, b := name[i], s[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// ErrNotArray is returned by DecodeArray for valid JSON that is not an array.
var ErrNotArray = errors.New("JSON value is not an array")

// DecodeArray decodes b, which must be one JSON array, into its raw
// elements (validated; an object anywhere inside may not repeat a member
// name exactly). It returns ErrNotArray (wrapped) for other JSON values and
// a syntax error for invalid JSON or data after the array.
func DecodeArray(b []byte) ([]json.RawMessage, error) {
	s := &scanner{b: b, depth: DefaultMaxDepth}
	s.ws()
	if s.i >= len(b) {
		return nil, errEnd
	}
	if b[s.i] != '[' {
		if err := s.value(); err != nil {
			return nil, err
		}
		return nil, ErrNotArray
	}
	out := make([]json.RawMessage, 0, 16)
	if err := s.array(func(v []byte) { out = append(out, v) }); err != nil {
		return nil, err
	}
	if err := s.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// Decode parses b as one JSON document into Go values (map[string]any,
// []any, string, json.Number, bool, nil), refusing a member name that occurs
// twice in one object (compared exactly: the document keeps its names) with
// a *DuplicateError, nesting deeper than maxDepth (≤ 0: DefaultMaxDepth),
// and data after the document.
func Decode(b []byte, maxDepth int) (any, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := value(dec, maxDepth)
	if err != nil {
		return nil, err
	}
	if err := end(dec); err != nil {
		return nil, err
	}
	return v, nil
}

func value(dec *json.Decoder, depth int) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(err)
	}
	d, ok := t.(json.Delim)
	if !ok {
		return t, nil
	}
	if depth <= 0 {
		return nil, errors.New("JSON nested too deeply")
	}
	switch d {
	case '{':
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, syntaxErr(err)
			}
			k, _ := kt.(string)
			if _, dup := m[k]; dup {
				return nil, &DuplicateError{Name: k, First: k}
			}
			v, err := value(dec, depth-1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		if _, err := dec.Token(); err != nil {
			return nil, syntaxErr(err)
		}
		return m, nil
	case '[':
		a := []any{}
		for dec.More() {
			v, err := value(dec, depth-1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, syntaxErr(err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("unexpected %q", d)
}

func end(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON document")
	}
	return nil
}

func syntaxErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Check reports whether b is one JSON document in which no object names a
// member twice, at any depth: compared case-insensitively when fold is set
// (for documents decoded into Go structs, whose field matching ignores
// case), exactly otherwise. It returns a *DuplicateError, a syntax error, or
// an error for nesting deeper than maxDepth (≤ 0: DefaultMaxDepth).
func Check(b []byte, fold bool, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	s := &scanner{b: b, depth: maxDepth, fold: fold}
	if err := s.value(); err != nil {
		return err
	}
	return s.end()
}
