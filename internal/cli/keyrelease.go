package cli

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/keyrelease"
	"github.com/maat-attest/maat/sdk/azattest"
)

// newKeyReleaseCommand returns "keys-release create|list|delete|release":
// manage the keys a Maat server releases to attested TEEs (/x-maat/keys, a
// Maat extension) and ask for one with an attestation token.
func newKeyReleaseCommand() *cobra.Command {
	var c keyrelease.Client
	root := &cobra.Command{
		Use:   "keys-release",
		Short: "Secure key release: keys a Maat server releases to attested TEEs (Maat extension, /x-maat/keys)",
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.Endpoint, "endpoint", "", "Maat server URL, e.g. http://127.0.0.1:8080 (required)")
	pf.StringVar(&c.BearerToken, "bearer-token", "", "bearer token for management calls (env "+clientEnvBearerToken+")")
	client := func(cmd *cobra.Command) (*keyrelease.Client, error) {
		if c.Endpoint == "" {
			return nil, fmt.Errorf("--endpoint is required")
		}
		k := c
		if !cmd.Flags().Changed("bearer-token") {
			k.BearerToken = os.Getenv(clientEnvBearerToken)
		}
		return &k, nil
	}

	var kty, policyFile, importFile string
	create := &cobra.Command{
		Use:   "create NAME --policy FILE",
		Short: "Create a key with an Azure Key Vault release policy (generated, or imported with --import)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := client(cmd)
			if err != nil {
				return err
			}
			pol, err := clientReadFile(cmd, policyFile)
			if err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			req := keyrelease.CreateRequest{KeyType: kty, ReleasePolicy: json.RawMessage(pol)}
			if importFile != "" {
				if req.Key, err = clientReadFile(cmd, importFile); err != nil {
					return fmt.Errorf("--import: %w", err)
				}
			}
			k, err := kc.Create(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return clientPrintJSON(cmd, k)
		},
	}
	create.Flags().StringVar(&kty, "kty", keyrelease.KeyTypeOct256, "key type: "+strings.Join(keyrelease.KeyTypes(), ", "))
	create.Flags().StringVar(&policyFile, "policy", "", "release policy JSON file (Azure Key Vault format, version 1.0.0) (required)")
	create.Flags().StringVar(&importFile, "import", "", "key to import instead of generating one: 32 raw bytes (oct-256) or PKCS#8 DER")
	_ = create.MarkFlagRequired("policy")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys and their release policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := client(cmd)
			if err != nil {
				return err
			}
			ks, err := kc.List(cmd.Context())
			if err != nil {
				return err
			}
			return clientPrintJSON(cmd, map[string]any{"keys": ks})
		},
	}

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := client(cmd)
			if err != nil {
				return err
			}
			return kc.Delete(cmd.Context(), args[0])
		},
	}

	var tokenFile, runtimeFile string
	release := &cobra.Command{
		Use:   "release NAME --token FILE",
		Short: "Ask for a key with an attestation token; prints the key wrapped (JWE) to the token's attested key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := client(cmd)
			if err != nil {
				return err
			}
			tok, err := clientReadFile(cmd, tokenFile)
			if err != nil {
				return fmt.Errorf("--token: %w", err)
			}
			req := keyrelease.ReleaseRequest{Target: strings.TrimSpace(string(tok))}
			if runtimeFile != "" {
				if req.RuntimeData, err = clientReadFile(cmd, runtimeFile); err != nil {
					return fmt.Errorf("--runtime-data: %w", err)
				}
			}
			out, err := kc.Release(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return clientPrintJSON(cmd, out)
		},
	}
	release.Flags().StringVar(&tokenFile, "token", "", "file with the attestation token (\"-\" for stdin) (required)")
	release.Flags().StringVar(&runtimeFile, "runtime-data", "", "the runtime data exactly as attested, when it is JSON not in canonical form")
	_ = release.MarkFlagRequired("token")

	var privFile, inFile string
	open := &cobra.Command{
		Use:   "open --private-key FILE --in FILE",
		Short: "Enclave side: open a release (the JSON release prints, or the bare JWE) with the enclave's private key; prints the released key (JWK)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pb, err := clientReadFile(cmd, privFile)
			if err != nil {
				return fmt.Errorf("--private-key: %w", err)
			}
			blk, _ := pem.Decode(pb)
			if blk == nil {
				return fmt.Errorf("--private-key: %s is not PEM", privFile)
			}
			priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return fmt.Errorf("--private-key: %w", err)
			}
			in, err := clientReadFile(cmd, inFile)
			if err != nil {
				return fmt.Errorf("--in: %w", err)
			}
			jwe := strings.TrimSpace(string(in))
			var rel keyrelease.Released
			if json.Unmarshal(in, &rel) == nil && rel.Value != "" {
				jwe = rel.Value
			}
			key, err := azattest.UnwrapSecret(jwe, priv)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(key))
			return err
		},
	}
	open.Flags().StringVar(&privFile, "private-key", "", "the enclave's private key, PEM PKCS#8 (from `maat simulate enclave-key`) (required)")
	open.Flags().StringVar(&inFile, "in", "-", "the release: JSON from `keys-release release`, or the JWE")
	_ = open.MarkFlagRequired("private-key")

	root.AddCommand(create, list, del, release, open)
	return root
}
