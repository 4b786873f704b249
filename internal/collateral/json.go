package collateral

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maat-attest/maat/internal/jsonstrict"
)

// MaxJSONSize bounds a TCB Info or Enclave Identity document. Real ones are
// 3–14 KB.
const MaxJSONSize = 256 << 10

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("malformed collateral")

// TCBStatus is a TCB level status string as Intel publishes it.
type TCBStatus string

// The TCB statuses Intel's QVL recognises.
const (
	UpToDate                          TCBStatus = "UpToDate"
	SWHardeningNeeded                 TCBStatus = "SWHardeningNeeded"
	ConfigurationNeeded               TCBStatus = "ConfigurationNeeded"
	ConfigurationAndSWHardeningNeeded TCBStatus = "ConfigurationAndSWHardeningNeeded"
	OutOfDate                         TCBStatus = "OutOfDate"
	OutOfDateConfigurationNeeded      TCBStatus = "OutOfDateConfigurationNeeded"
	Revoked                           TCBStatus = "Revoked"
)

// PossibleTCBStatusValues returns every TCBStatus.
func PossibleTCBStatusValues() []TCBStatus {
	return []TCBStatus{UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, OutOfDateConfigurationNeeded, Revoked}
}

func parseTCBStatus(s string, allowed ...TCBStatus) (TCBStatus, error) {
	for _, a := range allowed {
		if string(a) == s {
			return a, nil
		}
	}
	return "", malformed("unknown tcbStatus %q", s)
}

// Signed is a signed collateral document: the exact bytes of the signed JSON
// value and the 64-byte r||s ECDSA-P256 signature over them.
type Signed struct {
	Body      []byte
	Signature [64]byte
}

// TCBLevel is one level of a TCB Info.
type TCBLevel struct {
	SGXComponents [16]uint8
	// TDXComponents are the level's tdxtcbcomponents (TDX TCB Info only).
	TDXComponents [16]uint8
	PCESVN        uint16
	TCBDate       time.Time
	Status        TCBStatus
	AdvisoryIDs   []string
}

// TCBInfo is a parsed SGX TCB Info (version 2 or 3, id SGX).
type TCBInfo struct {
	Signed
	ID                      string // "SGX" (v3); empty for v2
	Version                 int
	IssueDate               time.Time
	NextUpdate              time.Time
	FMSPC                   [6]byte
	PCEID                   [2]byte
	TCBType                 int
	TCBEvaluationDataNumber int
	Levels                  []TCBLevel
	// TDXModule and TDXModuleIdentities are set for a TDX TCB Info only.
	TDXModule           *TDXModule
	TDXModuleIdentities []TDXModuleIdentity
}

// TDXModule is the tdxModule of a TDX TCB Info: the SEAM module signer and
// attributes a TD quote's MRSIGNERSEAM / SEAM_ATTRIBUTES must match.
type TDXModule struct {
	MRSigner       [48]byte
	Attributes     [8]byte
	AttributesMask [8]byte
}

// TDXModuleIdentity is one entry of tdxModuleIdentities: the module of
// major version N ("TDX_%02X") with its own TCB levels, keyed by ISVSVN
// (the TEE_TCB_SVN[0] minor SVN).
type TDXModuleIdentity struct {
	ID string
	TDXModule
	Levels []QELevel
}

// QELevel is one TCB level of an Enclave Identity.
type QELevel struct {
	ISVSVN      uint16
	TCBDate     time.Time
	Status      TCBStatus
	AdvisoryIDs []string
}

// EnclaveIdentity is a parsed Enclave Identity (version 2).
type EnclaveIdentity struct {
	Signed
	ID                      string // QE, QVE, QAE, TD_QE
	Version                 int
	IssueDate               time.Time
	NextUpdate              time.Time
	TCBEvaluationDataNumber int
	MiscSelect              [4]byte
	MiscSelectMask          [4]byte
	Attributes              [16]byte
	AttributesMask          [16]byte
	MRSigner                [32]byte
	ISVProdID               uint16
	Levels                  []QELevel
}

