package cli

// Client commands: attest, policy get/set/reset, certs, token. They talk to
// any MAA-compatible endpoint (Microsoft Azure Attestation or a Maat server)
// through the Go SDK, github.com/maat-attest/maat/sdk/azattest, and print
// results as JSON or text on stdout.

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/sdk/azattest"
)

// clientEnvBearerToken is the environment variable read when --bearer-token
// is not given.
const clientEnvBearerToken = "MAAT_BEARER_TOKEN"

// clientMaxInput bounds files and JWKS documents the client commands read.
const clientMaxInput = 16 << 20

// clientConn holds the connection flags shared by the client commands.
type clientConn struct {
	endpoint       string
	apiVersion     string
	bearerToken    string
	scope          string
	anonymous      bool
	expectedIssuer string
	timeSlack      time.Duration
	transportFlags

	// transport replaces the HTTP transport (tests).
	transport policy.Transporter
}

func (c *clientConn) addFlags(cmd *cobra.Command, management bool) {
	f := cmd.Flags()
	f.StringVar(&c.endpoint, "endpoint", "", "attestation endpoint, e.g. https://myinstance.wus.attest.azure.net or http://127.0.0.1:8080 (required)")
	f.StringVar(&c.apiVersion, "api-version", string(azattest.DefaultServiceVersion), "api-version: "+joinVersions())
	f.StringVar(&c.bearerToken, "bearer-token", "", "bearer token for the service (env "+clientEnvBearerToken+")")
	f.StringVar(&c.scope, "scope", azattest.DefaultScope, "token scope requested from the Azure credential chain")
	f.StringVar(&c.expectedIssuer, "expected-issuer", "", "required iss of the service's tokens (default: the endpoint)")
	f.DurationVar(&c.timeSlack, "time-slack", 0, "clock skew tolerated when checking token exp/nbf")
	addTransportFlags(cmd, &c.transportFlags)
	if management {
		f.BoolVar(&c.anonymous, "anonymous", false, "send no credential (servers without authentication)")
	}
	_ = cmd.MarkFlagRequired("endpoint")
}

func joinVersions() string {
	var s []string
	for _, v := range azattest.PossibleServiceVersionValues() {
		s = append(s, string(v))
	}
	return strings.Join(s, ", ")
}

// credential picks the credential: --bearer-token or MAAT_BEARER_TOKEN if
// set; otherwise, for management calls, azidentity's default chain; for
// attestation calls none (MAA needs none).
func (c *clientConn) credential(cmd *cobra.Command, management bool) (azcore.TokenCredential, error) {
	tok := c.bearerToken
	if !cmd.Flags().Changed("bearer-token") {
		tok = os.Getenv(clientEnvBearerToken)
	}
	switch {
	case tok != "":
		return clientStaticToken(tok), nil
	case !management || c.anonymous:
		return nil, nil
	}
	if u, err := url.Parse(c.endpoint); err == nil && clientIsLoopback(u.Hostname()) {
		// A local server is never MAA: Azure's credential chain cannot
		// help, and probing it only delays the error.
		return nil, fmt.Errorf("management calls to %s need a bearer token: pass --bearer-token TOKEN or set %s (for `maat serve --dev`, the \"dev bearer token\" it prints at start), or --anonymous for a server without authentication", c.endpoint, clientEnvBearerToken)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w (or pass --bearer-token / %s, or --anonymous)", err, clientEnvBearerToken)
	}
	return cred, nil
}

