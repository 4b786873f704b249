package tdx

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Compliance status (contract decision D6). MAA's x-ms-compliance-status is
// Microsoft's judgement and cannot be reproduced; Maat issues it for a TD
// only when the operator's reference values match.
const (
	ClaimCompliance = "x-ms-compliance-status"
	// CompliantCVM is the value MAA gives confidential VMs.
	CompliantCVM = "azure-compliant-cvm"
)

// Compliance holds the reference values that make a TD azure-compliant-cvm:
// its MRTD must be one of MRTD and, when MRSEAM is not empty, its TDX
// module's MRSEAM one of MRSEAM. Without an MRTD nothing is compliant: a
// TDX module is shared by every TD on the platform, so MRSEAM alone would
// vouch for any image. A debuggable TD (TD_ATTRIBUTES.DEBUG) never is.
type Compliance struct {
	MRSEAM [][48]byte
	MRTD   [][48]byte
}

// ParseMeasurement parses a 48-byte measurement (MRSEAM, MRTD) written as
// 96 hex digits.
func ParseMeasurement(s string) ([48]byte, error) {
	var m [48]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(m) {
		return m, fmt.Errorf("%q is not a 48-byte measurement in hex (96 hex digits)", s)
	}
	copy(m[:], b)
	return m, nil
}

// Compliant reports whether the TD report r meets c (false for a nil c).
func (c *Compliance) Compliant(r *Report) bool {
	if c == nil || len(c.MRTD) == 0 || r.TDAttributesBit(TDAttrDebug) {
		return false
	}
	if len(c.MRSEAM) > 0 && !slices.Contains(c.MRSEAM, r.MRSEAM) {
		return false
	}
	return slices.Contains(c.MRTD, r.MRTD)
}
