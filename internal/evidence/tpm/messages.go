package tpm

import (
	"encoding/json"

	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

// MessageKind says which protocol message DecodeMessage found.
type MessageKind int

// Message kinds.
const (
	KindInit    MessageKind = iota + 1 // {"payload":{"type":"aikcert"}}
	KindRequest                        // {"payload":{"request":"<JWS>"}} (or {"request":"<JWS>"})
)

// Message is a decoded client message.
type Message struct {
	Kind MessageKind
	// Request is the compact JWS of a Request message.
	Request string
}

// The wire types below are the JSON of the protocol (see
// virtualization-based-security-protocol.md and PROTOCOL.md). They are
// exported so that a client (the CLI, tests) builds exactly what the service
// parses.

// RequestPayload is the JWS payload of a Request message.
type RequestPayload struct {
	AttType string   `json:"att_type"`
	AttData *AttData `json:"att_data"`
}

// AttData is att_data of a basic v2 request.
type AttData struct {
	RPID           string        `json:"rp_id,omitempty"`
	RPData         string        `json:"rp_data,omitempty"`
	Challenge      string        `json:"challenge"`
	TPMAttData     *TPMAttData   `json:"tpm_att_data,omitempty"`
	RequestKey     *KeyObject    `json:"request_key,omitempty"`
	OtherKeys      []KeyObject   `json:"other_keys,omitempty"`
	CustomClaims   []CustomClaim `json:"custom_claims,omitempty"`
	ServiceContext string        `json:"service_context"`

	// Present only in v1 requests; used to reject them clearly.
	AttestKey    json.RawMessage `json:"attest_key,omitempty"`
	ReportSigned json.RawMessage `json:"report_signed,omitempty"`
}

// TPMAttData is tpm_att_data of a v2 request.
type TPMAttData struct {
	CurrentAttestation *Attestation `json:"current_attestation,omitempty"`
	BootAttestation    *Attestation `json:"boot_attestation,omitempty"`

	// v1 fields, used to reject v1 requests clearly.
	CurrentClaim string `json:"current_claim,omitempty"`
	SRTMBootLog  string `json:"srtm_boot_log,omitempty"`
}

// Attestation is current_attestation or boot_attestation.
type Attestation struct {
	Logs      []Log           `json:"logs,omitempty"`
	AIKCert   string          `json:"aik_cert,omitempty"`
	AIKPub    json.RawMessage `json:"aik_pub,omitempty"`
	PCRs      []PCRBank       `json:"pcrs"`
	Quote     string          `json:"quote"`
	Signature string          `json:"signature"`
}

// Log is one measurement log; Type is "TCG" (IMA is not supported).
type Log struct {
	Type string `json:"type"`
	Log  string `json:"log"`
}

// PCRBank is one quoted bank: a TPM_ALG_ID and the quoted values.
type PCRBank struct {
	Algorithm uint16     `json:"algorithm"`
	Values    []PCRValue `json:"values"`
}

// PCRValue is one quoted PCR.
type PCRValue struct {
	Index  int    `json:"index"`
	Digest string `json:"digest"`
}

// KeyObject is request_key or an element of other_keys. JWK keeps the exact
// bytes received, because the tpm_quote binding hashes them.
type KeyObject struct {
	JWK  json.RawMessage `json:"jwk"`
	Info *KeyInfo        `json:"info,omitempty"`
}

// KeyInfo says how a key is bound to the TPM.
type KeyInfo struct {
	TPMQuote   *TPMQuoteBinding   `json:"tpm_quote,omitempty"`
	TPMCertify *TPMCertifyBinding `json:"tpm_certify,omitempty"`
}

// TPMQuoteBinding: qualifyingData = HASH(UTF8(jwk) || 0x00 || challenge).
type TPMQuoteBinding struct {
	HashAlg string `json:"hash_alg"`
}

// TPMCertifyBinding: TPM2_Certify of the key by the AIK with qualifyingData =
// challenge.
type TPMCertifyBinding struct {
	Public        string `json:"public"`
	Certification string `json:"certification"`
	Signature     string `json:"signature"`
}

// CustomClaim is one attester-supplied claim.
type CustomClaim struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	ValueType string `json:"value_type"`
}

type envelope struct {
	Payload *struct {
		Type    *string `json:"type"`
		Request *string `json:"request"`
	} `json:"payload"`
	Request *string `json:"request"`
}

// DecodeMessage decodes a client message (the bytes inside "data"). It
// returns InvalidParameter for malformed JSON, an unknown Init type, or a
// message that is neither Init nor Request, and PayloadTooLarge above
// DefaultMaxMessageBytes.
func DecodeMessage(data []byte) (*Message, error) {
	if len(data) > DefaultMaxMessageBytes {
		return nil, maaerr.New(maaerr.PayloadTooLarge, "TPM protocol message of %d bytes exceeds the limit of %d", len(data), DefaultMaxMessageBytes)
	}
	// Decoded into structs, whose field matching ignores case: a member
	// given twice (in any case) would have two meanings.
	if err := jsonstrict.Check(data, true, 32); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "malformed TPM protocol message: %v", err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "malformed TPM protocol message")
	}
	switch {
	case env.Payload != nil && env.Payload.Type != nil:
		if *env.Payload.Type != "aikcert" {
			return nil, maaerr.New(maaerr.InvalidParameter, "unsupported Init message type %q: only \"aikcert\" is supported", *env.Payload.Type)
		}
		return &Message{Kind: KindInit}, nil
	case env.Payload != nil && env.Payload.Request != nil:
		return &Message{Kind: KindRequest, Request: *env.Payload.Request}, nil
	case env.Request != nil:
		return &Message{Kind: KindRequest, Request: *env.Request}, nil
	}
	return nil, maaerr.New(maaerr.InvalidParameter, "TPM protocol message is neither Init ({\"payload\":{\"type\":\"aikcert\"}}) nor Request ({\"payload\":{\"request\":JWS}})")
}

// EncodeReport returns the Report message {"payload":{"report": token}} for
// the HTTP layer to base64url-encode into "data".
func EncodeReport(token string) []byte {
	b, _ := json.Marshal(map[string]any{"payload": map[string]string{"report": token}})
	return b
}
