package azureguest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

// MaxInfoBytes bounds the decoded AttestationInfo: a TCG log may be 2 MiB
// (4/3 of it in base64), everything else is a few KiB.
const MaxInfoBytes = 4 << 20

// ErrMalformed is wrapped by every AttestationInfo decoding error.
var ErrMalformed = errors.New("malformed AttestationInfo")

// IsolationType is IsolationInfo.Type.
type IsolationType string

// Isolation types Azure's clients send.
const (
	SevSnp        IsolationType = "SevSnp"
	Tdx           IsolationType = "Tdx"
	TrustedLaunch IsolationType = "TrustedLaunch"
)

// AttestationInfo is the decoded AttestationInfo JSON of an AzureGuest
// request (contract §5.1). Binary members are decoded from base64; nothing
// is verified.
type AttestationInfo struct {
	ProtocolVersion string
	// OSType, OSDistro, OSBuild are the decoded strings ("Linux", "Ubuntu",
	// "NotApplication").
	OSType, OSDistro, OSBuild      string
	OSVersionMajor, OSVersionMinor int64
	TcgLogs                        []byte
	// ClientPayload is the ClientPayload object as sent (values still
	// base64), nil when absent.
	ClientPayload map[string]any
	TPM           TPMInfo
	Isolation     Isolation
}

// TPMInfo is AttestationInfo.TpmInfo.
type TPMInfo struct {
	AikCert, AikPub                                          []byte
	PcrQuote, PcrSignature                                   []byte
	PcrSet                                                   []int
	PCRs                                                     map[int][]byte
	EncKeyPub, EncKeyCertifyInfo, EncKeyCertifyInfoSignature []byte
}

// Isolation is AttestationInfo.IsolationInfo: Proof is the SNP evidence
// JSON {"SnpReport", "VcekCertChain"} or the TD quote; RunTimeData the HCL
// runtime claims. Both are nil for TrustedLaunch.
type Isolation struct {
	Type               IsolationType
	Proof, RunTimeData []byte
}

func malformed(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return maaerr.Wrap(ErrMalformed, maaerr.InvalidParameter, "AttestationInfo: %s", msg)
}

// object decodes a JSON object with case-insensitive, non-repeating member
// names.
func object(raw []byte, what string) (jsonstrict.Object, error) {
	o, err := jsonstrict.DecodeObject(raw)
	if err != nil {
		return nil, malformed("%s is not a JSON object with distinct members: %v", what, err)
	}
	return o, nil
}

func str(o jsonstrict.Object, name, what string, required bool) (string, bool, error) {
	raw, ok := o.Get(name)
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if required {
			return "", false, malformed("%s has no %q", what, name)
		}
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, malformed("%s.%s must be a string", what, name)
	}
	return s, true, nil
}

func b64(o jsonstrict.Object, name, what string, required bool) ([]byte, error) {
	s, ok, err := str(o, name, what, required)
	if err != nil || !ok {
		return nil, err
	}
	b, err := jose.DecodeB64Loose(s)
	if err != nil {
		return nil, malformed("%s.%s is not base64 or base64url", what, name)
	}
	if required && len(b) == 0 {
		return nil, malformed("%s.%s is empty", what, name)
	}
	return b, nil
}