func (c *clientConn) options() (*azattest.ClientOptions, error) {
	v := azattest.ServiceVersion(c.apiVersion)
	known := false
	for _, p := range azattest.PossibleServiceVersionValues() {
		known = known || p == v
	}
	if !known {
		return nil, fmt.Errorf("--api-version %q: want one of %s", c.apiVersion, joinVersions())
	}
	o := &azattest.ClientOptions{
		ServiceVersion: v,
		Scopes:         []string{c.scope},
		TokenValidation: azattest.TokenValidationOptions{
			ExpectedIssuer: c.expectedIssuer,
			TimeSlack:      c.timeSlack,
		},
	}
	// A bearer token over plain http only to a loopback address (a local
	// Maat server); anything else needs https.
	if u, err := url.Parse(c.endpoint); err == nil && u.Scheme == "http" && clientIsLoopback(u.Hostname()) {
		o.InsecureAllowCredentialWithHTTP = true
	}
	if err := c.transportFlags.apply(&o.ClientOptions); err != nil {
		return nil, err
	}
	if c.transport != nil {
		o.Transport = c.transport
	}
	return o, nil
}

func clientIsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *clientConn) client(cmd *cobra.Command) (*azattest.Client, error) {
	cred, err := c.credential(cmd, false)
	if err != nil {
		return nil, err
	}
	o, err := c.options()
	if err != nil {
		return nil, err
	}
	return azattest.NewClient(c.endpoint, cred, o)
}

func (c *clientConn) admin(cmd *cobra.Command) (*azattest.AdministrationClient, error) {
	cred, err := c.credential(cmd, true)
	if err != nil {
		return nil, err
	}
	o, err := c.options()
	if err != nil {
		return nil, err
	}
	return azattest.NewAdministrationClient(c.endpoint, cred, o)
}

// clientStaticToken is a bearer token given on the command line.
type clientStaticToken string

func (t clientStaticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// clientReadFile reads a file ("-" is stdin), bounded by clientMaxInput.
func clientReadFile(cmd *cobra.Command, name string) ([]byte, error) {
	return readFile(cmd.InOrStdin(), name, clientMaxInput)
}

func clientPrintJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// NewAttestCommand returns "attest sgx|openenclave|sevsnp|tdx": send
// evidence to an endpoint and print the validated token's claims as JSON.
func NewAttestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Attest evidence with an MAA-compatible endpoint and print the validated claims",
		Long: `Attest evidence with an MAA-compatible endpoint (Microsoft Azure Attestation
or a Maat server) and print the claims of the returned token as JSON, after
validating it against the endpoint's /certs (signature, exp/nbf, issuer).

The evidence file may be raw bytes or base64/base64url text. Runtime and
init-time data are sent byte-exact. Attestation needs no credential; a
bearer token (--bearer-token or ` + clientEnvBearerToken + `) is sent if given.`,
	}
	for _, k := range []struct {
		name, short string
		typ         azattest.AttestationType
	}{
		{"sgx", "Attest an Intel SGX DCAP quote (/attest/SgxEnclave)", azattest.AttestationTypeSGXEnclave},
		{"openenclave", "Attest an OpenEnclave report or evidence (/attest/OpenEnclave)", azattest.AttestationTypeOpenEnclave},
		{"sevsnp", "Attest an AMD SEV-SNP VM (/attest/SevSnpVm, api-version ≥ 2022-08-01)", azattest.AttestationTypeSEVSNPVM},
		{"tdx", "Attest an Intel TDX VM quote (/attest/TdxVm, api-version 2025-06-01)", azattest.AttestationTypeTDXVM},
	} {
		cmd.AddCommand(newAttestKindCommand(k.name, k.short, k.typ))
	}
	cmd.AddCommand(newAttestTPMCommand())
	cmd.AddCommand(newAttestAzureGuestCommand())
	return cmd
}