// splitSigned extracts the raw bytes of member name and the signature from
// {"<name>":{...},"signature":"<128 hex>"}.
func splitSigned(b []byte, name string) (Signed, error) {
	var s Signed
	if len(b) > MaxJSONSize {
		return s, malformed("document is %d bytes, over the %d-byte limit", len(b), MaxJSONSize)
	}
	// One pass: the whole document is validated (duplicate member names
	// refused, data after the object refused) and split into members.
	top, err := jsonstrict.DecodeObject(b)
	if err != nil {
		return s, malformed("not a JSON object: %v", err)
	}
	body, ok := top.Get(name)
	if !ok || len(body) == 0 || body[0] != '{' {
		return s, malformed("no %q object", name)
	}
	sigRaw, _ := top.Get("signature")
	var sig string
	if err := json.Unmarshal(sigRaw, &sig); err != nil {
		return s, malformed("no signature string")
	}
	if err := hexInto(s.Signature[:], sig, "signature"); err != nil {
		return s, err
	}
	s.Body = bytes.Clone(body)
	return s, nil
}

type jsonTCBComp struct {
	SVN *int `json:"svn"`
}

// jsonTCB accepts both the v3 form (sgxtcbcomponents) and the v2 form
// (sgxtcbcompNNsvn fields, kept in C).
type jsonTCB struct {
	SGXComponents []jsonTCBComp
	TDXComponents []jsonTCBComp
	PCESVN        *int
	C             [16]*int
}

type jsonModule struct {
	ID             *string `json:"id"`
	MRSigner       *string `json:"mrsigner"`
	Attributes     *string `json:"attributes"`
	AttributesMask *string `json:"attributesMask"`
	TCBLevels      []struct {
		TCB *struct {
			ISVSVN *int `json:"isvsvn"`
		} `json:"tcb"`
		TCBDate     *string  `json:"tcbDate"`
		TCBStatus   *string  `json:"tcbStatus"`
		AdvisoryIDs []string `json:"advisoryIDs"`
	} `json:"tcbLevels"`
}

func (j *jsonModule) parse(what string, withLevels bool) (TDXModuleIdentity, error) {
	var m TDXModuleIdentity
	for _, f := range []struct {
		p    *string
		dst  []byte
		name string
	}{
		{j.MRSigner, m.MRSigner[:], "mrsigner"},
		{j.Attributes, m.Attributes[:], "attributes"},
		{j.AttributesMask, m.AttributesMask[:], "attributesMask"},
	} {
		if f.p == nil {
			return m, malformed("%s: %s missing", what, f.name)
		}
		if err := hexInto(f.dst, *f.p, what+" "+f.name); err != nil {
			return m, err
		}
	}
	if !withLevels {
		return m, nil
	}
	if j.ID == nil || len(*j.ID) != 6 || !strings.HasPrefix(*j.ID, "TDX_") {
		return m, malformed("%s: id must be TDX_NN", what)
	}
	m.ID = *j.ID
	if len(j.TCBLevels) == 0 || len(j.TCBLevels) > 1024 {
		return m, malformed("%s: tcbLevels empty or too long", what)
	}
	for i, jl := range j.TCBLevels {
		var l QELevel
		if jl.TCB == nil || jl.TCB.ISVSVN == nil || *jl.TCB.ISVSVN < 0 || *jl.TCB.ISVSVN > 255 {
			return m, malformed("%s tcbLevels[%d]: isvsvn missing or out of range", what, i)
		}
		l.ISVSVN = uint16(*jl.TCB.ISVSVN)
		var err error
		if l.TCBDate, err = parseDate(jl.TCBDate, "tcbDate"); err != nil {
			return m, err
		}
		if jl.TCBStatus == nil {
			return m, malformed("%s tcbLevels[%d]: no tcbStatus", what, i)
		}
		if l.Status, err = parseTCBStatus(*jl.TCBStatus, UpToDate, OutOfDate, Revoked); err != nil {
			return m, err
		}
		l.AdvisoryIDs = jl.AdvisoryIDs
		m.Levels = append(m.Levels, l)
	}
	return m, nil
}

// compNames are the v2 component member names, sgxtcbcomp01svn to 16.
var compNames = func() (n [16]string) {
	for i := range n {
		n[i] = fmt.Sprintf("sgxtcbcomp%02dsvn", i+1)
	}
	return n
}()

