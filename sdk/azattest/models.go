package azattest

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// ServiceVersion is the api-version the clients request.
type ServiceVersion string

const (
	// ServiceVersion2020_10_01 is the first GA version (SgxEnclave,
	// OpenEnclave, Tpm).
	ServiceVersion2020_10_01 ServiceVersion = "2020-10-01"
	// ServiceVersion2022_08_01 adds SevSnpVm. It is the default: GA
	// everywhere, and its request shapes are those of the recorded MAA
	// traffic this package is tested against.
	ServiceVersion2022_08_01 ServiceVersion = "2022-08-01"
	// ServiceVersion2025_06_01 adds TdxVm, AzureGuest and TCB baselines,
	// sends api-version on /certs and OpenID metadata, and wraps
	// certificate add/remove bodies in an object.
	ServiceVersion2025_06_01 ServiceVersion = "2025-06-01"
)

// DefaultServiceVersion is used when ClientOptions.ServiceVersion is empty.
const DefaultServiceVersion = ServiceVersion2022_08_01

// PossibleServiceVersionValues returns every ServiceVersion constant.
func PossibleServiceVersionValues() []ServiceVersion {
	return []ServiceVersion{ServiceVersion2020_10_01, ServiceVersion2022_08_01, ServiceVersion2025_06_01}
}

// AttestationType names the kind of evidence a policy applies to.
type AttestationType string

const (
	// AttestationTypeSGXEnclave is an Intel SGX enclave (DCAP quote).
	AttestationTypeSGXEnclave AttestationType = "SgxEnclave"
	// AttestationTypeOpenEnclave is an OpenEnclave report or evidence (SGX).
	AttestationTypeOpenEnclave AttestationType = "OpenEnclave"
	// AttestationTypeTPM is TPM / VBS attestation.
	AttestationTypeTPM AttestationType = "Tpm"
	// AttestationTypeSEVSNPVM is an AMD SEV-SNP confidential VM.
	AttestationTypeSEVSNPVM AttestationType = "SevSnpVm"
	// AttestationTypeTDXVM is an Intel TDX confidential VM.
	AttestationTypeTDXVM AttestationType = "TdxVm"
	// AttestationTypeAzureGuest is an Azure confidential VM guest.
	AttestationTypeAzureGuest AttestationType = "AzureGuest"
)

// PossibleAttestationTypeValues returns every AttestationType constant.
func PossibleAttestationTypeValues() []AttestationType {
	return []AttestationType{AttestationTypeSGXEnclave, AttestationTypeOpenEnclave, AttestationTypeTPM,
		AttestationTypeSEVSNPVM, AttestationTypeTDXVM, AttestationTypeAzureGuest}
}

// DataType says how the service interprets runtime or init-time data.
type DataType string

const (
	// DataTypeBinary: opaque bytes; SGX tokens echo them as x-ms-sgx-ehd.
	DataTypeBinary DataType = "Binary"
	// DataTypeJSON: a JSON text, echoed parsed as x-ms-runtime / x-ms-inittime.
	DataTypeJSON DataType = "JSON"
)

// PossibleDataTypeValues returns every DataType constant.
func PossibleDataTypeValues() []DataType { return []DataType{DataTypeBinary, DataTypeJSON} }

// PolicyModification is the x-ms-policy-result of a policy change.
type PolicyModification string

const (
	// PolicyModificationUpdated: the policy was set.
	PolicyModificationUpdated PolicyModification = "Updated"
	// PolicyModificationRemoved: the policy was reset to the default.
	PolicyModificationRemoved PolicyModification = "Removed"
)

// PossiblePolicyModificationValues returns every PolicyModification constant.
func PossiblePolicyModificationValues() []PolicyModification {
	return []PolicyModification{PolicyModificationUpdated, PolicyModificationRemoved}
}

// CertificateModification is the x-ms-policycertificates-result of a policy
// management certificate change.
type CertificateModification string