func newAttestKindCommand(name, short string, typ azattest.AttestationType) *cobra.Command {
	var conn clientConn
	var evidence, runtimeData, runtimeJSON, initData, initJSON, nonce, draft, output string
	cmd := &cobra.Command{
		Use:          name,
		Short:        short,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ev, err := clientReadFile(cmd, evidence)
			if err != nil {
				return err
			}
			ev = decodeText(ev)
			if err := checkOutput(output); err != nil {
				return err
			}
			data := func(binFile, jsonFile string) (*azattest.AttestationData, error) {
				switch {
				case binFile != "":
					// As in `maat evidence verify`: hex or base64 text is
					// decoded, anything else is sent as is.
					b, err := clientReadFile(cmd, binFile)
					return &azattest.AttestationData{Data: decodeText(b), DataType: azattest.DataTypeBinary}, err
				case jsonFile != "":
					b, err := clientReadFile(cmd, jsonFile)
					return &azattest.AttestationData{Data: b, DataType: azattest.DataTypeJSON}, err
				}
				return nil, nil
			}
			rt, err := data(runtimeData, runtimeJSON)
			if err != nil {
				return err
			}
			it, err := data(initData, initJSON)
			if err != nil {
				return err
			}
			var noncePtr, draftPtr *string
			if cmd.Flags().Changed("nonce") {
				noncePtr = &nonce
			}
			if draft != "" {
				if typ == azattest.AttestationTypeTDXVM {
					return errors.New("--draft-policy is not supported for tdx")
				}
				b, err := clientReadFile(cmd, draft)
				if err != nil {
					return err
				}
				s := string(b)
				draftPtr = &s
			}
			client, err := conn.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			var res azattest.AttestationResult
			switch typ {
			case azattest.AttestationTypeSGXEnclave:
				r, e := client.AttestSGXEnclave(ctx, ev, &azattest.AttestSGXEnclaveOptions{RuntimeData: rt, InitTimeData: it, Nonce: noncePtr, DraftPolicyForAttestation: draftPtr})
				res, err = r.AttestationResult, e
			case azattest.AttestationTypeOpenEnclave:
				r, e := client.AttestOpenEnclave(ctx, ev, &azattest.AttestOpenEnclaveOptions{RuntimeData: rt, InitTimeData: it, Nonce: noncePtr, DraftPolicyForAttestation: draftPtr})
				res, err = r.AttestationResult, e
			case azattest.AttestationTypeSEVSNPVM:
				r, e := client.AttestSEVSNPVM(ctx, ev, &azattest.AttestSEVSNPVMOptions{RuntimeData: rt, InitTimeData: it, Nonce: noncePtr, DraftPolicyForAttestation: draftPtr})
				res, err = r.AttestationResult, e
			case azattest.AttestationTypeTDXVM:
				r, e := client.AttestTDXVM(ctx, ev, &azattest.AttestTDXVMOptions{RuntimeData: rt, InitTimeData: it, Nonce: noncePtr})
				res, err = r.AttestationResult, e
			}
			if err != nil {
				return err
			}
			if res.Token.Unsecured() {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: draft-policy result: the token is unsigned (alg none) and proves nothing")
			}
			return printAttestResult(cmd, output, res.Token, res.RawClaims)
		},
	}
	conn.addFlags(cmd, false)
	if typ == azattest.AttestationTypeTDXVM {
		// TdxVm exists only in 2025-06-01: default to it.
		fl := cmd.Flags().Lookup("api-version")
		_ = fl.Value.Set(string(azattest.ServiceVersion2025_06_01))
		fl.DefValue = string(azattest.ServiceVersion2025_06_01)
	}
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringVar(&evidence, "evidence", "", "evidence file: quote or report, raw or base64/base64url text (\"-\" for stdin) (required)")
	f.StringVar(&runtimeData, "runtime-data", "", "runtime data file (raw, hex, base64 or base64url), sent as Binary")
	f.StringVar(&runtimeJSON, "runtime-json", "", "runtime data file, sent as JSON")
	f.StringVar(&initData, "init-data", "", "init-time data file (raw, hex, base64 or base64url), sent as Binary")
	f.StringVar(&initJSON, "init-json", "", "init-time data file, sent as JSON")
	f.StringVar(&nonce, "nonce", "", "nonce echoed in the token's nonce claim")
	if typ != azattest.AttestationTypeTDXVM {
		f.StringVar(&draft, "draft-policy", "", "policy file to evaluate instead of the stored policy (the result is unsigned)")
	}
	_ = cmd.MarkFlagRequired("evidence")
	cmd.MarkFlagsMutuallyExclusive("runtime-data", "runtime-json")
	cmd.MarkFlagsMutuallyExclusive("init-data", "init-json")
	return cmd
}

