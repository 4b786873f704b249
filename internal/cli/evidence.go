package cli

// The evidence commands: inspect (parse only) and verify (full SGX DCAP /
// OpenEnclave verification against Intel collateral) evidence files offline.
// They call internal/evidence/sgx, internal/evidence/openenclave and
// internal/collateral and print one JSON object on stdout.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/openenclave"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/evidence/tdx"
)

// evidenceMaxFile bounds evidence, runtime data and PEM files read by the
// evidence commands.
const evidenceMaxFile = 4 << 20

// NewEvidenceCommand returns `evidence` with its `inspect` and `verify`
// subcommands. Both return errors (one line, no usage) instead of exiting.
func NewEvidenceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:          "evidence",
		Short:        "Inspect and verify SGX and OpenEnclave evidence offline",
		SilenceUsage: true,
	}
	cmd.AddCommand(newEvidenceInspectCommand(), newEvidenceVerifyCommand())
	return cmd
}

type evidenceCommon struct {
	typ, evidence, chain string
}

// sevsnpEvidence returns the SevSnpVm "report" JSON for ev: ev itself when
// it is that JSON, else a raw report wrapped with the --chain PEM.
func (c *evidenceCommon) sevsnpEvidence(ev []byte) ([]byte, error) {
	if t := bytes.TrimSpace(ev); len(t) > 0 && t[0] == '{' {
		return ev, nil
	}
	m := map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(ev)}
	if c.chain != "" {
		pemBytes, err := evidenceReadFile(c.chain, false)
		if err != nil {
			return nil, err
		}
		m["VcekCertChain"] = base64.RawURLEncoding.EncodeToString(pemBytes)
	}
	return json.Marshal(m)
}

func (c *evidenceCommon) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.typ, "type", "sgx", "evidence type: sgx (raw SGX quote), openenclave (OE report or OE evidence), sevsnp (the SevSnpVm report JSON {SnpReport, VcekCertChain}, or a raw 1184-byte report with --chain), tdx (a TD quote), tpm (inspect only: a /attest/Tpm Request message), or hcl (inspect only: an Azure HCL report, vTPM NV 0x01400001)")
	cmd.Flags().StringVar(&c.chain, "chain", "", "sevsnp: PEM VCEK/VLEK chain (VCEK, ASK, ARK) for a raw report given to --evidence")
	cmd.Flags().StringVar(&c.evidence, "evidence", "", "evidence file: raw bytes, hex, base64 or base64url (detected)")
	_ = cmd.MarkFlagRequired("evidence")
}

func (c *evidenceCommon) validate() error {
	if _, ok := evidenceTypes[c.typ]; !ok {
		return fmt.Errorf("--type must be sgx, openenclave, sevsnp or tdx, not %q", c.typ)
	}
	return nil
}

func newEvidenceInspectCommand() *cobra.Command {
	var c evidenceCommon
	cmd := &cobra.Command{
		Use:          "inspect",
		Short:        "Parse evidence (no verification) and print every field as JSON",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.typ == "tpm" || c.typ == "hcl" {
				ev, err := evidenceReadFile(c.evidence, true)
				if err != nil {
					return err
				}
				inspect := evidenceInspectTPM
				if c.typ == "hcl" {
					inspect = evidenceInspectHCL
				}
				out, err := inspect(ev)
				if err != nil {
					return err
				}
				return evidencePrintJSON(cmd.OutOrStdout(), out)
			}
			if err := c.validate(); err != nil {
				return err
			}
			ev, err := evidenceReadFile(c.evidence, true)
			if err != nil {
				return err
			}
			if c.typ == "sevsnp" {
				if ev, err = c.sevsnpEvidence(ev); err != nil {
					return err
				}
			}
			out, err := evidenceInspect(c.typ, ev)
			if err != nil {
				return err
			}
			return evidencePrintJSON(cmd.OutOrStdout(), out)
		},
	}
	c.flags(cmd)
	return cmd
}

