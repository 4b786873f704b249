package cli

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/sdk/azattest"
)

// withHints wraps the RunE of cmd and every command below it so that the
// errors new users hit first say which flag fixes them.
func withHints(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			return hint(c, run(c, args))
		}
	}
	for _, sub := range cmd.Commands() {
		withHints(sub)
	}
}

// hint returns err with a line saying what to change, for the errors whose
// fix is a flag; other errors are returned unchanged.
func hint(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	has := func(name string) bool { return cmd.Flags().Lookup(name) != nil }
	var ve *azattest.TokenValidationError
	var ua x509.UnknownAuthorityError
	var cie x509.CertificateInvalidError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &ve) && errors.Is(err, azattest.ErrIssuerMismatch):
		flag := "--expected-issuer"
		if !has("expected-issuer") {
			flag = "--issuer"
		}
		if ve.Got == "" {
			return err
		}
		return fmt.Errorf("%w\nThe token was issued by %q, but %q was expected. If you trust that issuer, pass %s %s", err, ve.Got, ve.Expected, flag, ve.Got)
	case errors.As(err, &ve) && errors.Is(err, azattest.ErrTokenExpired) && has("time-slack"):
		return fmt.Errorf("%w\nIf this is a Maat dev server replaying old evidence, start it with --dev-evidence-time instead of --dev-time (tokens then use the real clock)", err)
	case errors.As(err, &ua) || errors.As(err, &cie):
		if has("ca-cert") {
			return fmt.Errorf("%w\nThe server's TLS certificate is not trusted: pass --ca-cert FILE (or set MAAT_CA_CERT) with its CA or, for `maat serve --dev`, the dev TLS certificate it prints", err)
		}
	case errors.As(err, &hostErr):
		return fmt.Errorf("%w\nUse an endpoint whose host the certificate names (for `maat serve --dev`: localhost or 127.0.0.1)", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w\nNothing is listening there: is the server running, and is --endpoint right?", err)
	case strings.Contains(err.Error(), "DefaultAzureCredential"):
		return fmt.Errorf("no credential for this management call: pass --bearer-token TOKEN or set %s (for `maat serve --dev`, the \"dev bearer token\" it prints), or --anonymous for a server without authentication; Azure's credential chain found none", clientEnvBearerToken)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		err = serviceError{re}
		if re.ErrorCode == "InvalidOperation" && strings.Contains(err.Error(), "policy has not been set") {
			return fmt.Errorf("%w\nSet a policy for this attestation type first: maat policy set --type TYPE POLICY_FILE (for TPM, e.g. examples/quickstart/tpm.policy)", err)
		}
		return err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Timeout() && has("timeout") {
		return fmt.Errorf("%w\nThe request timed out: raise --timeout, or check --endpoint", err)
	}
	return err
}

// serviceError shows a service's error answer on one line, "POST URL: 400
// InvalidQuote: message", instead of azcore's multi-line dump with the
// message JSON-escaped; it unwraps to the *azcore.ResponseError.
type serviceError struct{ re *azcore.ResponseError }

func (e serviceError) Unwrap() error { return e.re }

func (e serviceError) Error() string {
	resp := e.re.RawResponse
	if resp == nil || resp.Request == nil {
		return e.re.Error()
	}
	var body struct {
		Error struct {
			Code, Message string
		} `json:"error"`
	}
	msg := ""
	if b, err := runtime.Payload(resp); err == nil && json.Unmarshal(b, &body) == nil {
		msg = body.Error.Message
	}
	if msg == "" {
		return e.re.Error()
	}
	return fmt.Sprintf("%s %s: %d %s: %s", resp.Request.Method, resp.Request.URL.Redacted(), e.re.StatusCode, e.re.ErrorCode, msg)
}
