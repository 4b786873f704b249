package tpmclient

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/tpm"
)

// LogEvent is one event of a synthetic TCG event log.
type LogEvent struct {
	PCR      int
	Type     uint32
	Data     []byte
	Measured []byte // what is hashed into the PCR (Data, or an image for code events)
}

// SyntheticLog builds TCG PC Client event logs for TPM simulators: tests and
// `maat attest tpm --simulator` extend its events into the simulator's PCRs
// and send its Bytes as the log, so a simulated machine attests a realistic
// boot.
type SyntheticLog struct{ Events []LogEvent }

// Add appends an event; measured nil means Data is what is measured.
func (l *SyntheticLog) Add(pcr int, typ uint32, data, measured []byte) {
	if measured == nil {
		measured = data
	}
	l.Events = append(l.Events, LogEvent{PCR: pcr, Type: typ, Data: data, Measured: measured})
}

// Bytes encodes a crypto-agile TCG PC Client log (SHA-1 and SHA-256).
func (l *SyntheticLog) Bytes() []byte { return EncodeLog(l.Events) }

// ExtendPCRs extends every event's measurement into the TPM's SHA-1 and
// SHA-256 PCR banks, as firmware would have.
func (l *SyntheticLog) ExtendPCRs(t transport.TPM) error {
	for _, e := range l.Events {
		s1 := sha1.Sum(e.Measured)
		s256 := sha256.Sum256(e.Measured)
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(e.PCR), Auth: tpm2.PasswordAuth(nil)},
			Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{
				{HashAlg: tpm2.TPMAlgSHA1, Digest: s1[:]},
				{HashAlg: tpm2.TPMAlgSHA256, Digest: s256[:]},
			}},
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("tpm: extending PCR %d: %w", e.PCR, err)
		}
	}
	return nil
}

// EncodeLog encodes events as a crypto-agile TCG PC Client log.
func EncodeLog(events []LogEvent) []byte {
	var spec []byte
	spec = append(spec, []byte("Spec ID Event03\x00")...)
	spec = binary.LittleEndian.AppendUint32(spec, 0) // platform class
	spec = append(spec, 0, 2, 0, 2)                  // minor, major, errata, uintnSize (64-bit)
	spec = binary.LittleEndian.AppendUint32(spec, 2)
	spec = binary.LittleEndian.AppendUint16(spec, 0x0004)
	spec = binary.LittleEndian.AppendUint16(spec, 20)
	spec = binary.LittleEndian.AppendUint16(spec, 0x000B)
	spec = binary.LittleEndian.AppendUint16(spec, 32)
	spec = append(spec, 0) // vendor info size

	var out []byte
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, 3) // EV_NO_ACTION
	out = append(out, make([]byte, 20)...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(spec)))
	out = append(out, spec...)
	for _, e := range events {
		s1 := sha1.Sum(e.Measured)
		s256 := sha256.Sum256(e.Measured)
		out = binary.LittleEndian.AppendUint32(out, uint32(e.PCR))
		out = binary.LittleEndian.AppendUint32(out, e.Type)
		out = binary.LittleEndian.AppendUint32(out, 2)
		out = binary.LittleEndian.AppendUint16(out, 0x0004)
		out = append(out, s1[:]...)
		out = binary.LittleEndian.AppendUint16(out, 0x000B)
		out = append(out, s256[:]...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e.Data)))
		out = append(out, e.Data...)
	}
	return out
}

func sipaEvent(t uint32, data []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, t)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	return append(out, data...)
}

func utf16z(s string) []byte {
	var out []byte
	for _, r := range s {
		out = binary.LittleEndian.AppendUint16(out, uint16(r))
	}
	return append(out, 0, 0)
}

func mustUEFIVar(guid, name string, data []byte) []byte {
	b, err := EncodeUEFIVariable(guid, name, data)
	if err != nil {
		panic(err)
	}
	return b
}

const imageSecurityDatabaseGUID = "D719B2CB-3D3A-4596-A3BC-DAD00E67656F"

