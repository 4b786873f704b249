package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

// jwsFromBody accepts a compact JWS sent raw (text/plain, as MAA's
// clients do) or as a JSON string literal, and bounds its size.
func jwsFromBody(body []byte) (string, error) {
	if len(body) > attestation.MaxPolicyJWSBytes {
		return "", maaerr.New(maaerr.InvalidParameter, "The JWS of %d bytes exceeds the limit of %d bytes.", len(body), attestation.MaxPolicyJWSBytes)
	}
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed JWT: the body is neither a compact JWS nor a JSON string holding one.")
		}
		return strings.TrimSpace(s), nil
	}
	return string(b), nil
}

// certificateJWSFromBody decodes an add/remove body: a JSON string literal
// holding the JWS (2020-10-01/2022-08-01), the raw JWS, or the 2025-06-01
// object {"policyCertificateToAdd"|"policyCertificateToRemove": JWS}.
func certificateJWSFromBody(body []byte, objectKey string) (string, error) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '{' {
		obj, err := jsonstrict.DecodeObject(b)
		var dup *jsonstrict.DuplicateError
		if errors.As(err, &dup) {
			return "", maaerr.New(maaerr.InvalidParameter, "The request body is ambiguous: %s; send each member once.", clip(dup.Error()))
		}
		if err != nil {
			return "", maaerr.Wrap(err, maaerr.InvalidOperation, "Malformed request body: %v", err)
		}
		v, ok := obj.Get(objectKey)
		if !ok {
			return "", maaerr.New(maaerr.InvalidOperation, "The request body has no \"%s\" member.", objectKey)
		}
		return jwsFromBody(v)
	}
	return jwsFromBody(b)
}
