package azureguest

import (
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"strings"

	"github.com/maat-attest/maat/internal/evidence/tpm"
)

// Claim names (contract §5.6). x-maat-* are Maat's own.
const (
	ClaimProtocolVersion = "x-ms-azurevm-attestation-protocol-ver"
	ClaimAttestedPCRs    = "x-ms-azurevm-attested-pcrs"
	ClaimIsolationTEE    = "x-ms-isolation-tee"
	ClaimRuntime         = "x-ms-runtime"
	ClaimSecureBoot      = "secureboot"
	ClaimVMID            = "x-ms-azurevm-vmid"
	ClaimAKCertValidated = "x-maat-azurevm-akcert-validated"
	ClaimAKCertRoot      = "x-maat-azurevm-akcert-root"
	ClaimIsolationType   = "x-maat-azurevm-isolation-type"

	// EncKeyKid is the kid of the EncKey JWK in x-ms-runtime.
	EncKeyKid = "TpmEphemeralEncryptionKey"
)

// UEFI and Windows event facts the boot-state claims use.
const (
	evEFIVariableDriverConfig = 0x80000001
	evEventTag                = 0x00000006
)

// bootClaims derives the boot-state claims from verified events. The
// mapping (MAA does not document its own; contract U12):
//   - secureboot: the SecureBoot variable measured into PCR 7 is 1
//     (tpm.DeriveBootState);
//   - dbvalidated, dbxvalidated: the db, dbx variables are measured into
//     PCR 7; default-securebootkeysvalidated: PK and KEK are;
//   - Windows (SIPA events in EV_EVENT_TAG): bootdebug-enabled
//     (BOOTDEBUGGING), kerneldebug-enabled (OSKERNELDEBUG),
//     hypervisordebug-enabled (HYPERVISOR_DEBUG), testsigning-enabled
//     (TESTSIGNING), flightsigning-enabled (FLIGHTSIGNING): any measured
//     true; elam-enabled: an ELAM event is measured; hvci-policy:
//     VBS_HVCI_POLICY; debuggersdisabled: no debug flag is true;
//     signingdisabled: neither test nor flight signing is on;
//   - Linux measures none of the Windows events, so they take the values
//     every observed Linux token carries: debug and signing flags false,
//     debuggersdisabled and signingdisabled true, hvci-policy 0, elam false.
func bootClaims(events []tpm.Event) map[string]any {
	st := tpm.DeriveBootState(events)
	secure := st.SecureBootEnabled != nil && *st.SecureBootEnabled
	vars := map[string]bool{}
	sipa := map[string]any{}
	elam := false
	for _, e := range events {
		if e.ProcessedData == nil {
			continue
		}
		switch e.EventType {
		case evEFIVariableDriverConfig:
			if e.PcrIndex == 7 {
				if n, ok := e.ProcessedData["UnicodeName"].(string); ok {
					vars[n] = true
				}
			}
		case evEventTag:
			walkSIPA(e.ProcessedData, sipa, &elam)
		}
	}
	flag := func(name string) bool { b, _ := sipa[name].(bool); return b }
	boot, kern, hyp := flag("EVENT_BOOTDEBUGGING"), flag("EVENT_OSKERNELDEBUG"), flag("EVENT_HYPERVISOR_DEBUG")
	test, flight := flag("EVENT_TESTSIGNING"), flag("EVENT_FLIGHTSIGNING")
	hvci := int64(0)
	switch v := sipa["EVENT_VBS_HVCI_POLICY"].(type) {
	case map[string]any:
		if n, ok := v["Value"].(uint64); ok && n < 1<<62 {
			hvci = int64(n)
		}
	case uint64:
		if v < 1<<62 {
			hvci = int64(v)
		}
	}
	return map[string]any{
		ClaimSecureBoot:                                secure,
		"x-ms-azurevm-dbvalidated":                     vars["db"],
		"x-ms-azurevm-dbxvalidated":                    vars["dbx"],
		"x-ms-azurevm-default-securebootkeysvalidated": vars["PK"] && vars["KEK"],
		"x-ms-azurevm-bootdebug-enabled":               boot,
		"x-ms-azurevm-kerneldebug-enabled":             kern,
		"x-ms-azurevm-hypervisordebug-enabled":         hyp,
		"x-ms-azurevm-debuggersdisabled":               !boot && !kern && !hyp,
		"x-ms-azurevm-testsigning-enabled":             test,
		"x-ms-azurevm-flightsigning-enabled":           flight,
		"x-ms-azurevm-signingdisabled":                 !test && !flight,
		"x-ms-azurevm-elam-enabled":                    elam,
		"x-ms-azurevm-hvci-policy":                     hvci,
	}
}