// Attestation output formats (--output).
const (
	outputClaims = "claims" // the validated token's claims as JSON
	outputToken  = "token"  // the token itself (compact JWS), for `maat token decode|verify`
	outputJSON   = "json"   // {"token": ..., "claims": {...}}
)

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", outputClaims, "what to print: claims (the validated token's claims as JSON), token (the JWS itself, e.g. > token.jwt) or json (both)")
}

func checkOutput(output string) error {
	switch output {
	case outputClaims, outputToken, outputJSON:
		return nil
	}
	return fmt.Errorf("--output %q: want claims, token or json", output)
}

func printAttestResult(cmd *cobra.Command, output string, tok *azattest.Token, claims map[string]any) error {
	switch output {
	case outputToken:
		_, err := fmt.Fprintln(cmd.OutOrStdout(), tok.String())
		return err
	case outputJSON:
		return clientPrintJSON(cmd, map[string]any{"token": tok.String(), "claims": claims})
	}
	return clientPrintJSON(cmd, claims)
}

// clientAttestationType maps a --type value (any case) to its canonical name.
func clientAttestationType(s string) (azattest.AttestationType, error) {
	var names []string
	for _, t := range azattest.PossibleAttestationTypeValues() {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
		names = append(names, string(t))
	}
	return "", fmt.Errorf("--type %q: want one of %s", s, strings.Join(names, ", "))
}

// clientSigningKey loads --signing-key (PEM private key: PKCS#8, PKCS#1 or
// SEC 1) and --signing-cert (PEM certificate). Both or neither.
func clientSigningKey(cmd *cobra.Command, keyFile, certFile string) (*azattest.SigningKey, error) {
	if keyFile == "" && certFile == "" {
		return nil, nil
	}
	if keyFile == "" || certFile == "" {
		return nil, errors.New("--signing-key and --signing-cert go together")
	}
	kb, err := clientReadFile(cmd, keyFile)
	if err != nil {
		return nil, err
	}
	cb, err := clientReadFile(cmd, certFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyFile)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			if key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
				return nil, fmt.Errorf("%s: not a PKCS#8, PKCS#1 or EC private key", keyFile)
			}
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type %T", keyFile, key)
	}
	cert, err := clientParseCert(cb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	return &azattest.SigningKey{Signer: signer, Certificate: cert}, nil
}

func clientParseCert(b []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	return x509.ParseCertificate(b)
}