const (
	// CertificateModificationIsPresent: the certificate is (now) a policy management certificate.
	CertificateModificationIsPresent CertificateModification = "IsPresent"
	// CertificateModificationIsAbsent: the certificate is not (any more) a policy management certificate.
	CertificateModificationIsAbsent CertificateModification = "IsAbsent"
)

// PossibleCertificateModificationValues returns every CertificateModification constant.
func PossibleCertificateModificationValues() []CertificateModification {
	return []CertificateModification{CertificateModificationIsPresent, CertificateModificationIsAbsent}
}

// AttestationData is runtime or init-time data sent with evidence. For SGX,
// SHA-256(Data) must equal the first 32 bytes of the quote's report data
// (runtime) or config id (init time); Data is sent byte-exact.
type AttestationData struct {
	Data     []byte
	DataType DataType
}

// AttestationResult is an attestation token's claims, typed. Pointer fields
// are nil when the claim is absent (or has an unexpected JSON type; RawClaims
// always has every claim).
type AttestationResult struct {
	// Token is the validated token the result was read from.
	Token *Token `json:"-"`
	// RawClaims holds every claim, decoded with encoding/json.
	RawClaims map[string]any `json:"-"`

	// Common claims.
	Issuer           *string        `claim:"iss"`
	UniqueIdentifier *string        `claim:"jti"`
	IssuedAt         *time.Time     `json:"-"`
	NotBefore        *time.Time     `json:"-"`
	Expiration       *time.Time     `json:"-"`
	Nonce            *string        `claim:"nonce"`
	Version          *string        `claim:"x-ms-ver"`
	AttestationType  *string        `claim:"x-ms-attestation-type"`
	PolicyHash       *string        `claim:"x-ms-policy-hash"`
	PolicySigner     *Signer        `json:"-"` // x-ms-policy-signer
	PolicyClaims     map[string]any `claim:"x-ms-policy"`
	RuntimeClaims    map[string]any `claim:"x-ms-runtime"`
	InitTimeClaims   map[string]any `claim:"x-ms-inittime"`
	Confirmation     map[string]any `claim:"cnf"`
	ComplianceStatus *string        `claim:"x-ms-compliance-status"`

	// SGX and OpenEnclave.
	SGXIsDebuggable         *bool          `claim:"x-ms-sgx-is-debuggable"`
	SGXProductID            *int64         `claim:"x-ms-sgx-product-id"`
	SGXMrEnclave            *string        `claim:"x-ms-sgx-mrenclave"`
	SGXMrSigner             *string        `claim:"x-ms-sgx-mrsigner"`
	SGXSVN                  *int64         `claim:"x-ms-sgx-svn"`
	EnclaveHeldData         []byte         `claim:"x-ms-sgx-ehd,b64url"`
	SGXCollateral           map[string]any `claim:"x-ms-sgx-collateral"`
	SGXReportData           *string        `claim:"x-ms-sgx-report-data"`
	SGXTCBIdentifier        *string        `claim:"x-ms-sgx-tcbidentifier"`
	SGXConfigID             *string        `claim:"x-ms-sgx-config-id"`
	SGXConfigSVN            *int64         `claim:"x-ms-sgx-config-svn"`
	SGXISVExtendedProductID *string        `claim:"x-ms-sgx-isv-extended-product-id"`
	SGXISVFamilyID          *string        `claim:"x-ms-sgx-isv-family-id"`

	// SEV-SNP VMs.
	SEVSNPAuthorKeyDigest   *string `claim:"x-ms-sevsnpvm-authorkeydigest"`
	SEVSNPBootloaderSVN     *int64  `claim:"x-ms-sevsnpvm-bootloader-svn"`
	SEVSNPFamilyID          *string `claim:"x-ms-sevsnpvm-familyId"`
	SEVSNPGuestSVN          *int64  `claim:"x-ms-sevsnpvm-guestsvn"`
	SEVSNPHostData          *string `claim:"x-ms-sevsnpvm-hostdata"`
	SEVSNPIDKeyDigest       *string `claim:"x-ms-sevsnpvm-idkeydigest"`
	SEVSNPImageID           *string `claim:"x-ms-sevsnpvm-imageId"`
	SEVSNPIsDebuggable      *bool   `claim:"x-ms-sevsnpvm-is-debuggable"`
	SEVSNPLaunchMeasurement *string `claim:"x-ms-sevsnpvm-launchmeasurement"`
	SEVSNPMicrocodeSVN      *int64  `claim:"x-ms-sevsnpvm-microcode-svn"`
	SEVSNPMigrationAllowed  *bool   `claim:"x-ms-sevsnpvm-migration-allowed"`
	SEVSNPReportData        *string `claim:"x-ms-sevsnpvm-reportdata"`
	SEVSNPReportID          *string `claim:"x-ms-sevsnpvm-reportid"`
	SEVSNPSMTAllowed        *bool   `claim:"x-ms-sevsnpvm-smt-allowed"`
	SEVSNPFirmwareSVN       *int64  `claim:"x-ms-sevsnpvm-snpfw-svn"`
	SEVSNPTEESVN            *int64  `claim:"x-ms-sevsnpvm-tee-svn"`
	SEVSNPVMPL              *int64  `claim:"x-ms-sevsnpvm-vmpl"`

	// TDX VMs (EAT profile https://aka.ms/maa-eat-profile-tdxvm).
	EATProfile                    *string `claim:"eat_profile"`
	DebugStatus                   *string `claim:"dbgstat"`
	IntendedUse                   *string `claim:"intuse"`
	AttesterTCBStatus             *string `claim:"attester_tcb_status"`
	TDXMrSignerSeam               *string `claim:"tdx_mrsignerseam"`
	TDXMrSeam                     *string `claim:"tdx_mrseam"`
	TDXMrTD                       *string `claim:"tdx_mrtd"`
	TDXRTMR0                      *string `claim:"tdx_rtmr0"`
	TDXRTMR1                      *string `claim:"tdx_rtmr1"`
	TDXRTMR2                      *string `claim:"tdx_rtmr2"`
	TDXRTMR3                      *string `claim:"tdx_rtmr3"`
	TDXMrConfigID                 *string `claim:"tdx_mrconfigid"`
	TDXMrOwner                    *string `claim:"tdx_mrowner"`
	TDXMrOwnerConfig              *string `claim:"tdx_mrownerconfig"`
	TDXReportData                 *string `claim:"tdx_report_data"`
	TDXSeamAttributes             *string `claim:"tdx_seam_attributes"`
	TDXTDAttributes               *string `claim:"tdx_td_attributes"`
	TDXXFAM                       *string `claim:"tdx_xfam"`
	TDXTEETCBSVN                  *string `claim:"tdx_tee_tcb_svn"`
	TDXSeamSVN                    *int64  `claim:"tdx_seamsvn"`
	TDXTDAttributesDebug          *bool   `claim:"tdx_td_attributes_debug"`
	TDXTDAttributesKeyLocker      *bool   `claim:"tdx_td_attributes_key_locker"`
	TDXTDAttributesPerfmon        *bool   `claim:"tdx_td_attributes_perfmon"`
	TDXTDAttributesProtectionKeys *bool   `claim:"tdx_td_attributes_protection_keys"`
	TDXTDAttributesSEPTVEDisable  *bool   `claim:"tdx_td_attributes_septve_disable"`

	// Deprecated claim names MAA still emits (mostly via its default
	// policies' issuance rules).
	DeprecatedIsDebuggable      *bool          `claim:"is-debuggable"`
	DeprecatedSGXMrSigner       *string        `claim:"sgx-mrsigner"`
	DeprecatedSGXMrEnclave      *string        `claim:"sgx-mrenclave"`
	DeprecatedProductID         *int64         `claim:"product-id"`
	DeprecatedSVN               *int64         `claim:"svn"`
	DeprecatedTee               *string        `claim:"tee"`
	DeprecatedVersion           *string        `claim:"ver"`
	DeprecatedEnclaveHeldData   []byte         `claim:"aas-ehd,b64url"`
	DeprecatedEnclaveHeldData2  []byte         `claim:"maa-ehd,b64url"`
	DeprecatedSGXCollateral     map[string]any `claim:"maa-attestationcollateral"`
	DeprecatedPolicyHash        *string        `claim:"maa-policyHash"`
	DeprecatedPolicySignerClaim map[string]any `claim:"policy_signer"`
	DeprecatedRPData            *string        `claim:"rp_data"`
}