func evidenceInspect(typ string, ev []byte) (map[string]any, error) {
	switch typ {
	case "sevsnp":
		e, err := sevsnp.DecodeEvidence(ev)
		if err != nil {
			return nil, err
		}
		r, err := sevsnp.ParseReport(e.Report)
		if err != nil {
			return nil, err
		}
		out := map[string]any{"type": "sevsnp", "report": inspectValue(r), "uvmEndorsements": len(e.UVM)}
		if e.Chain != nil {
			ch, err := sevsnp.ParseChain(e.Chain)
			if err != nil {
				return nil, err
			}
			out["chain"] = inspectValue(ch)
		}
		return out, nil
	case "tdx":
		q, err := tdx.ParseQuote(ev)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "tdx", "quote": inspectValue(q)}, nil
	}
	if typ == "sgx" {
		q, err := sgx.ParseQuote(ev)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "sgx", "quote": evidenceQuoteJSON(q)}, nil
	}
	if len(ev) >= 4 && binary.LittleEndian.Uint32(ev) == openenclave.AttestationHeaderV3 {
		e, err := openenclave.ParseEvidence(ev)
		if err != nil {
			return nil, err
		}
		q, err := sgx.ParseQuote(e.Quote)
		if err != nil {
			return nil, err
		}
		claims := []map[string]any{}
		for _, c := range e.CustomClaims {
			claims = append(claims, map[string]any{"name": c.Name, "value": hex.EncodeToString(c.Value)})
		}
		return map[string]any{"type": "openenclave", "attestationHeader": map[string]any{
			"version": e.Version, "formatId": openenclave.FormatString(e.FormatID), "dataSize": e.DataSize,
		}, "quote": evidenceQuoteJSON(q), "customClaims": claims}, nil
	}
	r, err := openenclave.ParseReport(ev)
	if err != nil {
		return nil, err
	}
	q, err := sgx.ParseQuote(r.Quote)
	if err != nil {
		return nil, err
	}
	return map[string]any{"type": "openenclave", "reportHeader": map[string]any{
		"version": r.Header.Version, "reportType": r.Header.ReportType, "reportSize": r.Header.ReportSize,
	}, "quote": evidenceQuoteJSON(q)}, nil
}

func evidenceQuoteJSON(q *sgx.Quote) map[string]any {
	h := q.Header
	m := map[string]any{
		"header": map[string]any{
			"version": h.Version, "attestationKeyType": h.AttestationKeyType, "teeType": h.TEEType,
			"qeSvn": h.QESVN, "pceSvn": h.PCESVN, "qeVendorId": hex.EncodeToString(h.QEVendorID[:]),
			"userData": hex.EncodeToString(h.UserData[:]),
		},
		"reportBody":            evidenceReportJSON(&q.Body),
		"signature":             hex.EncodeToString(q.Signature[:]),
		"attestationKey":        hex.EncodeToString(q.AttestationKey[:]),
		"qeReport":              evidenceReportJSON(&q.QEReport),
		"qeReportSignature":     hex.EncodeToString(q.QEReportSignature[:]),
		"qeAuthData":            hex.EncodeToString(q.QEAuthData),
		"certificationDataType": q.CertDataType,
		"certificationDataSize": len(q.CertData),
		"trailingBytes":         q.TrailingBytes,
		"length":                q.Len(),
	}
	if q.Header.Version == 5 {
		m["bodyType"] = q.BodyType
	}
	if q.OuterCertDataType != q.CertDataType {
		m["outerCertificationDataType"] = q.OuterCertDataType
	}
	var certs []map[string]any
	ders, _ := q.PCKChain()
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			certs = append(certs, map[string]any{"error": err.Error()})
			continue
		}
		e := map[string]any{
			"subject": c.Subject.String(), "issuer": c.Issuer.String(), "serial": hex.EncodeToString(c.SerialNumber.Bytes()),
			"notBefore": c.NotBefore.UTC().Format(time.RFC3339), "notAfter": c.NotAfter.UTC().Format(time.RFC3339),
			"sha256": hex.EncodeToString(evidenceSHA256(der)),
		}
		if x, err := sgx.PCKExtensionsFromCertificate(c); err == nil {
			e["sgxExtensions"] = evidencePCKJSON(x)
		}
		certs = append(certs, e)
	}
	if certs != nil {
		m["pckCertificateChain"] = certs
	} else {
		m["certificationData"] = hex.EncodeToString(q.CertData)
	}
	return m
}

