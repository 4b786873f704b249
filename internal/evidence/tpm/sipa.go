package tpm

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Windows boot configuration (SIPA) events carried in EV_EVENT_TAG events.
// The layout is TCG_PCClientTaggedEvent {uint32 id, uint32 size, data}, where
// a container's data is a sequence of SIPA events {uint32 type, uint32 size,
// data}. Type numbers come from the Windows SDK (wbcl.h); the names are the
// SIPA_EVENT_* names without the prefix, which is how MAA's sample policies
// address them (EVENT_TRUSTBOUNDARY, EVENT_BOOTDEBUGGING, ...).

const (
	sipaTypeMask  = 0x000f0000
	sipaContainer = 0x00010000
	maxSIPADepth  = 8
)

var sipaNames = map[uint32]string{
	0x40010001: "TRUSTBOUNDARY", 0x40010002: "ELAM_AGGREGATION", 0x40010003: "LOADEDMODULE_AGGREGATION",
	0xC0010004: "TRUSTPOINT_AGGREGATION", 0x40010005: "KSR_AGGREGATION", 0x40010006: "KSR_SIGNED_MEASUREMENT_AGGREGATION",
	0x00020001: "INFORMATION", 0x00020002: "BOOTCOUNTER", 0x00020003: "TRANSFER_CONTROL", 0x00020004: "APPLICATION_RETURN",
	0x00020005: "BITLOCKER_UNLOCK", 0x00020006: "EVENTCOUNTER", 0x00020007: "COUNTERID", 0x00020008: "MORBIT_NOT_CANCELABLE",
	0x00020009: "APPLICATION_SVN", 0x0002000A: "SVN_CHAIN_STATUS", 0x0002000B: "MORBIT_API_STATUS",
	0x00040001: "BOOTDEBUGGING", 0x00040002: "BOOT_REVOCATIONLIST",
	0x00050001: "OSKERNELDEBUG", 0x00050002: "CODEINTEGRITY", 0x00050003: "TESTSIGNING", 0x00050004: "DATAEXECUTIONPREVENTION",
	0x00050005: "SAFEMODE", 0x00050006: "WINPE", 0x00050007: "PHYSICALADDRESSEXTENSION", 0x00050008: "OSDEVICE",
	0x00050009: "SYSTEMROOT", 0x0005000A: "HYPERVISOR_LAUNCH_TYPE", 0x0005000B: "HYPERVISOR_PATH",
	0x0005000C: "HYPERVISOR_IOMMU_POLICY", 0x0005000D: "HYPERVISOR_DEBUG", 0x0005000E: "DRIVER_LOAD_POLICY",
	0x0005000F: "SI_POLICY", 0x00050010: "HYPERVISOR_MMIO_NX_POLICY", 0x00050011: "HYPERVISOR_MSR_FILTER_POLICY",
	0x00050012: "VSM_LAUNCH_TYPE", 0x00050013: "OS_REVOCATIONLIST", 0x00050020: "VSM_IDK_INFO", 0x00050021: "FLIGHTSIGNING",
	0x00050022: "PAGEFILE_ENCRYPTION_ENABLED", 0x00050023: "VSM_IDKS_INFO", 0x00050024: "HIBERNATION_DISABLED",
	0x00050025: "DUMPS_DISABLED", 0x00050026: "DUMP_ENCRYPTION_ENABLED", 0x00050027: "DUMP_ENCRYPTION_KEY_DIGEST",
	0x00050028: "LSAISO_CONFIG",
	0x00060001: "NOAUTHORITY", 0x00060002: "AUTHORITYPUBKEY",
	0x00070001: "FILEPATH", 0x00070002: "IMAGESIZE", 0x00070003: "HASHALGORITHMID", 0x00070004: "AUTHENTICODEHASH",
	0x00070005: "AUTHORITYISSUER", 0x00070006: "AUTHORITYSERIAL", 0x00070007: "IMAGEBASE", 0x00070008: "AUTHORITYPUBLISHER",
	0x00070009: "AUTHORITYSHA1THUMBPRINT", 0x0007000A: "IMAGEVALIDATED", 0x0007000B: "MODULE_SVN",
	0x80080001: "QUOTE", 0x80080002: "QUOTESIGNATURE", 0x80080003: "AIKID", 0x80080004: "AIKPUBDIGEST",
	0x00090001: "ELAM_KEYNAME", 0x00090002: "ELAM_CONFIGURATION", 0x00090003: "ELAM_POLICY", 0x00090004: "ELAM_MEASURED",
	0x000A0001: "VBS_VSM_REQUIRED", 0x000A0002: "VBS_SECUREBOOT_REQUIRED", 0x000A0003: "VBS_IOMMU_REQUIRED",
	0x000A0004: "VBS_NX_REQUIRED", 0x000A0005: "VBS_MSR_FILTERING_REQUIRED", 0x000A0006: "VBS_MANDATORY_ENFORCEMENT",
	0x000A0007: "VBS_HVCI_POLICY", 0x000A0008: "VBS_MICROSOFT_BOOT_CHAIN_REQUIRED",
	0x000B0001: "KSR_SIGNATURE",
}

