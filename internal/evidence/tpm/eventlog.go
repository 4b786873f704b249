package tpm

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/google/go-eventlog/register"
	"github.com/google/go-eventlog/tcg"
)

// Bounds on event logs.
const (
	maxLogBytes = 2 << 20
	maxLogs     = 8
)

// TCG event types the claims use.
const (
	evSeparator               = 0x00000004
	evEventTag                = 0x00000006
	evEFIVariableDriverConfig = 0x80000001
	evEFIVariableBoot         = 0x80000002
	evEFIVariableAuthority    = 0x800000E0
	evEFIVariableBoot2        = 0x8000000C
)

// EFIGlobalVariableGUID is the vendor GUID of SecureBoot, PK, KEK, as MAA
// prints it.
const EFIGlobalVariableGUID = "8BE4DF61-93CA-11D2-AA0D-00E098032B8C"

// Event is one verified event in MAA's "events" claim shape.
type Event struct {
	EventSeq        int            `json:"EventSeq"`
	EventType       uint32         `json:"EventType"`
	EventTypeString string         `json:"EventTypeString"`
	PcrIndex        int            `json:"PcrIndex"`
	Digest          string         `json:"Digest"`
	ProcessedData   map[string]any `json:"ProcessedData,omitempty"`

	dataVerified bool // the event data hashes to its digest
}

// ParseEventLog parses one TCG PC Client event log (SHA-1 or crypto-agile)
// without replaying it, and returns its event count. It exists for fuzzing
// and inspection: verification goes through Service.Verify.
func ParseEventLog(log []byte) (int, error) {
	if len(log) > maxLogBytes {
		return 0, fmt.Errorf("event log of %d bytes exceeds %d", len(log), maxLogBytes)
	}
	el, err := parseLog(log)
	if err != nil {
		return 0, err
	}
	evs := el.Events(register.HashSHA256)
	for _, e := range evs {
		processEventData(uint32(e.Type), e.Data)
	}
	return len(evs), nil
}

func parseLog(log []byte) (el *tcg.EventLog, err error) {
	defer func() {
		if r := recover(); r != nil {
			el, err = nil, fmt.Errorf("malformed event log (%v)", r)
		}
	}()
	return tcg.ParseEventLog(log, tcg.ParseOpts{})
}

// replayLogs combines the logs (in measurement order) and replays them
// against the quoted PCR values. It returns the events on quoted PCRs, in log
// order, each with the digest that replayed. Events on PCRs that were not
// quoted are not verified and are dropped.
func replayLogs(logs [][]byte, quoted map[uint16]map[int][]byte) ([]Event, error) {
	if len(logs) == 0 {
		return nil, nil
	}
	combined := logs[0]
	if len(logs) > 1 {
		var err error
		combined, err = appendLogs(logs[0], logs[1:]...)
		if err != nil {
			return nil, err
		}
	}
	el, err := parseLog(combined)
	if err != nil {
		return nil, err
	}
	var mrs []register.MR
	for alg, vals := range quoted {
		h, ok := cryptoHashOf(alg)
		if !ok {
			continue
		}
		for idx, d := range vals {
			mrs = append(mrs, register.PCR{Index: idx, Digest: d, DigestAlg: h})
		}
	}
	evs, err := replay(el, mrs)
	if err != nil {
		var re tcg.ReplayError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("the event log does not replay to the quoted PCRs %v", re.InvalidMRs)
		}
		return nil, err
	}
	// All digests in hex as one string, sliced per event: one allocation
	// instead of one per event.
	n := 0
	for _, e := range evs {
		n += hex.EncodedLen(len(e.Digest))
	}
	hexBuf := make([]byte, 0, n)
	for _, e := range evs {
		hexBuf = hex.AppendEncode(hexBuf, e.Digest)
	}
	allHex, off := string(hexBuf), 0
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		t := uint32(e.Type)
		hl := hex.EncodedLen(len(e.Digest))
		ev := Event{
			EventSeq:        int(e.Num()),
			EventType:       t,
			EventTypeString: e.Type.TCGString(),
			PcrIndex:        e.Index,
			Digest:          allHex[off : off+hl],
			dataVerified:    dataMatchesDigest(e.Data, e.Digest),
		}
		off += hl
		// UEFI configuration variables and Windows SIPA events measure their
		// data (PC Client PFP spec; Windows), so data that does not hash to
		// the replayed digest was swapped: the log is forged.
		if !ev.dataVerified && (t == evEFIVariableDriverConfig || t == evEventTag) {
			return nil, fmt.Errorf("event %d (%s, PCR %d): data does not match its digest", ev.EventSeq, ev.EventTypeString, ev.PcrIndex)
		}
		// Only data bound to its measured digest is interpreted; for other
		// events (e.g. EV_EFI_BOOT_SERVICES_APPLICATION, whose digest is the
		// image hash) the data is unverified and left out.
		if ev.dataVerified {
			ev.ProcessedData = processEventData(t, e.Data)
		}
		out = append(out, ev)
	}
	return out, nil
}

func appendLogs(base []byte, more ...[]byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("malformed event log (%v)", r)
		}
	}()
	return tcg.AppendEvents(base, more...)
}

func replay(el *tcg.EventLog, mrs []register.MR) (evs []tcg.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			evs, err = nil, fmt.Errorf("malformed event log (%v)", r)
		}
	}()
	return el.Verify(mrs)
}

func dataMatchesDigest(data, digest []byte) bool {
	// The fixed-size Sum functions stay on the stack; hash.Hash does not.
	switch len(digest) {
	case sha1.Size:
		d := sha1.Sum(data)
		return bytes.Equal(d[:], digest)
	case sha256.Size:
		d := sha256.Sum256(data)
		return bytes.Equal(d[:], digest)
	case sha512.Size384:
		d := sha512.Sum384(data)
		return bytes.Equal(d[:], digest)
	case sha512.Size:
		d := sha512.Sum512(data)
		return bytes.Equal(d[:], digest)
	}
	return false
}

