package sevsnp

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// ParseMinimumTCB parses "Milan:bl=3:tee=0:snp=8:ucode=115" (Turin may add
// fmc=), the sevsnp-minimum-tcb configuration syntax. Components left out
// are 0. It returns an error saying what is wrong.
func ParseMinimumTCB(s string) (Product, TCB, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	var p Product
	for _, q := range Products() {
		if strings.EqualFold(parts[0], string(q)) {
			p = q
		}
	}
	if p == ProductUnknown {
		return "", TCB{}, fmt.Errorf("%q: the product must be Milan, Genoa or Turin", s)
	}
	var t TCB
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 8)
		if !ok || err != nil {
			return "", TCB{}, fmt.Errorf("%q: %q is not name=0..255", s, kv)
		}
		switch strings.ToLower(k) {
		case "fmc":
			if p != ProductTurin {
				return "", TCB{}, fmt.Errorf("%q: only Turin has an fmc component", s)
			}
			t.FMC = uint8(n)
		case "bl":
			t.Bootloader = uint8(n)
		case "tee":
			t.TEE = uint8(n)
		case "snp":
			t.SNP = uint8(n)
		case "ucode":
			t.Microcode = uint8(n)
		default:
			return "", TCB{}, fmt.Errorf("%q: unknown component %q (fmc, bl, tee, snp, ucode)", s, k)
		}
	}
	return p, t, nil
}

// ParseUVMIssuer parses "<did:x509>|<feed>[|compliant]", the
// sevsnp-uvm-issuer configuration syntax. It returns an error saying what
// is wrong.
func ParseUVMIssuer(s string) (UVMIssuer, error) {
	parts := strings.Split(strings.TrimSpace(s), "|")
	u := UVMIssuer{DID: parts[0]}
	if _, err := parseDIDX509(u.DID); err != nil {
		return UVMIssuer{}, err
	}
	if len(parts) > 1 {
		u.Feed = parts[1]
	}
	if len(parts) > 2 {
		if parts[2] != "compliant" || len(parts) > 3 {
			return UVMIssuer{}, fmt.Errorf("%q: want <did>|<feed>[|compliant]", s)
		}
		u.GrantsCompliance = true
	}
	return u, nil
}

// ParseIDKeyDigest parses a 96-hex-digit ID_KEY_DIGEST.
func ParseIDKeyDigest(s string) ([48]byte, error) {
	var d [48]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 48 {
		return d, fmt.Errorf("%q is not 96 hex digits", s)
	}
	copy(d[:], b)
	return d, nil
}