func integer(o jsonstrict.Object, name, what string) (int64, error) {
	raw, ok := o.Get(name)
	if !ok {
		return 0, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, malformed("%s.%s must be a number", what, name)
	}
	var n json.Number
	switch x := v.(type) {
	case json.Number:
		n = x
	case string:
		n = json.Number(strings.TrimSpace(x))
	default:
		return 0, malformed("%s.%s must be a number", what, name)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, malformed("%s.%s must be an integer, got %q", what, name, clip(string(n)))
	}
	return i, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// DecodeAttestationInfo decodes the AttestationInfo JSON (the request
// member, already decoded from its base64). Member names match in any case
// and may not repeat; every binary field is base64 or base64url, padded or
// not, each independently (Azure's clients differ). It checks the shape
// only: AttestationProtocolVersion 1.0 or 2.0, the TPM members present, PCR
// indices distinct, IsolationInfo.Evidence present unless TrustedLaunch. It
// returns an InvalidParameter *maaerr.Error wrapping ErrMalformed naming
// the member otherwise.
func DecodeAttestationInfo(raw []byte) (*AttestationInfo, error) {
	if len(raw) > MaxInfoBytes {
		return nil, malformed("%d bytes, more than the %d allowed", len(raw), MaxInfoBytes)
	}
	top, err := object(raw, "the document")
	if err != nil {
		return nil, err
	}
	info := &AttestationInfo{}
	const w = "AttestationInfo"
	if info.ProtocolVersion, _, err = str(top, "AttestationProtocolVersion", w, true); err != nil {
		return nil, err
	}
	if info.ProtocolVersion != "1.0" && info.ProtocolVersion != "2.0" {
		return nil, malformed("AttestationProtocolVersion is %q; want \"1.0\" or \"2.0\"", clip(info.ProtocolVersion))
	}
	for name, dst := range map[string]*string{"OSType": &info.OSType, "OSDistro": &info.OSDistro, "OSBuild": &info.OSBuild} {
		b, err := b64(top, name, w, false)
		if err != nil {
			return nil, err
		}
		*dst = strings.TrimRight(string(b), "\x00")
	}
	if info.OSVersionMajor, err = integer(top, "OSVersionMajor", w); err != nil {
		return nil, err
	}
	if info.OSVersionMinor, err = integer(top, "OSVersionMinor", w); err != nil {
		return nil, err
	}
	if info.TcgLogs, err = b64(top, "TcgLogs", w, true); err != nil {
		return nil, err
	}
	if raw, ok := top.Get("ClientPayload"); ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		v, err := jsonstrict.Decode(raw, 8)
		if err != nil {
			return nil, malformed("ClientPayload: %v", err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, malformed("ClientPayload must be a JSON object")
		}
		info.ClientPayload = m
	}
	tpmRaw, ok := top.Get("TpmInfo")
	if !ok {
		return nil, malformed("there is no \"TpmInfo\"")
	}
	if err := decodeTPM(tpmRaw, &info.TPM); err != nil {
		return nil, err
	}
	isoRaw, ok := top.Get("IsolationInfo")
	if !ok {
		return nil, malformed("there is no \"IsolationInfo\"")
	}
	if err := decodeIsolation(isoRaw, &info.Isolation); err != nil {
		return nil, err
	}
	return info, nil
}

func decodeTPM(raw []byte, t *TPMInfo) error {
	o, err := object(raw, "TpmInfo")
	if err != nil {
		return err
	}
	const w = "TpmInfo"
	if t.AikCert, err = b64(o, "AikCert", w, false); err != nil {
		return err
	}
	for name, dst := range map[string]*[]byte{
		"AikPub": &t.AikPub, "PcrQuote": &t.PcrQuote, "PcrSignature": &t.PcrSignature,
		"EncKeyPub": &t.EncKeyPub, "EncKeyCertifyInfo": &t.EncKeyCertifyInfo, "EncKeyCertifyInfoSignature": &t.EncKeyCertifyInfoSignature,
	} {
		if *dst, err = b64(o, name, w, true); err != nil {
			return err
		}
	}
	setRaw, ok := o.Get("PcrSet")
	if !ok {
		return malformed("TpmInfo has no \"PcrSet\"")
	}
	if err := json.Unmarshal(setRaw, &t.PcrSet); err != nil || len(t.PcrSet) == 0 || len(t.PcrSet) > 24 {
		return malformed("TpmInfo.PcrSet must be an array of 1 to 24 PCR indices")
	}
	pcrsRaw, ok := o.Get("PCRs")
	if !ok {
		return malformed("TpmInfo has no \"PCRs\"")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(pcrsRaw, &list); err != nil || len(list) == 0 || len(list) > 24 {
		return malformed("TpmInfo.PCRs must be an array of 1 to 24 {\"Index\", \"Digest\"} objects")
	}
	t.PCRs = make(map[int][]byte, len(list))
	for i, e := range list {
		po, err := object(e, fmt.Sprintf("TpmInfo.PCRs[%d]", i))
		if err != nil {
			return err
		}
		w := fmt.Sprintf("TpmInfo.PCRs[%d]", i)
		idx, err := integer(po, "Index", w)
		if err != nil {
			return err
		}
		if _, ok := po.Get("Index"); !ok || idx < 0 || idx > 23 {
			return malformed("%s.Index must be a PCR index 0 to 23", w)
		}
		d, err := b64(po, "Digest", w, true)
		if err != nil {
			return err
		}
		if _, dup := t.PCRs[int(idx)]; dup {
			return malformed("TpmInfo.PCRs gives PCR %d twice", idx)
		}
		t.PCRs[int(idx)] = d
	}
	return nil
}

func decodeIsolation(raw []byte, iso *Isolation) error {
	o, err := object(raw, "IsolationInfo")
	if err != nil {
		return err
	}
	typ, _, err := str(o, "Type", "IsolationInfo", true)
	if err != nil {
		return err
	}
	switch {
	case strings.EqualFold(typ, string(SevSnp)):
		iso.Type = SevSnp
	case strings.EqualFold(typ, string(Tdx)):
		iso.Type = Tdx
	case strings.EqualFold(typ, string(TrustedLaunch)):
		iso.Type = TrustedLaunch
		return nil
	default:
		return malformed("IsolationInfo.Type is %q; want SevSnp, Tdx or TrustedLaunch", clip(typ))
	}
	evRaw, ok := o.Get("Evidence")
	if !ok {
		return malformed("IsolationInfo of type %s has no \"Evidence\"", iso.Type)
	}
	eo, err := object(evRaw, "IsolationInfo.Evidence")
	if err != nil {
		return err
	}
	if iso.Proof, err = b64(eo, "Proof", "IsolationInfo.Evidence", true); err != nil {
		return err
	}
	if iso.RunTimeData, err = b64(eo, "RunTimeData", "IsolationInfo.Evidence", true); err != nil {
		return err
	}
	return nil
}