func clientThumbprint(c *x509.Certificate) string {
	h := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

type clientSignerJSON struct {
	KeyID      string `json:"kid,omitempty"`
	Subject    string `json:"subject,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
	NotBefore  string `json:"notBefore,omitempty"`
	NotAfter   string `json:"notAfter,omitempty"`
}

func clientSignerInfo(s *azattest.Signer) *clientSignerJSON {
	if s == nil {
		return nil
	}
	out := &clientSignerJSON{KeyID: s.KeyID}
	if len(s.Certificates) > 0 {
		c := s.Certificates[0]
		out.Subject, out.Thumbprint = c.Subject.String(), clientThumbprint(c)
		out.NotBefore, out.NotAfter = c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339)
	}
	return out
}

type clientPolicyResultJSON struct {
	Result    azattest.PolicyModification `json:"result"`
	TokenHash string                      `json:"tokenHash,omitempty"`
	Signer    *clientSignerJSON           `json:"signer,omitempty"`
}

// PolicyClientCommands returns "get", "set" and "reset", to be attached under
// "maat policy": read, set and reset an endpoint's attestation policy.
func PolicyClientCommands() []*cobra.Command {
	newCmd := func(use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, admin *azattest.AdministrationClient, t azattest.AttestationType, key *azattest.SigningKey, args []string) error) *cobra.Command {
		var conn clientConn
		var typ, keyFile, certFile string
		var strict bool
		cmd := &cobra.Command{
			Use:          use,
			Short:        short,
			Args:         args,
			SilenceUsage: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				t, err := clientAttestationType(typ)
				if err != nil {
					return err
				}
				key, err := clientSigningKey(cmd, keyFile, certFile)
				if err != nil {
					return err
				}
				admin, err := conn.admin(cmd)
				if err != nil {
					return err
				}
				err = run(cmd, admin, t, key, args)
				if use == "get" {
					return err // reading changes nothing: a bad token is an error
				}
				return appliedWarning(cmd, strict, err)
			},
		}
		conn.addFlags(cmd, true)
		cmd.Flags().StringVar(&typ, "type", "", "attestation type: SgxEnclave, OpenEnclave, Tpm, SevSnpVm, TdxVm, AzureGuest (required)")
		_ = cmd.MarkFlagRequired("type")
		if use != "get" {
			cmd.Flags().StringVar(&keyFile, "signing-key", "", "PEM private key that signs the request (isolated mode)")
			cmd.Flags().StringVar(&certFile, "signing-cert", "", "PEM certificate of --signing-key")
			addStrictFlag(cmd, &strict)
		}
		return cmd
	}
	ctxOf := func(cmd *cobra.Command) context.Context {
		if cmd.Context() != nil {
			return cmd.Context()
		}
		return context.Background()
	}
	get := newCmd("get", "Print the policy in force for an attestation type", cobra.NoArgs,
		func(cmd *cobra.Command, admin *azattest.AdministrationClient, t azattest.AttestationType, _ *azattest.SigningKey, _ []string) error {
			res, err := admin.GetPolicy(ctxOf(cmd), t, nil)
			if err != nil {
				return err
			}
			if res.Policy == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "no %s policy is set\n", t)
				return nil
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.TrimRight(res.Policy, "\r\n"))
			return err
		})
	set := newCmd("set POLICY_FILE", "Set the policy for an attestation type (POLICY_FILE \"-\" reads stdin)", cobra.ExactArgs(1),
		func(cmd *cobra.Command, admin *azattest.AdministrationClient, t azattest.AttestationType, key *azattest.SigningKey, args []string) error {
			p, err := clientReadFile(cmd, args[0])
			if err != nil {
				return err
			}
			res, err := admin.SetPolicy(ctxOf(cmd), t, string(p), &azattest.SetPolicyOptions{SigningKey: key})
			if err != nil && !azattest.IsAppliedButUnvalidated(err) {
				return err
			}
			if perr := clientPrintJSON(cmd, clientPolicyResultJSON{Result: res.Result,
				TokenHash: base64.RawURLEncoding.EncodeToString(res.TokenHash), Signer: clientSignerInfo(res.Signer)}); perr != nil {
				return perr
			}
			return err
		})
	reset := newCmd("reset", "Reset the policy for an attestation type to the default", cobra.NoArgs,
		func(cmd *cobra.Command, admin *azattest.AdministrationClient, t azattest.AttestationType, key *azattest.SigningKey, _ []string) error {
			res, err := admin.ResetPolicy(ctxOf(cmd), t, &azattest.ResetPolicyOptions{SigningKey: key})
			if err != nil && !azattest.IsAppliedButUnvalidated(err) {
				return err
			}
			out := clientPolicyResultJSON{Result: res.Result, Signer: clientSignerInfo(res.Signer)}
			if res.TokenHash != nil {
				out.TokenHash = base64.RawURLEncoding.EncodeToString(res.TokenHash)
			}
			if perr := clientPrintJSON(cmd, out); perr != nil {
				return perr
			}
			return err
		})
	return []*cobra.Command{get, set, reset}
}

// NewCertsCommand returns "certs list|add|remove": the endpoint's policy
// management certificates.
func NewCertsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "List, add and remove an endpoint's policy management certificates",
	}
	ctxOf := func(cmd *cobra.Command) context.Context {
		if cmd.Context() != nil {
			return cmd.Context()
		}
		return context.Background()
	}
	{
		var conn clientConn
		list := &cobra.Command{
			Use:          "list",
			Short:        "List the policy management certificates",
			Args:         cobra.NoArgs,
			SilenceUsage: true,
			RunE: func(cmd *cobra.Command, _ []string) error {
				admin, err := conn.admin(cmd)
				if err != nil {
					return err
				}
				res, err := admin.GetPolicyManagementCertificates(ctxOf(cmd), nil)
				if err != nil {
					return err
				}
				out := []*clientSignerJSON{}
				for i := range res.Signers {
					out = append(out, clientSignerInfo(&res.Signers[i]))
				}
				return clientPrintJSON(cmd, out)
			},
		}
		conn.addFlags(list, true)
		cmd.AddCommand(list)
	}
	for _, op := range []string{"add", "remove"} {
		var conn clientConn
		var keyFile, certFile string
		var strict bool
		c := &cobra.Command{
			Use:          op + " CERT_FILE",
			Short:        strings.ToUpper(op[:1]) + op[1:] + " a policy management certificate (signed with a current management key)",
			Args:         cobra.ExactArgs(1),
			SilenceUsage: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				cb, err := clientReadFile(cmd, args[0])
				if err != nil {
					return err
				}
				cert, err := clientParseCert(cb)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				key, err := clientSigningKey(cmd, keyFile, certFile)
				if err != nil {
					return err
				}
				if key == nil {
					return errors.New("--signing-key and --signing-cert are required")
				}
				admin, err := conn.admin(cmd)
				if err != nil {
					return err
				}
				var res azattest.PolicyCertificatesModificationResult
				if op == "add" {
					r, e := admin.AddPolicyManagementCertificate(ctxOf(cmd), cert, *key, nil)
					res, err = r.PolicyCertificatesModificationResult, e
				} else {
					r, e := admin.RemovePolicyManagementCertificate(ctxOf(cmd), cert, *key, nil)
					res, err = r.PolicyCertificatesModificationResult, e
				}
				if err != nil && !azattest.IsAppliedButUnvalidated(err) {
					return err
				}
				if perr := clientPrintJSON(cmd, map[string]string{"result": string(res.Result), "thumbprint": res.Thumbprint}); perr != nil {
					return perr
				}
				return appliedWarning(cmd, strict, err)
			},
		}
		conn.addFlags(c, true)
		c.Flags().StringVar(&keyFile, "signing-key", "", "PEM private key of a current policy management certificate (required)")
		c.Flags().StringVar(&certFile, "signing-cert", "", "PEM certificate of --signing-key (required)")
		addStrictFlag(c, &strict)
		_ = c.MarkFlagRequired("signing-key")
		_ = c.MarkFlagRequired("signing-cert")
		cmd.AddCommand(c)
	}
	return cmd
}

func addStrictFlag(cmd *cobra.Command, strict *bool) {
	cmd.Flags().BoolVar(strict, "strict", false, "exit non-zero when the change was applied but the service's response token does not validate (default: a warning)")
}

// appliedWarning turns "applied, but the response token does not validate"
// into a warning on stderr (nil), or with --strict into an error saying the
// change was applied anyway. Other errors pass unchanged.
func appliedWarning(cmd *cobra.Command, strict bool, err error) error {
	if err == nil || !azattest.IsAppliedButUnvalidated(err) {
		return err
	}
	if strict {
		return fmt.Errorf("the service applied the change, but its response token does not validate (--strict): %w", hint(cmd, err))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "warning: the service applied the change, but its response token does not validate: %v\n", hint(cmd, err))
	return nil
}

// clientReadToken reads a token file: the compact JWS itself, or a JSON
// response body {"token": "..."}.
func clientReadToken(cmd *cobra.Command, name string) (*azattest.Token, error) {
	b, err := clientReadFile(cmd, name)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "{") {
		var body struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(s), &body); err == nil && body.Token != "" {
			s = body.Token
		}
	} else if strings.HasPrefix(s, `"`) {
		_ = json.Unmarshal([]byte(s), &s)
	}
	return azattest.ParseToken(s)
}