// SimulatedBootLog builds a UEFI + Windows boot log of about n events: CRTM and
// firmware blobs, Secure Boot variables (SecureBoot=1, PK, KEK, db, dbx),
// boot variables, boot services applications, separators on PCRs 0-7, the
// ExitBootServices action and a Windows trust boundary (SIPA) on PCR 12.
func SimulatedBootLog(n int) *SyntheticLog {
	l := &SyntheticLog{}
	l.Add(0, 0x00000008, utf16z("1.0"), nil) // EV_S_CRTM_VERSION
	for i := 0; i < 3; i++ {
		blob := make([]byte, 16)
		binary.LittleEndian.PutUint64(blob, uint64(0xFF000000+i*0x10000))
		l.Add(0, 0x80000008, blob, []byte{byte(i), 'f', 'w'}) // EV_EFI_PLATFORM_FIRMWARE_BLOB
	}
	l.Add(7, 0x80000001, mustUEFIVar(tpm.EFIGlobalVariableGUID, "SecureBoot", []byte{1}), nil)
	l.Add(7, 0x80000001, mustUEFIVar(tpm.EFIGlobalVariableGUID, "PK", []byte("pk-cert")), nil)
	l.Add(7, 0x80000001, mustUEFIVar(tpm.EFIGlobalVariableGUID, "KEK", []byte("kek-cert")), nil)
	l.Add(7, 0x80000001, mustUEFIVar(imageSecurityDatabaseGUID, "db", []byte("db-certs")), nil)
	l.Add(7, 0x80000001, mustUEFIVar(imageSecurityDatabaseGUID, "dbx", []byte("dbx-hashes")), nil)
	l.Add(1, 0x80000002, mustUEFIVar(tpm.EFIGlobalVariableGUID, "BootOrder", []byte{1, 0, 0, 0}), nil)
	l.Add(1, 0x80000002, mustUEFIVar(tpm.EFIGlobalVariableGUID, "Boot0001", []byte("Windows Boot Manager")), nil)
	l.Add(4, 0x80000007, []byte("Calling EFI Application from Boot Option"), nil) // EV_EFI_ACTION
	for pcr := 0; pcr <= 7; pcr++ {
		l.Add(pcr, 0x00000004, []byte{0, 0, 0, 0}, nil) // EV_SEPARATOR
	}
	l.Add(4, 0x80000003, []byte("device path of bootmgfw.efi"), []byte("PE image bootmgfw.efi")) // EV_EFI_BOOT_SERVICES_APPLICATION
	l.Add(7, 0x800000E0, mustUEFIVar(imageSecurityDatabaseGUID, "db", []byte("microsoft-ca")), nil)
	// A Windows trust boundary as bootmgr measures it.
	module := sipaEvent(0x00070001, utf16z(`\windows\system32\drivers\wd\wdboot.sys`))
	module = append(module, sipaEvent(0x0007000A, []byte{1})...)
	tb := sipaEvent(0x00040001, []byte{0})                                    // BOOTDEBUGGING false
	tb = append(tb, sipaEvent(0x00050002, []byte{1})...)                      // CODEINTEGRITY true
	tb = append(tb, sipaEvent(0x00050005, []byte{0})...)                      // SAFEMODE false
	tb = append(tb, sipaEvent(0x00050006, []byte{0})...)                      // WINPE false
	tb = append(tb, sipaEvent(0x000A0001, []byte{1})...)                      // VBS_VSM_REQUIRED
	tb = append(tb, sipaEvent(0x000A0003, []byte{1})...)                      // VBS_IOMMU_REQUIRED
	tb = append(tb, sipaEvent(0x000A0006, []byte{1})...)                      // VBS_MANDATORY_ENFORCEMENT
	tb = append(tb, sipaEvent(0x00050004, make([]byte, 8))...)                // DEP
	tb = append(tb, sipaEvent(0x00020009, []byte{2, 0, 0, 0, 0, 0, 0, 0})...) // APPLICATION_SVN
	tb = append(tb, sipaEvent(0x40010003, module)...)
	tagged := binary.LittleEndian.AppendUint32(nil, 0x40010001)
	tagged = binary.LittleEndian.AppendUint32(tagged, uint32(len(tb)))
	tagged = append(tagged, tb...)
	l.Add(12, 0x00000006, tagged, nil) // EV_EVENT_TAG
	l.Add(5, 0x80000007, []byte("Exit Boot Services Invocation"), nil)
	// Drivers and applications up to n events.
	for i := 0; len(l.Events) < n; i++ {
		img := []byte{byte(i), byte(i >> 8), 'd', 'r', 'v'}
		l.Add(2+2*(i%2), 0x80000004-uint32(i%2), []byte("device path"), img) // boot services driver (PCR 2) / application (PCR 4)
	}
	return l
}

// EncodeUEFIVariable builds UEFI_VARIABLE_DATA (64-bit UINTN) for a GUID in
// canonical text form, as firmware measures it. It is for clients and tests
// building event logs; it returns an error for a malformed GUID.
func EncodeUEFIVariable(guid, name string, data []byte) ([]byte, error) {
	var g [16]byte
	var d1 uint32
	var d2, d3 uint16
	var d4 [8]byte
	h := strings.ReplaceAll(guid, "-", "")
	if len(h) != 32 {
		return nil, fmt.Errorf("bad GUID %q", guid)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return nil, fmt.Errorf("bad GUID %q", guid)
	}
	d1 = binary.BigEndian.Uint32(raw[0:4])
	d2 = binary.BigEndian.Uint16(raw[4:6])
	d3 = binary.BigEndian.Uint16(raw[6:8])
	copy(d4[:], raw[8:16])
	binary.LittleEndian.PutUint32(g[0:4], d1)
	binary.LittleEndian.PutUint16(g[4:6], d2)
	binary.LittleEndian.PutUint16(g[6:8], d3)
	copy(g[8:], d4[:])
	u := utf16.Encode([]rune(name))
	out := make([]byte, 0, 32+2*len(u)+len(data))
	out = append(out, g[:]...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(u)))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(data)))
	for _, c := range u {
		out = binary.LittleEndian.AppendUint16(out, c)
	}
	return append(out, data...), nil
}
