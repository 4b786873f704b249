package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
)

// NewPolicyCommand returns "maat policy" with the offline subcommands
// "check", "eval" and "hash". Endpoint subcommands (get, set, reset) are added
// to the returned command by the caller.
//
// The subcommands print their diagnostics themselves ("FILE:line:col:
// message" on stderr) and then return a short error that wraps the domain
// error (*policy.ParseError, *policy.EvalError, ...), so cmd/maat can pick
// the exit code and need not print the diagnostic again.
func NewPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "policy",
		Short:         "Check, evaluate and hash attestation policies (MAA policy language 1.0-1.2)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newPolicyCheckCommand(), newPolicyEvalCommand(), newPolicyHashCommand())
	return cmd
}

// policyReported is returned after the diagnostic was written to stderr.
type policyReported struct {
	msg string
	err error
}

func (e *policyReported) Error() string { return e.msg }
func (e *policyReported) Unwrap() error { return e.err }

// Reported reports whether err was already written to stderr by the
// command (so cmd/maat only sets the exit code).
func Reported(err error) bool {
	var r *policyReported
	return errors.As(err, &r)
}

// policyReport writes "FILE:line:col: message" (or "FILE: message") to
// stderr and returns an error wrapping err.
func policyReport(cmd *cobra.Command, file string, err error, summary string) error {
	var pe *policy.ParseError
	var ee *policy.EvalError
	switch {
	case errors.As(err, &pe):
		fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d:%d: %s\n", file, pe.Line, pe.Col, pe.Msg)
	case errors.As(err, &ee):
		fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d:%d: %s\n", file, ee.Pos.Line, ee.Pos.Col, ee.Msg)
	default:
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", file, err)
	}
	return &policyReported{msg: file + ": " + summary, err: err}
}

func policyLoad(cmd *cobra.Command, file string) (*policy.Policy, error) {
	text, err := readFile(cmd.InOrStdin(), file, int64(policy.DefaultLimits().MaxPolicyBytes))
	if err != nil {
		return nil, policyReport(cmd, file, err, "cannot read policy")
	}
	p, err := policy.Parse(string(text))
	if err != nil {
		return nil, policyReport(cmd, file, err, "invalid policy")
	}
	return p, nil
}

func newPolicyCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check that FILE is a valid policy (exit 0); otherwise print FILE:line:col: message",
		Long: "Parse FILE (\"-\" reads stdin) as an attestation policy, with the same syntax and\n" +
			"semantic checks as the service. Prints nothing and exits 0 when the policy is valid.",
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := policyLoad(cmd, args[0])
			return err
		},
	}
}

func newPolicyHashCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash FILE",
		Short: "Print the x-ms-policy-hash of the policy text in FILE",
		Long: "Print BASE64URL(SHA256(BASE64URL(text))) of FILE's exact bytes (\"-\" reads stdin),\n" +
			"the value MAA puts in the x-ms-policy-hash claim. The text is not parsed.",
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readFile(cmd.InOrStdin(), args[0], int64(policy.DefaultLimits().MaxPolicyBytes))
			if err != nil {
				return policyReport(cmd, args[0], err, "cannot read policy")
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), policy.Hash(string(text)))
			return err
		},
	}
}

// policyEvalOutput is what "policy eval" prints.
type policyEvalOutput struct {
	Authorized bool           `json:"authorized"`
	Claims     map[string]any `json:"claims"`
	Properties map[string]any `json:"properties"`
}

func newPolicyEvalCommand() *cobra.Command {
	var policyFile, claimsFile string
	cmd := &cobra.Command{
		Use:   "eval --policy FILE --claims FILE",
		Short: "Evaluate a policy on incoming claims and print the result as JSON",
		Long: "Evaluate the policy on the incoming claims and print\n" +
			"{\"authorized\": bool, \"claims\": {issued claims}, \"properties\": {...}}.\n\n" +
			"Claims are a JSON object mapping claim type to value (objects and arrays become\n" +
			"JSON-valued claims), or an array of {\"type\", \"value\", \"valueType\", \"issuer\"}\n" +
			"(issuer defaults to AttestationService). A claim type issued several times is\n" +
			"printed as an array. Exits 0 when the evaluation ran, authorized or not (the\n" +
			"reason for a refusal goes to stderr); non-zero on a bad policy, bad claims or an\n" +
			"evaluation error.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := policyLoad(cmd, policyFile)
			if err != nil {
				return err
			}
			raw, err := readFile(cmd.InOrStdin(), claimsFile, policy.MaxClaimsJSONBytes)
			if err != nil {
				return policyReport(cmd, claimsFile, err, "cannot read claims")
			}
			claims, err := policy.ClaimsFromJSON(raw)
			if err != nil && strings.Contains(err.Error(), "Go value of type") {
				// The decoder names Go types: say it in the user's terms.
				if serr := checkClaimsShape(raw); serr != nil {
					err = serr
				}
			}
			if err != nil {
				return policyReport(cmd, claimsFile, err, "invalid claims")
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			res, err := p.Evaluate(ctx, claims)
			switch {
			case errors.Is(err, policy.ErrNotAuthorized):
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: not authorized: %s\n", policyFile, maaerr.As(err).Message)
			case err != nil:
				return policyReport(cmd, policyFile, err, "evaluation failed")
			}
			out := policyEvalOutput{Authorized: res.Authorized, Claims: res.ClaimsJSON(), Properties: res.PropertiesJSON()}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file (\"-\" reads stdin) (required)")
	cmd.Flags().StringVar(&claimsFile, "claims", "", "incoming claims, JSON (\"-\" reads stdin) (required)")
	_ = cmd.MarkFlagRequired("policy")
	_ = cmd.MarkFlagRequired("claims")
	return cmd
}

// checkClaimsShape says, in the user's terms, what is wrong with claims JSON
// that is neither an object nor an array of claim objects (the decoder's own
// errors name Go types).
func checkClaimsShape(raw []byte) error {
	const want = `want a JSON object {"claim type": value, ...} or an array of {"type": ..., "value": ..., "valueType": ..., "issuer": ...}`
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("not JSON (%v); %s", err, want)
	}
	kind := func(x any) string {
		switch x.(type) {
		case nil:
			return "null"
		case bool:
			return "a boolean"
		case float64:
			return "a number"
		case string:
			return "a string"
		case []any:
			return "an array"
		}
		return "an object"
	}
	switch x := v.(type) {
	case map[string]any:
		return nil
	case []any:
		for i, el := range x {
			obj, ok := el.(map[string]any)
			if !ok {
				return fmt.Errorf("element %d is %s; %s", i, kind(el), want)
			}
			if t, ok := obj["type"].(string); !ok || t == "" {
				return fmt.Errorf("element %d has no string \"type\"; %s", i, want)
			}
		}
		return nil
	default:
		return fmt.Errorf("the claims are %s; %s", kind(v), want)
	}
}