// NewTokenCommand returns "token decode|verify".
func NewTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Decode and verify attestation tokens (JWS)",
	}
	decode := &cobra.Command{
		Use:          "decode FILE",
		Short:        "Print a token's header and claims as JSON, without verifying anything",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := clientReadToken(cmd, args[0])
			if err != nil {
				return err
			}
			out := map[string]any{"header": tok.RawHeader(), "claims": tok.RawClaims(), "signatureBytes": len(tok.Signature())}
			if tok.RawClaims() == nil && len(tok.Payload()) > 0 {
				out["payload"] = string(tok.Payload())
			}
			return clientPrintJSON(cmd, out)
		},
	}
	var jwks, issuer, at string
	var tf transportFlags
	var slack time.Duration
	var allowUnsecured bool
	verify := &cobra.Command{
		Use:   "verify --jwks FILE|URL FILE",
		Short: "Verify a token's signature and validity times against a JWKS; exit non-zero unless they verify",
		Long: `Verify a token against the JWK Set given with --jwks (a file, or an http(s)
URL such as https://myinstance.wus.attest.azure.net/certs). Keys, certificates
or URLs inside the token itself (jku, x5c, jwk) are never used. The command
succeeds only if the signature verifies with a JWKS key and the time (--at,
default now) is within the token's nbf/exp; with --issuer, iss must match too.`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := clientReadToken(cmd, args[0])
			if err != nil {
				return err
			}
			var doc []byte
			if strings.HasPrefix(jwks, "https://") || strings.HasPrefix(jwks, "http://") {
				doc, err = clientFetchJWKS(cmd, &tf, jwks)
			} else {
				doc, err = clientReadFile(cmd, jwks)
			}
			if err != nil {
				return fmt.Errorf("--jwks: %w", err)
			}
			signers, err := azattest.ParseSigners(doc)
			if err != nil {
				return fmt.Errorf("--jwks: %w", err)
			}
			now := time.Now()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at: %w", err)
				}
			}
			o := &azattest.TokenValidationOptions{
				ExpectedIssuer:     issuer,
				DisableIssuerCheck: issuer == "",
				TimeSlack:          slack,
				AllowUnsecured:     allowUnsecured,
				Now:                func() time.Time { return now },
			}
			signer, err := tok.Validate(signers, o)
			if err != nil {
				return err
			}
			c := tok.Claims()
			out := map[string]any{"valid": true, "alg": tok.Header().Algorithm, "issuer": c.Issuer, "checkedAt": now.UTC().Format(time.RFC3339)}
			if signer != nil {
				out["signer"] = clientSignerInfo(signer)
			}
			if c.ExpiresAt != nil {
				out["expires"] = c.ExpiresAt.Format(time.RFC3339)
			}
			if issuer == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: issuer not checked (no --issuer)")
			}
			return clientPrintJSON(cmd, out)
		},
	}
	f := verify.Flags()
	f.StringVar(&jwks, "jwks", "", "JWK Set: file (\"-\" for stdin) or http(s) URL of the issuer's /certs (required)")
	f.StringVar(&issuer, "issuer", "", "required iss (default: not checked)")
	f.StringVar(&at, "at", "", "verification time, RFC 3339 (default: now)")
	f.DurationVar(&slack, "time-slack", 0, "clock skew tolerated on exp/nbf")
	f.BoolVar(&allowUnsecured, "allow-unsecured", false, "accept an unsigned (alg none) token, e.g. a draft-policy result")
	addTransportFlags(verify, &tf)
	_ = verify.MarkFlagRequired("jwks")
	cmd.AddCommand(decode, verify)
	return cmd
}

func clientFetchJWKS(cmd *cobra.Command, tf *transportFlags, u string) ([]byte, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	hc, err := tf.httpClient()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, clientMaxInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > clientMaxInput {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", u, clientMaxInput)
	}
	return b, nil
}
