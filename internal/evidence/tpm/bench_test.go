//go:build simulator

package tpm_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/google/go-eventlog/register"
	"github.com/google/go-eventlog/tcg"
	tpmpb "github.com/google/go-tpm-tools/proto/tpm"
	"github.com/google/go-tpm-tools/quote"
	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
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
		if _, err := s.Verify(context.Background(), req.jws, tpm.VerifyOptions{RequireValidAIKCert: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay isolates the event-log parse and replay of the same
// request (100 events against 48 PCR values).
func BenchmarkReplay(b *testing.B) {
	f := getFixture(b)
	att := f.quote(b, f.rsaAIK, []byte("x"), allPCRs())
	_, _, err := tpm.VerifyAttestation("bench", att, f.rsaAIK.pub, nil)
	if err != nil {
		b.Fatal(err)
	}
	quoted, _, _ := matchSelectionFromAtt(b, att)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tpm.ReplayLogs([][]byte{f.log}, quoted); err != nil {
			b.Fatal(err)
		}
	}
}

func matchSelectionFromAtt(b *testing.B, att *tpm.Attestation) (map[uint16]map[int][]byte, []byte, error) {
	q, _ := tpm.DecodeB64(att.Quote)
	a, err := tpm.ParseAttest(q)
	if err != nil {
		b.Fatal(err)
	}
	info, _ := a.Attested.Quote()
	return tpm.MatchSelection(info.PCRSelect.PCRSelections, att.PCRs)
}

// BenchmarkCoreVsGoTPMTools compares Maat's TPM core (quote parse and
// signature check, PCR digest, event-log parse and replay, event claims) with
// the same checks done by go-tpm-tools' quote.Verify plus go-eventlog's
// ParseEventLog and Verify, on the same quote (24 SHA-256 PCRs, RSA-2048
// AIK) and the same 100-event log, both starting from the wire encoding
// (base64url strings as a client sends them):
//
//	go test -tags simulator -run '^$' -bench CoreVsGoTPMTools ./internal/evidence/tpm
//
// The target is maat ≤ 1.2× go-tpm-tools: the interleaved
// sub-benchmark reports the ratio as maat/peer.
func BenchmarkCoreVsGoTPMTools(b *testing.B) {
	f := getFixture(b)
	extra := []byte("core benchmark")
	f.mu.Lock()
	att, err := tpmclient.QuoteAttestation(f.tpm, tpm2.AuthHandle{Handle: f.rsaAIK.handle, Name: f.rsaAIK.name, Auth: tpm2.PasswordAuth(nil)},
		f.rsaAIK.pub, extra, allPCRs(), []tpm2.TPMAlgID{tpm2.TPMAlgSHA256})
	f.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	att.Logs = []tpm.Log{{Type: "TCG", Log: b64(f.log)}}
	maat := func() {
		if _, _, err := tpm.VerifyAttestation("bench", att, f.rsaAIK.pub, extra); err != nil {
			b.Fatal(err)
		}
	}
	peer := func() {
		quoteBytes, _ := tpm.DecodeB64(att.Quote)
		sigBytes, _ := tpm.DecodeB64(att.Signature)
		logBytes, _ := tpm.DecodeB64(att.Logs[0].Log)
		pcrs := &tpmpb.PCRs{Hash: tpmpb.HashAlgo_SHA256, Pcrs: make(map[uint32][]byte, 24)}
		var mrs []register.MR
		for _, v := range att.PCRs[0].Values {
			d, _ := tpm.DecodeB64(v.Digest)
			pcrs.Pcrs[uint32(v.Index)] = d
			mrs = append(mrs, register.PCR{Index: v.Index, Digest: d, DigestAlg: crypto.SHA256})
		}
		if err := quote.Verify(&tpmpb.Quote{Quote: quoteBytes, RawSig: sigBytes, Pcrs: pcrs}, f.rsaAIK.pub, extra); err != nil {
			b.Fatal(err)
		}
		el, err := tcg.ParseEventLog(logBytes, tcg.ParseOpts{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := el.Verify(mrs); err != nil {
			b.Fatal(err)
		}
	}
	maat()
	peer()
	// Interleaved, so load from other processes hits both sides alike and
	// the ratio stays meaningful on a shared machine.
	b.Run("interleaved", func(b *testing.B) {
		var tm, tp time.Duration
		for b.Loop() {
			t0 := time.Now()
			maat()
			t1 := time.Now()
			peer()
			tp += time.Since(t1)
			tm += t1.Sub(t0)
		}
		b.ReportMetric(float64(tm)/float64(b.N), "maat-ns/op")
		b.ReportMetric(float64(tp)/float64(b.N), "peer-ns/op")
		b.ReportMetric(float64(tm)/float64(tp), "maat/peer")
	})
	b.Run("maat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			maat()
		}
	})
	b.Run("go-tpm-tools+go-eventlog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			peer()
		}
	})
}