func evidenceReportJSON(r *sgx.ReportBody) map[string]any {
	return map[string]any{
		"cpuSvn": hex.EncodeToString(r.CPUSVN[:]), "miscSelect": r.MiscSelect,
		"isvExtProdId": hex.EncodeToString(r.ISVExtProdID[:]), "attributes": hex.EncodeToString(r.Attributes[:]),
		"debug": r.Debug(), "mrEnclave": hex.EncodeToString(r.MREnclave[:]), "mrSigner": hex.EncodeToString(r.MRSigner[:]),
		"configId": hex.EncodeToString(r.ConfigID[:]), "isvProdId": r.ISVProdID, "isvSvn": r.ISVSVN,
		"configSvn": r.ConfigSVN, "isvFamilyId": hex.EncodeToString(r.ISVFamilyID[:]),
		"reportData": hex.EncodeToString(r.ReportData[:]),
		"reserved1":  hex.EncodeToString(r.Reserved1[:]), "reserved2": hex.EncodeToString(r.Reserved2[:]),
		"reserved3": hex.EncodeToString(r.Reserved3[:]), "reserved4": hex.EncodeToString(r.Reserved4[:]),
	}
}

func evidencePCKJSON(x *sgx.PCKExtensions) map[string]any {
	comps := make([]int, 16)
	for i, c := range x.TCBComponents {
		comps[i] = int(c)
	}
	m := map[string]any{
		"ppid": hex.EncodeToString(x.PPID[:]), "tcbComponents": comps, "pceSvn": x.PCESVN,
		"cpuSvn": hex.EncodeToString(x.CPUSVN[:]), "pceId": hex.EncodeToString(x.PCEID[:]),
		"fmspc": hex.EncodeToString(x.FMSPC[:]), "sgxType": int(x.SGXType),
	}
	if x.PlatformInstanceID != nil {
		m["platformInstanceId"] = hex.EncodeToString(x.PlatformInstanceID)
	}
	if c := x.Configuration; c != nil {
		m["configuration"] = map[string]any{"dynamicPlatform": c.DynamicPlatform, "cachedKeys": c.CachedKeys, "smtEnabled": c.SMTEnabled}
	}
	return m
}

type evidenceVerifyFlags struct {
	evidenceCommon
	runtimeData, collDir, collURL, collCA, rootCRLURL, at, pckChain string
	trustRoots, acceptTCB                                           []string
	acceptExpired                                                   bool
}

