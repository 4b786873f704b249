package tpm

import (
	"context"
	"testing"
)

// BenchmarkVerify verifies one request: a quote of 24 PCRs in the SHA-1 and
// SHA-256 banks by an RSA-2048 AIK, a 100-event log, an AIK certificate
// chain, the tpm_quote request-key binding and a PS256 JWS. Each iteration
// uses a fresh Service (same key) so the replay set does not reject the
// reused request; New costs about a microsecond.
func BenchmarkVerify(b *testing.B) {
	f := getFixture(b)
	svc, _ := newTestService(b, f)
	req := f.build(b, svc, reqOpts{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, _ := newTestService(b, f)
		if _, err := s.Verify(context.Background(), req.jws, VerifyOptions{RequireValidAIKCert: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay isolates the event-log parse and replay of the same
// request (100 events against 48 PCR values).
func BenchmarkReplay(b *testing.B) {
	f := getFixture(b)
	att := f.quote(b, f.rsaAIK, []byte("x"), allPCRs())
	_, _, err := verifyAttestation("bench", att, f.rsaAIK.pub, nil)
	if err != nil {
		b.Fatal(err)
	}
	quoted, _, _ := matchSelectionFromAtt(b, att)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := replayLogs([][]byte{f.log}, quoted); err != nil {
			b.Fatal(err)
		}
	}
}

func matchSelectionFromAtt(b *testing.B, att *Attestation) (map[uint16]map[int][]byte, []byte, error) {
	q, _ := decodeB64(att.Quote)
	a, err := ParseAttest(q)
	if err != nil {
		b.Fatal(err)
	}
	info, _ := a.Attested.Quote()
	return matchSelection(info.PCRSelect.PCRSelections, att.PCRs)
}
