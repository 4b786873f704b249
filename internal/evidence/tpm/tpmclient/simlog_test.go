package tpmclient

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/maaerr"
)

// softwarePCRs replays events into SHA-256 PCRs as a TPM would (reset value
// zero, locality 0), independently of the verifier's replay.
func softwarePCRs(events []LogEvent) map[int][]byte {
	pcrs := map[int][]byte{}
	for _, e := range events {
		cur, ok := pcrs[e.PCR]
		if !ok {
			cur = make([]byte, sha256.Size)
		}
		m := sha256.Sum256(e.Measured)
		next := sha256.Sum256(append(append([]byte(nil), cur...), m[:]...))
		pcrs[e.PCR] = next[:]
	}
	return pcrs
}

// The simulated boot log is what the verifier accepts: it parses, replays to
// the PCR values its events extend, and the verifier reads Secure Boot from
// the UEFI variables EncodeUEFIVariable encoded.
func TestSimulatedBootLogVerifies(t *testing.T) {
	l := SimulatedBootLog(40)
	if len(l.Events) != 40 {
		t.Fatalf("%d events, want 40", len(l.Events))
	}
	log := l.Bytes()
	if n, err := tpm.ParseEventLog(log); err != nil || n != 40 { // the Spec ID event is not counted
		t.Fatalf("ParseEventLog = %d, %v; want 40 events", n, err)
	}
	pcrs := softwarePCRs(l.Events)
	events, err := tpm.ReplayPCRs(log, pcrs)
	if err != nil {
		t.Fatalf("ReplayPCRs: %v", err)
	}
	if len(events) != len(l.Events) {
		t.Errorf("%d verified events, want %d", len(events), len(l.Events))
	}
	bs := tpm.DeriveBootState(events)
	if bs.SecureBootEnabled == nil || !*bs.SecureBootEnabled {
		t.Errorf("secure boot = %v, want true", bs.SecureBootEnabled)
	}

	// A PCR value the events do not extend to is refused.
	pcrs[7] = make([]byte, sha256.Size)
	if _, err := tpm.ReplayPCRs(log, pcrs); !errors.Is(err, tpm.ErrLogReplay) {
		t.Fatalf("ReplayPCRs with a wrong PCR 7: %v, want ErrLogReplay", err)
	}
	var me *maaerr.Error
	if _, err := tpm.ReplayPCRs(log, pcrs); !errors.As(err, &me) || me.Code != maaerr.InvalidQuote {
		t.Fatalf("error %v is not an InvalidQuote *maaerr.Error", err)
	}
}

func TestEncodeUEFIVariable(t *testing.T) {
	b, err := EncodeUEFIVariable(tpm.EFIGlobalVariableGUID, "SecureBoot", []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	// GUID 8BE4DF61-93CA-11D2-AA0D-00E098032B8C in mixed-endian form,
	// name length 10, data length 1, UTF-16LE name, data.
	want := []byte{0x61, 0xDF, 0xE4, 0x8B, 0xCA, 0x93, 0xD2, 0x11, 0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03, 0x2B, 0x8C,
		10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	for _, c := range "SecureBoot" {
		want = append(want, byte(c), 0)
	}
	want = append(want, 1)
	if string(b) != string(want) {
		t.Fatalf("EncodeUEFIVariable = %x\nwant %x", b, want)
	}
	for _, bad := range []string{"", "8BE4DF61-93CA-11D2-AA0D-00E098032B8", "XBE4DF61-93CA-11D2-AA0D-00E098032B8C"} {
		if _, err := EncodeUEFIVariable(bad, "x", nil); err == nil {
			t.Errorf("GUID %q accepted", bad)
		}
	}
}