// processEventData renders the data of the event types MAA's policies read.
// It returns nil when the type is not interpreted or the data is malformed.
func processEventData(t uint32, data []byte) map[string]any {
	switch t {
	case evEFIVariableDriverConfig, evEFIVariableBoot, evEFIVariableBoot2, evEFIVariableAuthority:
		v, err := parseUEFIVariable(data)
		if err != nil {
			return nil
		}
		return map[string]any{
			"VariableGuid": v.guid,
			"UnicodeName":  v.name,
			"VariableData": base64.RawURLEncoding.EncodeToString(v.data),
		}
	case evEventTag:
		m, err := ParseTaggedEvent(data)
		if err != nil {
			return nil
		}
		return m
	case evSeparator:
		if len(data) == 4 {
			return map[string]any{"Value": uint64(binary.LittleEndian.Uint32(data))}
		}
	}
	return nil
}

type uefiVariable struct {
	guid string
	name string
	data []byte
}

// parseUEFIVariable parses UEFI_VARIABLE_DATA with 64-bit UINTN (the only
// width x64 and AArch64 firmware use), bounded by the data length.
func parseUEFIVariable(b []byte) (uefiVariable, error) {
	if len(b) < 32 {
		return uefiVariable{}, errors.New("short UEFI_VARIABLE_DATA")
	}
	guid := formatGUID(b[:16])
	nameLen := binary.LittleEndian.Uint64(b[16:24])
	dataLen := binary.LittleEndian.Uint64(b[24:32])
	rest := b[32:]
	if nameLen > uint64(len(rest))/2 || dataLen != uint64(len(rest))-nameLen*2 {
		return uefiVariable{}, errors.New("UEFI_VARIABLE_DATA lengths do not match its size")
	}
	u := make([]uint16, nameLen)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(rest[2*i:])
	}
	name := strings.TrimRight(string(utf16.Decode(u)), "\x00")
	return uefiVariable{guid: guid, name: name, data: rest[nameLen*2:]}, nil
}

// formatGUID writes an EFI_GUID (mixed-endian: three little-endian fields,
// then eight bytes in order) as XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX in
// upper case.
func formatGUID(g []byte) string {
	const digits = "0123456789ABCDEF"
	// Byte order of the 36 characters: the first three fields reversed.
	order := [16]byte{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	var out [36]byte
	j := 0
	for i, k := range order {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = digits[g[k]>>4], digits[g[k]&15]
		j += 2
	}
	return string(out[:])
}

func cryptoHashOf(alg uint16) (crypto.Hash, bool) {
	switch alg {
	case 0x0004:
		return crypto.SHA1, true
	case 0x000B:
		return crypto.SHA256, true
	case 0x000C:
		return crypto.SHA384, true
	case 0x000D:
		return crypto.SHA512, true
	}
	return 0, false
}

// bootState is what the Windows and UEFI events say, when they say it.
type bootState struct {
	SecureBootEnabled     *bool
	BootDebuggingDisabled *bool
	NotSafeMode           *bool
	NotWinPE              *bool
	IOMMUEnabled          *bool
	VBSEnabled            *bool
}

// deriveBootState follows MAA's documented policy rules (policy-version-1-2.md)
// over verified events only. A claim is set only when the events it depends
// on are present.
func deriveBootState(events []Event) bootState {
	var st bootState
	var secureBoot []Event
	type acc struct{ seen, all bool }
	collect := func(a *acc, v any, want bool) {
		b, ok := v.(bool)
		if !ok {
			return
		}
		if !a.seen {
			a.seen, a.all = true, true
		}
		if b != want {
			a.all = false
		}
	}
	var dbg, safe, winpe, iommu, vbs acc
	for _, e := range events {
		if e.ProcessedData == nil {
			continue
		}
		switch e.EventType {
		case evEFIVariableDriverConfig:
			if e.PcrIndex == 7 && e.ProcessedData["VariableGuid"] == EFIGlobalVariableGUID && e.ProcessedData["UnicodeName"] == "SecureBoot" {
				secureBoot = append(secureBoot, e)
			}
		case evEventTag:
			tb, ok := e.ProcessedData["EVENT_TRUSTBOUNDARY"].(map[string]any)
			if !ok {
				continue
			}
			switch e.PcrIndex {
			case 12, 13, 19, 20:
				collect(&dbg, tb["EVENT_BOOTDEBUGGING"], false)
				collect(&safe, tb["EVENT_SAFEMODE"], false)
				collect(&winpe, tb["EVENT_WINPE"], false)
				collect(&iommu, tb["EVENT_VBS_IOMMU_REQUIRED"], true)
			}
			if e.PcrIndex == 12 || e.PcrIndex == 19 {
				collect(&vbs, tb["EVENT_VBS_VSM_REQUIRED"], true)
				collect(&vbs, tb["EVENT_VBS_MANDATORY_ENFORCEMENT"], true)
			}
		}
	}
	if len(secureBoot) > 0 {
		on := len(secureBoot) == 1 && secureBoot[0].ProcessedData["VariableData"] == "AQ"
		st.SecureBootEnabled = &on
	}
	set := func(a acc) *bool {
		if !a.seen {
			return nil
		}
		v := a.all
		return &v
	}
	st.BootDebuggingDisabled = set(dbg)
	st.NotSafeMode = set(safe)
	st.NotWinPE = set(winpe)
	st.IOMMUEnabled = set(iommu)
	st.VBSEnabled = set(vbs)
	return st
}