// walkSIPA collects SIPA values by name from a parsed EV_EVENT_TAG (nested
// containers and lists); a true flag anywhere wins over a false one.
func walkSIPA(v any, out map[string]any, elam *bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.HasPrefix(k, "EVENT_ELAM_") {
				*elam = true
			}
			switch val.(type) {
			case map[string]any, []any:
				if k == "EVENT_VBS_HVCI_POLICY" {
					out[k] = val
				}
				walkSIPA(val, out, elam)
			case bool:
				if prev, _ := out[k].(bool); !prev {
					out[k] = val
				}
			default:
				out[k] = val
			}
		}
	case []any:
		for _, e := range x {
			walkSIPA(e, out, elam)
		}
	}
}

// rsaJWK renders an RSA public key as the JWK MAA puts into x-ms-runtime.
func rsaJWK(kid string, k *rsa.PublicKey) map[string]any {
	e := big.NewInt(int64(k.E)).Bytes()
	return map[string]any{
		"kid":     kid,
		"kty":     "RSA",
		"key_ops": []any{"encrypt"},
		"e":       base64.RawURLEncoding.EncodeToString(e),
		"n":       base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
	}
}

// Claims returns the azurevm claims of a verified attestation (contract
// §5.6): the x-ms-azurevm-* facts of the AttestationInfo and the TCG log,
// secureboot, x-ms-runtime with the client payload and the certified EncKey
// as the TpmEphemeralEncryptionKey JWK, and for CVMs x-ms-isolation-tee
// nesting the SNP or TDX verifier's claims and the HCL runtime claims. It
// returns an error only if a nested claim cannot be represented.
func (r *Result) Claims() (map[string]any, error) {
	info := r.Info
	pcrs := make([]any, len(r.Quote.Set))
	for i, p := range r.Quote.Set {
		pcrs[i] = int64(p)
	}
	c := map[string]any{
		ClaimProtocolVersion:           info.ProtocolVersion,
		ClaimAttestedPCRs:              pcrs,
		"x-ms-azurevm-ostype":          info.OSType,
		"x-ms-azurevm-osdistro":        info.OSDistro,
		"x-ms-azurevm-osbuild":         info.OSBuild,
		"x-ms-azurevm-osversion-major": info.OSVersionMajor,
		"x-ms-azurevm-osversion-minor": info.OSVersionMinor,
		"x-ms-azurevm-is-windows":      strings.EqualFold(info.OSType, "Windows"),
		ClaimAKCertValidated:           r.AKCertValidated,
		ClaimIsolationType:             string(info.Isolation.Type),
	}
	if r.AKCertValidated {
		c[ClaimAKCertRoot] = r.AKCertRoot
	}
	for k, v := range bootClaims(r.Events) {
		c[k] = v
	}
	runtime := map[string]any{"keys": []any{rsaJWK(EncKeyKid, r.EncKey)}}
	if info.ClientPayload != nil {
		runtime["client-payload"] = info.ClientPayload
	}
	c[ClaimRuntime] = runtime
	if iso := r.Isolation; iso != nil {
		tee := make(map[string]any, len(iso.Verified.Claims)+2)
		for k, v := range iso.Verified.Claims {
			tee[k] = v
		}
		tee["x-ms-attestation-type"] = iso.Verified.AttestationType
		tee[ClaimRuntime] = iso.RuntimeClaims.Document
		c[ClaimIsolationTEE] = tee
		if id := iso.RuntimeClaims.VMUniqueID(); id != "" {
			c[ClaimVMID] = id
		}
	}
	return c, nil
}