// SIPA value renderings (see PROTOCOL.md).
var (
	sipaBool = setOf("BOOTDEBUGGING", "OSKERNELDEBUG", "CODEINTEGRITY", "TESTSIGNING", "SAFEMODE", "WINPE",
		"FLIGHTSIGNING", "PAGEFILE_ENCRYPTION_ENABLED", "HIBERNATION_DISABLED", "DUMPS_DISABLED",
		"DUMP_ENCRYPTION_ENABLED", "IMAGEVALIDATED", "MORBIT_NOT_CANCELABLE", "HYPERVISOR_DEBUG",
		"VBS_VSM_REQUIRED", "VBS_SECUREBOOT_REQUIRED", "VBS_IOMMU_REQUIRED", "VBS_NX_REQUIRED",
		"VBS_MSR_FILTERING_REQUIRED", "VBS_MANDATORY_ENFORCEMENT", "VBS_MICROSOFT_BOOT_CHAIN_REQUIRED")
	sipaValueObject = setOf("DATAEXECUTIONPREVENTION", "BITLOCKER_UNLOCK", "TRANSFER_CONTROL", "BOOTCOUNTER",
		"DRIVER_LOAD_POLICY", "VBS_HVCI_POLICY", "HYPERVISOR_IOMMU_POLICY", "HYPERVISOR_LAUNCH_TYPE", "VSM_LAUNCH_TYPE",
		"PHYSICALADDRESSEXTENSION", "HYPERVISOR_MMIO_NX_POLICY", "HYPERVISOR_MSR_FILTER_POLICY")
	sipaNumber = setOf("APPLICATION_SVN", "MODULE_SVN", "IMAGESIZE", "IMAGEBASE", "HASHALGORITHMID",
		"EVENTCOUNTER", "COUNTERID", "APPLICATION_RETURN", "SVN_CHAIN_STATUS", "MORBIT_API_STATUS")
	sipaString = setOf("FILEPATH", "AUTHORITYISSUER", "AUTHORITYPUBLISHER", "OSDEVICE", "SYSTEMROOT",
		"HYPERVISOR_PATH", "ELAM_KEYNAME")
	sipaList = setOf("ELAM_AGGREGATION", "LOADEDMODULE_AGGREGATION", "TRUSTPOINT_AGGREGATION",
		"KSR_AGGREGATION", "KSR_SIGNED_MEASUREMENT_AGGREGATION", "SI_POLICY")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func sipaName(t uint32) string {
	if n, ok := sipaNames[t]; ok {
		return "EVENT_" + n
	}
	return fmt.Sprintf("EVENT_0x%08X", t)
}

// ParseTaggedEvent decodes the data of an EV_EVENT_TAG event into MAA's
// ProcessedData shape: {"EVENT_TRUSTBOUNDARY": {...}}. Structure only; it
// returns an error for truncated or over-nested data.
func ParseTaggedEvent(data []byte) (map[string]any, error) {
	if len(data) < 8 {
		return nil, errors.New("tagged event shorter than its header")
	}
	id := binary.LittleEndian.Uint32(data[0:4])
	size := binary.LittleEndian.Uint32(data[4:8])
	if uint64(size) != uint64(len(data)-8) {
		return nil, fmt.Errorf("tagged event size %d does not match %d bytes of data", size, len(data)-8)
	}
	v, err := sipaValue(id, data[8:], 0)
	if err != nil {
		return nil, err
	}
	return map[string]any{sipaName(id): v}, nil
}

// sipaValue renders one SIPA event's data.
func sipaValue(t uint32, data []byte, depth int) (any, error) {
	if t&sipaTypeMask == sipaContainer {
		if depth >= maxSIPADepth {
			return nil, errors.New("SIPA containers nested too deep")
		}
		return sipaContainerValue(data, depth+1)
	}
	name := sipaNames[t]
	switch {
	case sipaBool[name] && len(data) >= 1 && len(data) <= 8:
		for _, b := range data {
			if b != 0 {
				return true, nil
			}
		}
		return false, nil
	case sipaValueObject[name] && len(data) >= 1 && len(data) <= 8:
		return map[string]any{"Value": leUint(data)}, nil
	case sipaNumber[name] && len(data) >= 1 && len(data) <= 8:
		return leUint(data), nil
	case sipaString[name] && len(data)%2 == 0:
		return utf16LE(data), nil
	case name == "SI_POLICY":
		return map[string]any{"RawData": base64.RawURLEncoding.EncodeToString(data)}, nil
	}
	return base64.RawURLEncoding.EncodeToString(data), nil
}

func sipaContainerValue(data []byte, depth int) (map[string]any, error) {
	out := map[string]any{}
	for len(data) > 0 {
		if len(data) < 8 {
			return nil, errors.New("truncated SIPA event header")
		}
		t := binary.LittleEndian.Uint32(data[0:4])
		size := binary.LittleEndian.Uint32(data[4:8])
		if uint64(size) > uint64(len(data)-8) {
			return nil, fmt.Errorf("SIPA event of %d bytes exceeds the %d remaining", size, len(data)-8)
		}
		v, err := sipaValue(t, data[8:8+size], depth)
		if err != nil {
			return nil, err
		}
		data = data[8+size:]
		key := sipaName(t)
		if sipaList[sipaNames[t]] {
			l, _ := out[key].([]any)
			out[key] = append(l, v)
		} else {
			out[key] = v // a repeated scalar keeps the last value, as a later measurement overrides
		}
	}
	return out, nil
}

func leUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func utf16LE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
