package httpapi

// The decoder the one-pass decoder replaced (lowerObject over a Go map,
// json.Unmarshal per member), kept here only as the reference of
// FuzzDecoderMatchesOld: for every body with each member once, the new
// decoder must give the old decoder's result, or refuse only what it
// refuses on purpose (duplicates, an oversized nonce, empty data).

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

func oldDecodeAttestRequest(typ evidence.Type, body []byte) (attestation.Request, error) {
	req := attestation.Request{Type: typ}
	fields, err := oldLowerObject(body, "request body")
	if err != nil {
		return req, err
	}
	evidenceName := "quote"
	if typ == evidence.OpenEnclave {
		evidenceName = "report"
	}
	raw, ok := fields[evidenceName]
	if !ok {
		return req, maaerr.New(maaerr.InvalidParameter, "The request has no \"%s\".", evidenceName)
	}
	if req.Evidence, err = oldB64Field(raw, evidenceName); err != nil {
		return req, err
	}
	if len(req.Evidence) == 0 {
		return req, maaerr.New(maaerr.InvalidParameter, "The \"%s\" is empty.", evidenceName)
	}
	if raw, ok := fields["runtimedata"]; ok && !oldIsNull(raw) {
		if req.RuntimeData, err = oldDecodeData(raw, "runtimeData"); err != nil {
			return req, err
		}
	}
	if raw, ok := fields["inittimedata"]; ok && !oldIsNull(raw) {
		if req.InitTimeData, err = oldDecodeData(raw, "initTimeData"); err != nil {
			return req, err
		}
	}
	if raw, ok := fields["draftpolicyforattestation"]; ok && !oldIsNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return req, maaerr.New(maaerr.InvalidParameter, "\"draftPolicyForAttestation\" must be a string.")
		}
		req.DraftPolicy = &s
	}
	if raw, ok := fields["nonce"]; ok && !oldIsNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(raw, &n); err != nil {
				return req, maaerr.New(maaerr.InvalidParameter, "\"nonce\" must be a string or a number.")
			}
			s = n.String()
		}
		req.Nonce = &s
	}
	return req, nil
}

func oldIsNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// lowerObject decodes a JSON object into a map keyed by lower-cased member
// names. It returns InvalidParameter when body is not a JSON object.
func oldLowerObject(body []byte, what string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "The %s is not a JSON object.", what)
	}
	out := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		out[strings.ToLower(k)] = v
	}
	return out, nil
}

func oldB64Field(raw json.RawMessage, name string) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" must be a base64url string.", name)
	}
	b, err := jose.DecodeB64Loose(s)
	if err != nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" is not valid base64url or base64.", name)
	}
	return b, nil
}

func oldDecodeData(raw json.RawMessage, name string) (*attestation.Data, error) {
	fields, err := oldLowerObject(raw, "\""+name+"\"")
	if err != nil {
		return nil, err
	}
	d := &attestation.Data{}
	dataRaw, ok := fields["data"]
	if !ok {
		return nil, maaerr.New(maaerr.InvalidParameter, "\"%s\" has no \"data\".", name)
	}
	if d.Bytes, err = oldB64Field(dataRaw, name+".data"); err != nil {
		return nil, err
	}
	if dt, ok := fields["datatype"]; ok && !oldIsNull(dt) {
		var s string
		if err := json.Unmarshal(dt, &s); err != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s.dataType\" must be \"Binary\" or \"JSON\".", name)
		}
		switch strings.ToLower(s) {
		case "binary":
		case "json":
			d.JSON = true
		default:
			return nil, maaerr.New(maaerr.InvalidParameter, "\"%s.dataType\" is '%s'; it must be \"Binary\" or \"JSON\".", name, s)
		}
	}
	return d, nil
}
