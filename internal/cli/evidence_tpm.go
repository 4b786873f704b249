package cli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/jose"
)

// evidenceInspectTPM parses a TPM protocol Request message (the JSON inside
// "data", or the compact request JWS itself) without verifying anything: the
// JWS header, the request payload, and the TPM structures of each
// attestation (quote as TPMS_ATTEST, signature, event-log event counts).
func evidenceInspectTPM(ev []byte) (map[string]any, error) {
	jwsText := string(ev)
	if msg, err := tpm.DecodeMessage(ev); err == nil {
		if msg.Kind != tpm.KindRequest {
			return map[string]any{"type": "tpm", "message": "Init"}, nil
		}
		jwsText = msg.Request
	}
	j, err := jose.Parse(jwsText)
	if err != nil {
		return nil, fmt.Errorf("not a TPM Request message or request JWS: %w", err)
	}
	var header, payload any
	_ = json.Unmarshal(j.RawHeader, &header)
	if err := json.Unmarshal(j.Payload, &payload); err != nil {
		return nil, fmt.Errorf("request payload is not JSON: %w", err)
	}
	var req tpm.RequestPayload
	if err := json.Unmarshal(j.Payload, &req); err != nil {
		return nil, fmt.Errorf("request payload: %w", err)
	}
	out := map[string]any{"type": "tpm", "header": header, "payload": payload}
	if req.AttData != nil && req.AttData.TPMAttData != nil {
		for name, att := range map[string]*tpm.Attestation{
			"current_attestation": req.AttData.TPMAttData.CurrentAttestation,
			"boot_attestation":    req.AttData.TPMAttData.BootAttestation,
		} {
			if att != nil {
				out[name] = inspectAttestation(att)
			}
		}
	}
	return out, nil
}

func inspectAttestation(att *tpm.Attestation) map[string]any {
	m := map[string]any{}
	if q, err := jose.DecodeB64Loose(att.Quote); err != nil {
		m["quoteError"] = "quote is not base64url"
	} else if a, err := tpm.ParseAttest(q); err != nil {
		m["quoteError"] = err.Error()
	} else {
		quote := map[string]any{
			"magic":     fmt.Sprintf("0x%08x", uint32(a.Magic)),
			"type":      fmt.Sprintf("0x%04x", uint16(a.Type)),
			"extraData": hex.EncodeToString(a.ExtraData.Buffer),
			"clock":     a.ClockInfo.Clock,
			"resets":    a.ClockInfo.ResetCount,
		}
		if qi, err := a.Attested.Quote(); err == nil {
			var sel []map[string]any
			for _, s := range qi.PCRSelect.PCRSelections {
				var idx []int
				for i, b := range s.PCRSelect {
					for bit := range 8 {
						if b&(1<<bit) != 0 {
							idx = append(idx, i*8+bit)
						}
					}
				}
				sel = append(sel, map[string]any{"hash": fmt.Sprintf("0x%04x", uint16(s.Hash)), "pcrs": idx})
			}
			quote["pcrSelection"] = sel
			quote["pcrDigest"] = hex.EncodeToString(qi.PCRDigest.Buffer)
		}
		m["quote"] = quote
	}
	if s, err := jose.DecodeB64Loose(att.Signature); err == nil {
		if sig, err := tpm.ParseSignature(s); err == nil {
			m["signatureAlg"] = fmt.Sprintf("0x%04x", uint16(sig.SigAlg))
		} else {
			m["signatureError"] = err.Error()
		}
	}
	var logs []map[string]any
	for _, l := range att.Logs {
		entry := map[string]any{"type": l.Type}
		if b, err := jose.DecodeB64Loose(l.Log); err != nil {
			entry["error"] = "log is not base64url"
		} else if n, err := tpm.ParseEventLog(b); err != nil {
			entry["error"] = err.Error()
		} else {
			entry["events"] = n
		}
		logs = append(logs, entry)
	}
	m["logs"] = logs
	return m
}