// UnmarshalJSON reads either form, in one pass over the members (b is a
// valid JSON value: the enclosing Unmarshal checked it). Member names match
// case-insensitively, as encoding/json matches struct fields; a name given
// twice is refused.
func (t *jsonTCB) UnmarshalJSON(b []byte) error {
	return jsonstrict.EachMember(b, func(name, value []byte) (err error) {
		switch {
		case jsonstrict.EqualFold(name, "sgxtcbcomponents"):
			t.SGXComponents, err = decodeComponents(value)
		case jsonstrict.EqualFold(name, "tdxtcbcomponents"):
			t.TDXComponents, err = decodeComponents(value)
		case jsonstrict.EqualFold(name, "pcesvn"):
			t.PCESVN, err = decodeInt(value)
		default:
			for i, n := range compNames {
				if jsonstrict.EqualFold(name, n) {
					var v *int
					if v, err = decodeInt(value); err == nil && v != nil {
						t.C[i] = v
					} else if err == nil {
						t.C[i] = new(int) // null decodes as encoding/json does into an int: 0
					}
					break
				}
			}
		}
		return err
	})
}

// decodeComponents decodes a tcbcomponents array, [{"svn":N,...},...], as
// json.Unmarshal into []jsonTCBComp would (null is a nil slice; other
// members of an element are ignored), in one pass.
func decodeComponents(raw []byte) ([]jsonTCBComp, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	elems, err := jsonstrict.DecodeArray(raw)
	if err != nil {
		return nil, err
	}
	out := make([]jsonTCBComp, len(elems))
	svns := make([]int, len(elems)) // one allocation for every SVN
	for i, e := range elems {
		if string(e) == "null" {
			continue
		}
		err := jsonstrict.EachMember(e, func(name, value []byte) (err error) {
			if jsonstrict.EqualFold(name, "svn") {
				if n, ok := plainInt(value); ok {
					svns[i] = n
					out[i].SVN = &svns[i]
				} else {
					out[i].SVN, err = decodeInt(value)
				}
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("component %d: %w", i, err)
		}
	}
	return out, nil
}

// decodeInt decodes a JSON number into an *int as json.Unmarshal does (nil
// for null; an error for fractions, exponents and overflow), with a fast
// path for plain integers.
func decodeInt(raw []byte) (*int, error) {
	if n, ok := plainInt(raw); ok {
		return &n, nil
	}
	var p *int
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return p, nil
}

type jsonTCBInfo struct {
	ID                      *string        `json:"id"`
	Version                 *int           `json:"version"`
	IssueDate               *string        `json:"issueDate"`
	NextUpdate              *string        `json:"nextUpdate"`
	FMSPC                   *string        `json:"fmspc"`
	PCEID                   *string        `json:"pceId"`
	TCBType                 *int           `json:"tcbType"`
	TCBEvaluationDataNumber *int           `json:"tcbEvaluationDataNumber"`
	TDXModule               *jsonModule    `json:"tdxModule"`
	TDXModuleIdentities     []jsonModule   `json:"tdxModuleIdentities"`
	TCBLevels               []jsonTCBLevel `json:"tcbLevels"`
}

type jsonTCBLevel struct {
	TCB         *jsonTCB `json:"tcb"`
	TCBDate     *string  `json:"tcbDate"`
	TCBStatus   *string  `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs"`
}

// ParseTCBInfo parses a TCB Info document as Intel PCS serves it,
// {"tcbInfo":{...},"signature":"..."}: version 2, or version 3 with id
// "SGX"; tcbType 0; FMSPC, PCE-ID, dates, evaluation data number and a
// non-empty list of levels with 16 component SVNs (0..255), PCESVN and a
// known status. It checks structure only, not the signature. On failure it
// returns nil and an error wrapping ErrMalformed.
func ParseTCBInfo(b []byte) (*TCBInfo, error) { return parseTCBInfo(b, false) }

// ParseTDXTCBInfo parses a TDX TCB Info document as Intel PCS serves it at
// /tdx/certification/v4/tcb: version 3, id "TDX", everything ParseTCBInfo
// checks, plus tdxModule (mrsigner 48 bytes, attributes and mask 8 bytes
// each), optional tdxModuleIdentities (id TDX_NN, non-empty levels keyed by
// isvsvn with status UpToDate, OutOfDate or Revoked, no duplicate id) and 16
// tdxtcbcomponents in every level. It checks structure only, not the
// signature. On failure it returns nil and an error wrapping ErrMalformed.
func ParseTDXTCBInfo(b []byte) (*TCBInfo, error) { return parseTCBInfo(b, true) }

func parseTCBInfo(b []byte, tdx bool) (*TCBInfo, error) {
	s, err := splitSigned(b, "tcbInfo")
	if err != nil {
		return nil, err
	}
	var j jsonTCBInfo
	if err := decodeTCBInfoBody(s.Body, &j); err != nil {
		return nil, malformed("tcbInfo: %v", err)
	}
	return buildTCBInfo(s, &j, tdx)
}

// decodeTCBInfoBody fills j from the tcbInfo object as json.Unmarshal into
// jsonTCBInfo would (member names case-insensitive, unknown members
// ignored, null leaves a field unset), except that a member name given twice
// is refused rather than the last one winning. It is one pass over the
// members (jsonstrict) with hand decoders for the levels, the hot part of
// a cold SGX or TDX verification; TDX module members, small and rare, go
// through encoding/json. FuzzTCBInfoDecoderMatchesJSON holds it to
// json.Unmarshal.
func decodeTCBInfoBody(b []byte, j *jsonTCBInfo) error {
	return jsonstrict.EachMember(b, func(name, value []byte) (err error) {
		switch {
		case jsonstrict.EqualFold(name, "id"):
			j.ID, err = decodeString(value)
		case jsonstrict.EqualFold(name, "version"):
			j.Version, err = decodeInt(value)
		case jsonstrict.EqualFold(name, "issueDate"):
			j.IssueDate, err = decodeString(value)
		case jsonstrict.EqualFold(name, "nextUpdate"):
			j.NextUpdate, err = decodeString(value)
		case jsonstrict.EqualFold(name, "fmspc"):
			j.FMSPC, err = decodeString(value)
		case jsonstrict.EqualFold(name, "pceId"):
			j.PCEID, err = decodeString(value)
		case jsonstrict.EqualFold(name, "tcbType"):
			j.TCBType, err = decodeInt(value)
		case jsonstrict.EqualFold(name, "tcbEvaluationDataNumber"):
			j.TCBEvaluationDataNumber, err = decodeInt(value)
		case jsonstrict.EqualFold(name, "tdxModule"):
			err = json.Unmarshal(value, &j.TDXModule)
		case jsonstrict.EqualFold(name, "tdxModuleIdentities"):
			err = json.Unmarshal(value, &j.TDXModuleIdentities)
		case jsonstrict.EqualFold(name, "tcbLevels"):
			j.TCBLevels, err = decodeLevels(value)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// decodeLevels decodes the tcbLevels array (see decodeTCBInfoBody).
func decodeLevels(raw []byte) ([]jsonTCBLevel, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	elems, err := jsonstrict.DecodeArray(raw)
	if err != nil {
		return nil, err
	}
	out := make([]jsonTCBLevel, len(elems))
	for i, e := range elems {
		if string(e) == "null" {
			continue
		}
		l := &out[i]
		err := jsonstrict.EachMember(e, func(name, value []byte) (err error) {
			switch {
			case jsonstrict.EqualFold(name, "tcb"):
				if string(value) != "null" {
					l.TCB = new(jsonTCB)
					err = l.TCB.UnmarshalJSON(value)
				}
			case jsonstrict.EqualFold(name, "tcbDate"):
				l.TCBDate, err = decodeString(value)
			case jsonstrict.EqualFold(name, "tcbStatus"):
				l.TCBStatus, err = decodeString(value)
			case jsonstrict.EqualFold(name, "advisoryIDs"):
				l.AdvisoryIDs, err = decodeStrings(value)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return out, nil
}

// plainInt parses a JSON integer of at most 18 digits (optionally
// negative); ok is false for anything else, which the caller decodes with
// encoding/json.
func plainInt(raw []byte) (n int, ok bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	d := raw
	if neg {
		d = raw[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return 0, false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// plainString reports whether raw is a JSON string whose contents need no
// decoding: no escapes, valid UTF-8 (encoding/json would replace invalid
// bytes with U+FFFD).
func plainString(raw []byte) bool {
	n := len(raw)
	return n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
}

// decodeString decodes a JSON string as json.Unmarshal into *string does
// (nil for null), with a fast path for strings without escapes.
func decodeString(raw []byte) (*string, error) {
	if plainString(raw) {
		s := string(raw[1 : len(raw)-1])
		return &s, nil
	}
	var p *string
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeStrings decodes a JSON array of strings as json.Unmarshal into
// []string does.
func decodeStrings(raw []byte) ([]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	elems, err := jsonstrict.DecodeArray(raw)
	if err != nil {
		return nil, err
	}
	// One string holds the whole array; plain elements are substrings of
	// it (elements are subslices of raw, at offset cap(raw)-cap(e)).
	whole := string(raw)
	out := make([]string, len(elems))
	for i, e := range elems {
		if plainString(e) {
			off := cap(raw) - cap(e)
			out[i] = whole[off+1 : off+len(e)-1]
			continue
		}
		p, err := decodeString(e)
		if err != nil {
			return nil, err
		}
		if p != nil {
			out[i] = *p
		}
	}
	return out, nil
}

// buildTCBInfo checks the decoded members and builds the TCB Info.
func buildTCBInfo(s Signed, j *jsonTCBInfo, tdx bool) (*TCBInfo, error) {
	var err error
	t := &TCBInfo{Signed: s}
	if j.Version == nil || (*j.Version != 2 && *j.Version != 3) {
		return nil, malformed("tcbInfo version must be 2 or 3")
	}
	t.Version = *j.Version
	if tdx {
		if t.Version != 3 || j.ID == nil || *j.ID != "TDX" {
			return nil, malformed("TDX tcbInfo must be version 3 with id TDX")
		}
		t.ID = *j.ID
		if j.TDXModule == nil {
			return nil, malformed("TDX tcbInfo has no tdxModule")
		}
		m, err := j.TDXModule.parse("tdxModule", false)
		if err != nil {
			return nil, err
		}
		t.TDXModule = &m.TDXModule
		if len(j.TDXModuleIdentities) > 256 {
			return nil, malformed("too many tdxModuleIdentities")
		}
		ids := map[string]bool{}
		for i := range j.TDXModuleIdentities {
			mi, err := j.TDXModuleIdentities[i].parse(fmt.Sprintf("tdxModuleIdentities[%d]", i), true)
			if err != nil {
				return nil, err
			}
			if ids[mi.ID] {
				return nil, malformed("tdxModuleIdentities: duplicate id %s", mi.ID)
			}
			ids[mi.ID] = true
			t.TDXModuleIdentities = append(t.TDXModuleIdentities, mi)
		}
	} else if t.Version == 3 {
		if j.ID == nil || *j.ID != "SGX" {
			return nil, malformed("tcbInfo v3 id must be SGX")
		}
		t.ID = *j.ID
		if j.TDXModule != nil || j.TDXModuleIdentities != nil {
			return nil, malformed("SGX tcbInfo has TDX module fields")
		}
	} else if j.ID != nil {
		return nil, malformed("tcbInfo v2 has an id")
	}
	if t.IssueDate, err = parseDate(j.IssueDate, "issueDate"); err != nil {
		return nil, err
	}
	if t.NextUpdate, err = parseDate(j.NextUpdate, "nextUpdate"); err != nil {
		return nil, err
	}
	if j.FMSPC == nil || hexInto(t.FMSPC[:], *j.FMSPC, "fmspc") != nil {
		return nil, malformed("fmspc must be 12 hex digits")
	}
	if j.PCEID == nil || hexInto(t.PCEID[:], *j.PCEID, "pceId") != nil {
		return nil, malformed("pceId must be 4 hex digits")
	}
	if j.TCBType == nil || *j.TCBType != 0 {
		return nil, malformed("tcbType must be 0")
	}
	if j.TCBEvaluationDataNumber == nil || *j.TCBEvaluationDataNumber < 0 {
		return nil, malformed("tcbEvaluationDataNumber missing")
	}
	t.TCBEvaluationDataNumber = *j.TCBEvaluationDataNumber
	if len(j.TCBLevels) == 0 {
		return nil, malformed("tcbLevels empty")
	}
	if len(j.TCBLevels) > 1024 {
		return nil, malformed("too many tcbLevels")
	}
	seen := map[[34]uint16]bool{}
	for i, jl := range j.TCBLevels {
		var l TCBLevel
		if jl.TCB == nil {
			return nil, malformed("tcbLevels[%d]: no tcb", i)
		}
		for c := 0; c < 16; c++ {
			var p *int
			if t.Version == 3 {
				if len(jl.TCB.SGXComponents) != 16 {
					return nil, malformed("tcbLevels[%d]: want 16 sgxtcbcomponents", i)
				}
				p = jl.TCB.SGXComponents[c].SVN
			} else {
				p = jl.TCB.C[c]
			}
			if p == nil || *p < 0 || *p > 255 {
				return nil, malformed("tcbLevels[%d]: component %d SVN missing or out of range", i, c+1)
			}
			l.SGXComponents[c] = uint8(*p)
		}
		if tdx {
			if len(jl.TCB.TDXComponents) != 16 {
				return nil, malformed("tcbLevels[%d]: want 16 tdxtcbcomponents", i)
			}
			for c := 0; c < 16; c++ {
				p := jl.TCB.TDXComponents[c].SVN
				if p == nil || *p < 0 || *p > 255 {
					return nil, malformed("tcbLevels[%d]: TDX component %d SVN missing or out of range", i, c+1)
				}
				l.TDXComponents[c] = uint8(*p)
			}
		}
		if jl.TCB.PCESVN == nil || *jl.TCB.PCESVN < 0 || *jl.TCB.PCESVN > 65535 {
			return nil, malformed("tcbLevels[%d]: pcesvn missing or out of range", i)
		}
		l.PCESVN = uint16(*jl.TCB.PCESVN)
		if l.TCBDate, err = parseDate(jl.TCBDate, "tcbDate"); err != nil {
			return nil, err
		}
		if jl.TCBStatus == nil {
			return nil, malformed("tcbLevels[%d]: no tcbStatus", i)
		}
		if l.Status, err = parseTCBStatus(*jl.TCBStatus, PossibleTCBStatusValues()...); err != nil {
			return nil, err
		}
		l.AdvisoryIDs = jl.AdvisoryIDs
		var k [34]uint16
		for c := 0; c < 16; c++ {
			k[c] = uint16(l.SGXComponents[c])
			k[17+c] = uint16(l.TDXComponents[c])
		}
		k[16] = l.PCESVN
		if seen[k] {
			return nil, malformed("tcbLevels[%d]: duplicate level", i)
		}
		seen[k] = true
		t.Levels = append(t.Levels, l)
	}
	return t, nil
}

type jsonIdentity struct {
	ID                      *string `json:"id"`
	Version                 *int    `json:"version"`
	IssueDate               *string `json:"issueDate"`
	NextUpdate              *string `json:"nextUpdate"`
	TCBEvaluationDataNumber *int    `json:"tcbEvaluationDataNumber"`
	MiscSelect              *string `json:"miscselect"`
	MiscSelectMask          *string `json:"miscselectMask"`
	Attributes              *string `json:"attributes"`
	AttributesMask          *string `json:"attributesMask"`
	MRSigner                *string `json:"mrsigner"`
	ISVProdID               *int    `json:"isvprodid"`
	TCBLevels               []struct {
		TCB *struct {
			ISVSVN *int `json:"isvsvn"`
		} `json:"tcb"`
		TCBDate     *string  `json:"tcbDate"`
		TCBStatus   *string  `json:"tcbStatus"`
		AdvisoryIDs []string `json:"advisoryIDs"`
	} `json:"tcbLevels"`
}

// ParseEnclaveIdentity parses an Enclave Identity document as Intel PCS
// serves it, {"enclaveIdentity":{...},"signature":"..."}: version 2, id one
// of QE, QVE, QAE, TD_QE, every field present with its exact hex length,
// non-empty levels with a known status. It checks structure only, not the
// signature. On failure it returns nil and an error wrapping ErrMalformed.
func ParseEnclaveIdentity(b []byte) (*EnclaveIdentity, error) {
	s, err := splitSigned(b, "enclaveIdentity")
	if err != nil {
		return nil, err
	}
	var j jsonIdentity
	if err := json.Unmarshal(s.Body, &j); err != nil {
		return nil, malformed("enclaveIdentity: %v", err)
	}
	e := &EnclaveIdentity{Signed: s}
	if j.Version == nil || *j.Version != 2 {
		return nil, malformed("enclaveIdentity version must be 2")
	}
	e.Version = 2
	if j.ID == nil {
		return nil, malformed("enclaveIdentity has no id")
	}
	switch *j.ID {
	case "QE", "QVE", "QAE", "TD_QE":
		e.ID = *j.ID
	default:
		return nil, malformed("enclaveIdentity id %q unknown", *j.ID)
	}
	if e.IssueDate, err = parseDate(j.IssueDate, "issueDate"); err != nil {
		return nil, err
	}
	if e.NextUpdate, err = parseDate(j.NextUpdate, "nextUpdate"); err != nil {
		return nil, err
	}
	if j.TCBEvaluationDataNumber == nil || *j.TCBEvaluationDataNumber < 0 {
		return nil, malformed("tcbEvaluationDataNumber missing")
	}
	e.TCBEvaluationDataNumber = *j.TCBEvaluationDataNumber
	for _, f := range []struct {
		p    *string
		dst  []byte
		name string
	}{
		{j.MiscSelect, e.MiscSelect[:], "miscselect"},
		{j.MiscSelectMask, e.MiscSelectMask[:], "miscselectMask"},
		{j.Attributes, e.Attributes[:], "attributes"},
		{j.AttributesMask, e.AttributesMask[:], "attributesMask"},
		{j.MRSigner, e.MRSigner[:], "mrsigner"},
	} {
		if f.p == nil {
			return nil, malformed("%s missing", f.name)
		}
		if err := hexInto(f.dst, *f.p, f.name); err != nil {
			return nil, err
		}
	}
	if j.ISVProdID == nil || *j.ISVProdID < 0 || *j.ISVProdID > 65535 {
		return nil, malformed("isvprodid missing or out of range")
	}
	e.ISVProdID = uint16(*j.ISVProdID)
	if len(j.TCBLevels) == 0 || len(j.TCBLevels) > 1024 {
		return nil, malformed("tcbLevels empty or too long")
	}
	for i, jl := range j.TCBLevels {
		var l QELevel
		if jl.TCB == nil || jl.TCB.ISVSVN == nil || *jl.TCB.ISVSVN < 0 || *jl.TCB.ISVSVN > 65535 {
			return nil, malformed("tcbLevels[%d]: isvsvn missing or out of range", i)
		}
		l.ISVSVN = uint16(*jl.TCB.ISVSVN)
		if l.TCBDate, err = parseDate(jl.TCBDate, "tcbDate"); err != nil {
			return nil, err
		}
		if jl.TCBStatus == nil {
			return nil, malformed("tcbLevels[%d]: no tcbStatus", i)
		}
		if l.Status, err = parseTCBStatus(*jl.TCBStatus, UpToDate, OutOfDate, Revoked, ConfigurationNeeded, OutOfDateConfigurationNeeded); err != nil {
			return nil, err
		}
		l.AdvisoryIDs = jl.AdvisoryIDs
		e.Levels = append(e.Levels, l)
	}
	return e, nil
}

// EvalNumOf returns the tcbEvaluationDataNumber of a TCB Info or Enclave
// Identity document without parsing the rest. It returns an error wrapping
// ErrMalformed when there is none.
func EvalNumOf(b []byte, member string) (int, error) {
	s, err := splitSigned(b, member)
	if err != nil {
		return 0, err
	}
	var j struct {
		N *int `json:"tcbEvaluationDataNumber"`
	}
	if err := json.Unmarshal(s.Body, &j); err != nil || j.N == nil || *j.N < 0 {
		return 0, malformed("%s: no tcbEvaluationDataNumber", member)
	}
	return *j.N, nil
}

// NextUpdateOf returns the nextUpdate of a TCB Info or Enclave Identity
// document without parsing the rest. It returns an error wrapping
// ErrMalformed when there is none.
func NextUpdateOf(b []byte, member string) (time.Time, error) {
	s, err := splitSigned(b, member)
	if err != nil {
		return time.Time{}, err
	}
	var j struct {
		NextUpdate *string `json:"nextUpdate"`
	}
	if err := json.Unmarshal(s.Body, &j); err != nil {
		return time.Time{}, malformed("%s: %v", member, err)
	}
	return parseDate(j.NextUpdate, "nextUpdate")
}

func parseDate(p *string, name string) (time.Time, error) {
	if p == nil {
		return time.Time{}, malformed("%s missing", name)
	}
	t, err := time.Parse(time.RFC3339, *p)
	if err != nil {
		return time.Time{}, malformed("%s %q is not an RFC 3339 date", name, *p)
	}
	return t.UTC(), nil
}

func hexInto(dst []byte, s, name string) error {
	if len(s) != 2*len(dst) {
		return malformed("%s must be %d hex digits", name, 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return malformed("%s is not hex", name)
	}
	return nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// normFMSPC returns s upper-cased, or an error when it is not 12 hex digits.
func normFMSPC(s string) (string, error) {
	var b [6]byte
	if err := hexInto(b[:], s, "fmspc"); err != nil {
		return "", err
	}
	return strings.ToUpper(s), nil
}

// TCBEvalNum is one entry of Intel's TCB evaluation data numbers list.
type TCBEvalNum struct {
	Number            int
	RecoveryEventDate time.Time
	TCBDate           time.Time
}

// TCBEvalNums is Intel's signed list of the TCB evaluation data numbers
// (TCB baselines) PCS serves for SGX or TDX.
type TCBEvalNums struct {
	Signed
	ID         string // "SGX" or "TDX"
	Version    int
	IssueDate  time.Time
	NextUpdate time.Time
	Numbers    []TCBEvalNum
}

// ParseTCBEvalNums parses {"tcbEvaluationDataNumbers":{...},"signature":"..."}
// as PCS serves it at .../tcbevaluationdatanumbers: version 1, id SGX or
// TDX, dates, and a non-empty list of distinct positive numbers with their
// tcbRecoveryEventDate and tcbDate. It checks structure only, not the
// signature. On failure it returns nil and an error wrapping ErrMalformed.
func ParseTCBEvalNums(b []byte) (*TCBEvalNums, error) {
	s, err := splitSigned(b, "tcbEvaluationDataNumbers")
	if err != nil {
		return nil, err
	}
	var j struct {
		ID         *string `json:"id"`
		Version    *int    `json:"version"`
		IssueDate  *string `json:"issueDate"`
		NextUpdate *string `json:"nextUpdate"`
		Numbers    []struct {
			N        *int    `json:"tcbEvaluationDataNumber"`
			Recovery *string `json:"tcbRecoveryEventDate"`
			TCBDate  *string `json:"tcbDate"`
		} `json:"tcbEvalNumbers"`
	}
	if err := json.Unmarshal(s.Body, &j); err != nil {
		return nil, malformed("tcbEvaluationDataNumbers: %v", err)
	}
	e := &TCBEvalNums{Signed: s}
	if j.Version == nil || *j.Version != 1 {
		return nil, malformed("tcbEvaluationDataNumbers version must be 1")
	}
	e.Version = 1
	if j.ID == nil || (*j.ID != "SGX" && *j.ID != "TDX") {
		return nil, malformed("tcbEvaluationDataNumbers id must be SGX or TDX")
	}
	e.ID = *j.ID
	if e.IssueDate, err = parseDate(j.IssueDate, "issueDate"); err != nil {
		return nil, err
	}
	if e.NextUpdate, err = parseDate(j.NextUpdate, "nextUpdate"); err != nil {
		return nil, err
	}
	if len(j.Numbers) == 0 || len(j.Numbers) > 1024 {
		return nil, malformed("tcbEvalNumbers empty or too long")
	}
	seen := map[int]bool{}
	for i, jn := range j.Numbers {
		if jn.N == nil || *jn.N <= 0 || seen[*jn.N] {
			return nil, malformed("tcbEvalNumbers[%d]: tcbEvaluationDataNumber missing, not positive or repeated", i)
		}
		seen[*jn.N] = true
		n := TCBEvalNum{Number: *jn.N}
		if n.RecoveryEventDate, err = parseDate(jn.Recovery, "tcbRecoveryEventDate"); err != nil {
			return nil, err
		}
		if n.TCBDate, err = parseDate(jn.TCBDate, "tcbDate"); err != nil {
			return nil, err
		}
		e.Numbers = append(e.Numbers, n)
	}
	return e, nil
}
