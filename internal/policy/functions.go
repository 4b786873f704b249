package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// argKind says what a function argument must evaluate to.
type argKind uint8

const (
	argString argKind = iota + 1 // one String value
	argBool                      // one Boolean value
	argAny                       // one value of any type
	argSet                       // any number of values of any types
)

func (a argKind) valueType() ValueType {
	switch a {
	case argString:
		return TypeString
	case argBool:
		return TypeBoolean
	}
	return 0
}

// function describes one built-in function (policy version 1.2).
type function struct {
	name string
	args []argKind
	// propagatesReadOnly: the result is read-only if an argument is.
	propagatesReadOnly bool
}

var functions = map[string]*function{
	"JmesPath":          {name: "JmesPath", args: []argKind{argString, argString}, propagatesReadOnly: true},
	"JsonToClaimValue":  {name: "JsonToClaimValue", args: []argKind{argString}, propagatesReadOnly: true},
	"IsSubsetOf":        {name: "IsSubsetOf", args: []argKind{argSet, argSet}},
	"AppendString":      {name: "AppendString", args: []argKind{argString, argString}, propagatesReadOnly: true},
	"NegateBool":        {name: "NegateBool", args: []argKind{argBool}, propagatesReadOnly: true},
	"ContainsOnlyValue": {name: "ContainsOnlyValue", args: []argKind{argSet, argAny}},
}

var functionNames = []string{"AppendString", "ContainsOnlyValue", "IsSubsetOf", "JmesPath", "JsonToClaimValue", "NegateBool"}

// suggestFunction returns the known function closest to name (same letters
// in another case, or at most two edits away), or "".
func suggestFunction(name string) string {
	best, bestD := "", 3
	for _, n := range functionNames { // sorted, so ties resolve the same way every time
		if strings.EqualFold(n, name) {
			return n
		}
		if d := editDistance(strings.ToLower(n), strings.ToLower(name), bestD); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or max when it is at
// least max.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// checkJSONShape rejects documents larger than maxBytes or nested deeper than
// maxDepth before they are decoded.
func checkJSONShape(s string, maxBytes, maxDepth int) error {
	if len(s) > maxBytes {
		return fmt.Errorf("JSON document is %d bytes, more than the limit of %d", len(s), maxBytes)
	}
	depth := 0
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '[', '{':
			depth++
			if depth > maxDepth {
				return fmt.Errorf("JSON document is nested more than %d levels deep", maxDepth)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// marshalJSON renders a decoded JSON value compactly, without HTML escaping.
func marshalJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// jsonToValues converts a JSON text to claim values per JsonToClaimValue:
// integer → Integer, fraction → error, bool → Boolean, string → String,
// null → no value, array of primitives → one value per non-null element,
// object or nested array → error.
func jsonToValues(s string, dst []Value) ([]Value, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return dst, fmt.Errorf("argument is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err == nil {
		return dst, fmt.Errorf("argument is not valid JSON: data after the JSON value")
	}
	conv := func(x any, inArray bool) error {
		switch x := x.(type) {
		case nil:
			return nil
		case bool:
			dst = append(dst, Boolean(x))
		case string:
			dst = append(dst, String(x))
		case json.Number:
			i, err := jsonInteger(x)
			if err != nil {
				return err
			}
			dst = append(dst, Integer(i))
		case map[string]any:
			if inArray {
				return fmt.Errorf("a JSON array containing objects cannot be converted to a claim value (only arrays of numbers, booleans, strings and nulls)")
			}
			return fmt.Errorf("a JSON object cannot be converted to a claim value")
		case []any:
			return fmt.Errorf("a JSON array containing arrays cannot be converted to a claim value (only arrays of numbers, booleans, strings and nulls)")
		}
		return nil
	}
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			if err := conv(x, true); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	return dst, conv(v, false)
}

// jsonInteger converts a JSON number to int64. Numbers with a fractional
// part, and numbers outside the int64 range, are errors. 1.0 and 1e3 are
// integers.
func jsonInteger(n json.Number) (int64, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("JSON number %s is out of range for a 64-bit integer", clip(string(n), 40))
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("JSON number %s is a fraction; only integers can be converted to a claim value", clip(string(n), 40))
	}
	if f < -9.223372036854775808e18 || f >= 9.223372036854775808e18 {
		return 0, fmt.Errorf("JSON number %s is out of range for a 64-bit integer", clip(string(n), 40))
	}
	return int64(f), nil
}
