package sevsnp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/maat-attest/maat/internal/jose"
)

// Bounds on the SevSnpVm evidence, checked before parsing.
const (
	// MaxEvidenceSize bounds the decoded "report" JSON.
	MaxEvidenceSize = 1 << 20
	// MaxUVMEndorsements bounds the Uvm array.
	MaxUVMEndorsements = 8
	// MaxEndorsementSize bounds one COSE_Sign1.
	MaxEndorsementSize = 256 << 10
)

// Evidence is the decoded "report" member of a SevSnpVm request: the JSON
// {"SnpReport", "VcekCertChain", "Endorsements"} the Azure clients send
// (confidential-sidecar-containers, cvm-attestation-tools).
type Evidence struct {
	// Report is the ATTESTATION_REPORT (not yet parsed).
	Report []byte
	// Chain is the PEM bundle from VcekCertChain; nil when absent.
	Chain []byte
	// UVM holds the COSE_Sign1 UVM endorsements from Endorsements.Uvm.
	UVM [][]byte
}

// DecodeEvidence decodes the "report" JSON. It is lenient where clients
// differ (member names in any case, surrounding whitespace, base64 or
// base64url with or without padding, line breaks inside base64) and strict
// where ambiguity would be dangerous: a member given twice (names compared
// case-insensitively) is refused. It returns an error wrapping
// ErrMalformedRequest that names the member and what was wrong.
func DecodeEvidence(raw []byte) (*Evidence, error) {
	if len(raw) > MaxEvidenceSize {
		return nil, fmt.Errorf("%w: the decoded report is %d bytes, at most %d allowed", ErrMalformedRequest, len(raw), MaxEvidenceSize)
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: report must be base64url of a JSON object {\"SnpReport\", \"VcekCertChain\", \"Endorsements\"}", ErrMalformedRequest)
	}
	members, err := stringMembers(t, "report")
	if err != nil {
		return nil, err
	}
	ev := &Evidence{}
	s, ok := members["snpreport"]
	if !ok {
		return nil, fmt.Errorf("%w: the report JSON has no \"SnpReport\" member", ErrMalformedRequest)
	}
	if ev.Report, err = decodeB64(s); err != nil {
		return nil, fmt.Errorf("%w: SnpReport is not valid base64 or base64url: %v", ErrMalformedRequest, err)
	}
	if len(ev.Report) == 0 {
		return nil, fmt.Errorf("%w: SnpReport is empty", ErrMalformedRequest)
	}
	if s, ok := members["vcekcertchain"]; ok && s != "" {
		if ev.Chain, err = decodeB64(s); err != nil {
			return nil, fmt.Errorf("%w: VcekCertChain is not valid base64 or base64url: %v", ErrMalformedRequest, err)
		}
	}
	if s, ok := members["endorsements"]; ok && s != "" {
		if ev.UVM, err = decodeEndorsements(s); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// stringMembers reads a JSON object in one pass; names are folded to lower
// case. Duplicate names (compared case-insensitively; encoding/json would
// silently keep the last) and non-string values of known members are
// errors; other members are ignored.
func stringMembers(b []byte, what string) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	bad := func(err error) error {
		return fmt.Errorf("%w: the %s JSON does not parse: %v", ErrMalformedRequest, what, err)
	}
	if tok, err := dec.Token(); err != nil {
		return nil, bad(err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: the %s JSON is not an object", ErrMalformedRequest, what)
	}
	out := map[string]string{}
	seen := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		n, _ := tok.(string)
		f := strings.ToLower(n)
		if prev, dup := seen[f]; dup {
			return nil, fmt.Errorf("%w: the %s JSON has member %q twice (as %q and %q); send it once", ErrMalformedRequest, what, n, prev, n)
		}
		seen[f] = n
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad(err)
		}
		if len(v) > 0 && v[0] == 'n' { // null
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			switch f {
			case "snpreport", "vcekcertchain", "endorsements":
				return nil, fmt.Errorf("%w: %s member %q must be a base64 string", ErrMalformedRequest, what, n)
			}
			continue
		}
		out[f] = s
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: the %s JSON has data after the object", ErrMalformedRequest, what)
	}
	return out, nil
}

// topLevelNames lists the member names of a JSON object, duplicates kept.
func topLevelNames(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		n, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("member name is not a string")
		}
		names = append(names, n)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func decodeEndorsements(s string) ([][]byte, error) {
	j, err := decodeB64(s)
	if err != nil {
		return nil, fmt.Errorf("%w: Endorsements is not valid base64 or base64url: %v", ErrMalformedRequest, err)
	}
	t := bytes.TrimSpace(j)
	if len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: Endorsements must be base64 of a JSON object {\"Uvm\": [...]}", ErrMalformedRequest)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(t, &obj); err != nil {
		return nil, fmt.Errorf("%w: the Endorsements JSON does not parse: %v", ErrMalformedRequest, err)
	}
	names, err := topLevelNames(t)
	if err != nil {
		return nil, fmt.Errorf("%w: the Endorsements JSON does not parse: %v", ErrMalformedRequest, err)
	}
	seen := map[string]bool{}
	var uvmRaw json.RawMessage
	for _, n := range names {
		f := strings.ToLower(n)
		if seen[f] {
			return nil, fmt.Errorf("%w: the Endorsements JSON has member %q twice; send it once", ErrMalformedRequest, n)
		}
		seen[f] = true
		if f == "uvm" {
			uvmRaw = obj[n]
		}
	}
	if uvmRaw == nil {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(uvmRaw, &list); err != nil {
		return nil, fmt.Errorf("%w: Endorsements.Uvm must be an array of base64 strings", ErrMalformedRequest)
	}
	if len(list) > MaxUVMEndorsements {
		return nil, fmt.Errorf("%w: Endorsements.Uvm has %d entries, at most %d allowed", ErrMalformedRequest, len(list), MaxUVMEndorsements)
	}
	var out [][]byte
	for i, e := range list {
		b, err := decodeB64(e)
		if err != nil {
			return nil, fmt.Errorf("%w: Endorsements.Uvm[%d] is not valid base64 or base64url: %v", ErrMalformedRequest, i, err)
		}
		if len(b) > MaxEndorsementSize {
			return nil, fmt.Errorf("%w: Endorsements.Uvm[%d] is %d bytes, at most %d allowed", ErrMalformedRequest, i, len(b), MaxEndorsementSize)
		}
		out = append(out, b)
	}
	return out, nil
}

// decodeB64 accepts std or url alphabet, padded or not, with line breaks.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n\t ") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\r', '\n', '\t', ' ':
				return -1
			}
			return r
		}, s)
	}
	return jose.DecodeB64Loose(s)
}