func newEvidenceVerifyCommand() *cobra.Command {
	var f evidenceVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify evidence against Intel collateral and print the claims as JSON",
		Long: `Verify an SGX quote or OpenEnclave report/evidence: PCK chain to the Intel SGX
Root CA (pinned by public key; --trust-root adds test roots), CRLs, TCB Info, QE
Identity, QE report, quote signature, TCB level and the TCB statuses given by
--accept-tcb-status. The verifiers are the server's own, so the claims
printed are those a policy sees. Collateral comes from a bundle
directory (--collateral) or, without it, from Intel PCS v4 or any PCCS/Azure cache
(--collateral-url). Exit status is 0 only when the evidence verified.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return evidenceVerify(cmd, &f)
		},
	}
	f.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.runtimeData, "runtime-data", "", "runtime data file (raw, hex, base64 or base64url); checks SHA-256(runtime data) == report_data[0:32]")
	fl.StringVar(&f.collDir, "collateral", "", "collateral bundle directory (tcb_info.json, qe_identity.json, pck_crl.der, root_ca_crl.der, issuer chains)")
	fl.StringVar(&f.collURL, "collateral-url", collateral.IntelPCSBaseURL, "PCS/PCCS base URL, used when --collateral is not given")
	fl.StringVar(&f.collCA, "collateral-ca", "", "PEM file of CA certificates trusted for the --collateral-url TLS connection (default: system roots)")
	fl.StringVar(&f.rootCRLURL, "root-crl-url", "", "Root CA CRL URL (default: Intel's for Intel PCS, <collateral-url>/rootcacrl otherwise)")
	fl.StringVar(&f.at, "at", "", "verification time, RFC 3339 (default: now)")
	fl.StringArrayVar(&f.trustRoots, "trust-root", nil, "PEM root certificate to trust in addition to Intel's (repeatable; for tests)")
	fl.StringVar(&f.pckChain, "pck-chain", "", "PEM PCK chain for quotes whose certification data carries none (types 1-4)")
	fl.BoolVar(&f.acceptExpired, "accept-expired-collateral", false, "accept collateral past its nextUpdate (reported in the output)")
	fl.StringSliceVar(&f.acceptTCB, "accept-tcb-status", allTCBStatuses, "TCB statuses accepted, as the server's accept-tcb-status (comma-separated or repeated); the default accepts every status short of Revoked and reports it, give the server's list to decide as it would")
	return cmd
}

// evidenceTypes maps --type values to attestation types. verify builds
// its verifiers with the server's own catalog (app.NewVerifiers), so the
// claims it prints are the claims the server's policy would see.
var evidenceTypes = map[string]evidence.Type{
	"sgx":         evidence.SgxEnclave,
	"openenclave": evidence.OpenEnclave,
	"sevsnp":      evidence.SevSnpVm,
	"tdx":         evidence.TdxVm,
}

// allTCBStatuses are the statuses a verification can end in (Revoked is
// always an error).
var allTCBStatuses = []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"}

func evidenceVerify(cmd *cobra.Command, f *evidenceVerifyFlags) error {
	if f.typ == "tpm" {
		return errors.New("--type tpm: a TPM Request answers the server's challenge and is sealed to it, so it cannot be verified offline; inspect it with `maat evidence inspect --type tpm`, or attest with `maat attest tpm`")
	}
	if err := f.validate(); err != nil {
		return err
	}
	typ := evidenceTypes[f.typ]
	ev, err := evidenceReadFile(f.evidence, true)
	if err != nil {
		return err
	}
	if f.typ == "sevsnp" {
		if ev, err = f.sevsnpEvidence(ev); err != nil {
			return err
		}
	}
	now := time.Now
	if f.at != "" {
		t, err := time.Parse(time.RFC3339, f.at)
		if err != nil {
			return fmt.Errorf("--at: %q is not an RFC 3339 time", f.at)
		}
		now = func() time.Time { return t }
	}
	cfg := config.Default()
	cfg.DataDir = "" // offline verification keeps no state (no AMD collateral cache)
	cfg.CollateralDir, cfg.CollateralURL, cfg.CollateralCA = f.collDir, f.collURL, f.collCA
	cfg.AcceptTCBStatus = f.acceptTCB
	cfg.TDXAcceptTCB = f.acceptTCB
	deps := app.VerifierDeps{
		Config:                  cfg,
		Now:                     now,
		Log:                     slog.New(slog.DiscardHandler),
		AcceptExpiredCollateral: f.acceptExpired,
		RootCRLURL:              f.rootCRLURL,
	}
	for _, p := range f.trustRoots {
		b, err := evidenceReadFile(p, false)
		if err != nil {
			return err
		}
		r, err := sgx.NewTrustRoot("", b)
		if err != nil {
			return fmt.Errorf("--trust-root %s: %v", p, err)
		}
		r.Name = fmt.Sprintf("%s (%s)", r.Cert.Subject.CommonName, filepath.Base(p))
		deps.SGXRoots = append(deps.SGXRoots, r)
	}
	if f.pckChain != "" {
		b, err := evidenceReadFile(f.pckChain, false)
		if err != nil {
			return err
		}
		deps.SGXCall = append(deps.SGXCall, sgx.WithPCKChain(b))
	}
	verifiers, err := app.NewVerifiers(deps)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ver, err := verifiers[typ].Verify(ctx, ev, nil)
	if err != nil {
		return fmt.Errorf("evidence not verified: %s%s", evidenceOneLine(err), evidenceHint(f.typ, ev, err))
	}
	out := map[string]any{"type": f.typ}
	var rd *attestation.Data
	if f.runtimeData != "" {
		b, err := evidenceReadFile(f.runtimeData, true)
		if err != nil {
			return err
		}
		rd = &attestation.Data{Bytes: b}
		out["runtimeDataBound"] = true
	}
	claims, err := attestation.IncomingClaims(ver, rd, nil)
	if err != nil {
		return fmt.Errorf("evidence not verified: %s", evidenceOneLine(err))
	}
	var res *sgx.Result
	switch d := ver.Detail.(type) {
	case *sgx.Result:
		res = d
	case *openenclave.Result:
		res = d.Result
		out["format"] = openenclave.FormatString(d.Format)
		if d.Format == openenclave.FormatSGXECDSA {
			cc := []map[string]any{}
			for _, c := range d.CustomClaims {
				cc = append(cc, map[string]any{"name": c.Name, "value": hex.EncodeToString(c.Value)})
			}
			out["customClaims"] = cc
		}
	}
	out["verified"] = true
	out["claims"] = claims
	if res != nil {
		advisories := res.AdvisoryIDs
		if advisories == nil {
			advisories = []string{}
		}
		out["tcb"] = map[string]any{
			"status": res.TCBStatus, "platformStatus": res.PlatformTCBStatus, "advisoryIds": advisories,
			"fmspc": res.FMSPC, "pceId": res.PCEID, "qeStatus": res.QEStatus, "tcbDate": res.TCBDate.Format(time.RFC3339),
			"tcbEvaluationDataNumber": res.TCBEvaluationDataNumber, "pckCa": res.PCKCA,
		}
		out["collateral"] = map[string]any{"expiry": res.CollateralExpiry.Format(time.RFC3339), "expired": res.CollateralExpired}
		out["root"] = res.Root
		out["verifiedAt"] = res.VerifiedAt.Format(time.RFC3339)
	}
	return evidencePrintJSON(cmd.OutOrStdout(), out)
}

// evidenceHint suggests the --type that fits evidence refused as the
// wrong kind, and the flag that accepts a refused TCB status.
func evidenceHint(typ string, ev []byte, err error) string {
	msg := err.Error()
	if strings.Contains(msg, "TCB status") && strings.Contains(msg, "not accepted") {
		return " (--accept-tcb-status adds statuses to accept)"
	}
	if len(ev) < 4 {
		return ""
	}
	switch v := binary.LittleEndian.Uint32(ev); {
	case typ == "sgx" && (v == openenclave.ReportHeaderVersion || v == openenclave.AttestationHeaderV3):
		return " (this looks like an OpenEnclave report or evidence: try --type openenclave)"
	case typ == "openenclave" && (v&0xffff == 3 || v&0xffff == 4 || v&0xffff == 5):
		return " (this looks like a raw SGX quote: try --type sgx)"
	}
	return ""
}

// evidenceOneLine flattens an error message to one line.
func evidenceOneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// evidenceReadFile reads a bounded file; with decode it detects hex, base64
// and base64url text and decodes it, otherwise returns the raw bytes.
func evidenceReadFile(path string, decode bool) ([]byte, error) {
	b, err := readFile(nil, path, evidenceMaxFile)
	if err != nil || !decode {
		return b, err
	}
	return decodeText(b), nil
}

func evidenceSHA256(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func evidencePrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return errors.New("cannot encode output: " + err.Error())
	}
	return nil
}

// inspectValue renders a parsed structure for `evidence inspect`: structs
// as objects of their exported fields, byte arrays and slices as hex,
// certificates by subject, issuer, serial and validity.
func inspectValue(v any) any {
	return inspectReflect(reflect.ValueOf(v), 0)
}

func inspectReflect(v reflect.Value, depth int) any {
	if depth > 12 || !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		if c, ok := v.Interface().(*x509.Certificate); ok {
			return map[string]any{"subject": c.Subject.String(), "issuer": c.Issuer.String(), "serial": c.SerialNumber.String(),
				"notBefore": c.NotBefore.UTC().Format(time.RFC3339), "notAfter": c.NotAfter.UTC().Format(time.RFC3339)}
		}
		return inspectReflect(v.Elem(), depth+1)
	}
	if s, ok := v.Interface().(fmt.Stringer); ok && v.Kind() != reflect.Struct {
		return s.String()
	}
	switch v.Kind() {
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return t.UTC().Format(time.RFC3339)
		}
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				if m, ok := inspectReflect(v.Field(i), depth+1).(map[string]any); ok {
					for k, x := range m {
						out[k] = x
					}
				}
				continue
			}
			out[lowerFirst(f.Name)] = inspectReflect(v.Field(i), depth+1)
		}
		return out
	case reflect.Array, reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return hex.EncodeToString(b)
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = inspectReflect(v.Index(i), depth+1)
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[fmt.Sprint(k.Interface())] = inspectReflect(v.MapIndex(k), depth+1)
		}
		return out
	}
	return v.Interface()
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}