func newAttestationResult(t *Token) AttestationResult {
	r := AttestationResult{Token: t, RawClaims: t.RawClaims()}
	fillClaims(&r, t.rawClaims)
	c := t.Claims()
	r.IssuedAt, r.NotBefore, r.Expiration = c.IssuedAt, c.NotBefore, c.ExpiresAt
	if raw, ok := t.claim("x-ms-policy-signer"); ok {
		if s, err := parsePolicySigner(raw); err == nil {
			r.PolicySigner = s
		}
	}
	return r
}

// parsePolicySigner accepts both shapes seen for x-ms-policy-signer: a JWK
// (spec, SDKs, recordings) and {"jwk": JWK} (docs).
func parsePolicySigner(raw json.RawMessage) (*Signer, error) {
	var wrapped struct {
		JWK json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.JWK) > 0 {
		raw = wrapped.JWK
	}
	s, err := parseJWK(raw)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// fillClaims sets every field tagged `claim:"name[,b64url]"` from raw,
// leaving fields whose claim is absent or of another JSON type at nil.
func fillClaims(dst any, raw map[string]json.RawMessage) {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("claim")
		if tag == "" {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		r, ok := raw[name]
		if !ok || string(r) == "null" {
			continue
		}
		if opt == "b64url" {
			var s string
			if json.Unmarshal(r, &s) != nil {
				continue
			}
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
			if err != nil {
				if b, err = base64.StdEncoding.DecodeString(s); err != nil {
					continue
				}
			}
			v.Field(i).SetBytes(b)
			continue
		}
		p := reflect.New(t.Field(i).Type)
		if json.Unmarshal(r, p.Interface()) == nil {
			v.Field(i).Set(p.Elem())
		}
	}
}

// PolicyResult is the body of a policy management token.
type PolicyResult struct {
	// Result is Updated (set) or Removed (reset).
	Result PolicyModification
	// TokenHash is SHA-256 of the policy JWS the service received
	// (x-ms-policy-token-hash, decoded); compare with [PolicyTokenHash].
	TokenHash []byte
	// Signer is the key that signed the policy (x-ms-policy-signer), nil for
	// unsigned policies.
	Signer *Signer
}

// PolicyCertificatesModificationResult is the body of a certificates:add or
// certificates:remove token.
type PolicyCertificatesModificationResult struct {
	// Thumbprint is x-ms-certificate-thumbprint: upper-case hex SHA-1 of the
	// certificate's DER.
	Thumbprint string
	// Result is IsPresent after an add, IsAbsent after a remove.
	Result CertificateModification
}

// OpenIDMetadata is the service's /.well-known/openid-configuration.
type OpenIDMetadata struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	RevocationEndpoint               string   `json:"revocation_endpoint,omitempty"`
	ResponseTypesSupported           []string `json:"response_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                  []string `json:"claims_supported,omitempty"`
	// Raw holds every member of the document.
	Raw map[string]any `json:"-"`
}

// TCBBaseline is one SGX TCB baseline the service offers.
type TCBBaseline struct {
	TCBIdentifier            string
	TCBEvaluationDataNumber  int64
	TCBReleaseDate           time.Time
	MinimumPSWLinuxVersion   string
	MinimumPSWWindowsVersion string
	IsSelectedTCB            bool
}
