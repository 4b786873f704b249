package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// MaxClaimsJSONBytes bounds the input of ClaimsFromJSON.
const MaxClaimsJSONBytes = 16 << 20

// ClaimsFromJSON decodes incoming claims from JSON in one of two forms:
//
//   - an object mapping claim type to value: strings, booleans and integers
//     become String, Boolean and Integer claims; objects and arrays become
//     JSON-valued claims (String claims holding the compact JSON text). The
//     claims keep the object's member order.
//   - an array of {"type", "value", "valueType", "issuer"} objects; valueType
//     ("String", "Integer", "Boolean") is optional and must agree with the
//     JSON value when given; issuer defaults to AttestationService.
//
// Numbers with a fractional part and null values are errors. On failure it
// returns nil and an error naming the offending claim.
func ClaimsFromJSON(data []byte) ([]Claim, error) {
	if len(data) > MaxClaimsJSONBytes {
		return nil, fmt.Errorf("claims: %d bytes, more than the limit of %d", len(data), MaxClaimsJSONBytes)
	}
	if err := checkJSONShape(string(data), MaxClaimsJSONBytes, 128); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("claims: empty input")
	}
	switch trimmed[0] {
	case '{':
		return claimsFromObject(trimmed)
	case '[':
		return claimsFromArray(trimmed)
	}
	return nil, fmt.Errorf("claims: expected a JSON object or array")
}

func claimsFromObject(data []byte) ([]Claim, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	var out []Claim
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("claims: %w", err)
		}
		typ, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("claims: claim %q: %w", typ, err)
		}
		v, err := valueFromJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("claims: claim %q: %w", typ, err)
		}
		out = append(out, Claim{Type: typ, Value: v, Issuer: IssuerService})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("claims: data after the JSON object")
	}
	return out, nil
}

func claimsFromArray(data []byte) ([]Claim, error) {
	var items []struct {
		Type      *string         `json:"type"`
		Value     json.RawMessage `json:"value"`
		ValueType string          `json:"valueType"`
		Issuer    string          `json:"issuer"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("claims: data after the JSON array")
	}
	out := make([]Claim, 0, len(items))
	for i, it := range items {
		if it.Type == nil {
			return nil, fmt.Errorf("claims: item %d has no \"type\"", i)
		}
		if len(it.Value) == 0 {
			return nil, fmt.Errorf("claims: claim %q (item %d) has no \"value\"", *it.Type, i)
		}
		v, err := valueFromJSON(it.Value)
		if err != nil {
			return nil, fmt.Errorf("claims: claim %q (item %d): %w", *it.Type, i, err)
		}
		if it.ValueType != "" {
			vt, ok := parseValueType(it.ValueType)
			if !ok {
				return nil, fmt.Errorf("claims: claim %q (item %d): unknown valueType %q (String, Integer or Boolean)", *it.Type, i, it.ValueType)
			}
			if vt != v.Type() {
				return nil, fmt.Errorf("claims: claim %q (item %d): valueType %s does not match the value %s", *it.Type, i, vt, clip(string(it.Value), 40))
			}
		}
		iss := it.Issuer
		if iss == "" {
			iss = IssuerService
		}
		out = append(out, Claim{Type: *it.Type, Value: v, Issuer: iss})
	}
	return out, nil
}

// valueFromJSON converts one JSON value to a claim value (see ClaimsFromJSON).
func valueFromJSON(raw json.RawMessage) (Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return Value{}, fmt.Errorf("missing value")
	}
	switch raw[0] {
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return Value{}, err
		}
		return String(buf.String()), nil
	case 'n':
		return Value{}, fmt.Errorf("null is not a claim value")
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return Value{}, err
		}
		return Boolean(b), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, err
		}
		return String(s), nil
	}
	n := json.Number(strings.TrimSpace(string(raw)))
	if _, err := n.Float64(); err != nil {
		return Value{}, fmt.Errorf("invalid number %s", clip(string(raw), 40))
	}
	i, err := jsonInteger(n)
	if err != nil {
		return Value{}, err
	}
	return Integer(i), nil
}

// JSONClaim returns an incoming AttestationService claim whose value is the
// JSON document doc (compacted), as MAA exposes "events" or "pcrs". It
// returns an error when doc is not a single valid JSON value.
func JSONClaim(typ string, doc []byte) (Claim, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return Claim{}, fmt.Errorf("claim %q: %w", typ, err)
	}
	return ServiceClaim(typ, String(buf.String())), nil
}
