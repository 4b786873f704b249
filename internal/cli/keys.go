package cli

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/keys"
)

func newKeysCommand() *cobra.Command {
	var dataDir, kek, storeDSN, schema string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, rotate and retire the token-signing keys in a data directory",
		Long: `List, rotate and retire the token-signing keys of the instance stored in
--data (or in the PostgreSQL store given by --store). Running servers pick up
changes within about a second.`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", config.Default().DataDir, "data directory (env MAAT_DATA)")
	cmd.PersistentFlags().StringVar(&storeDSN, "store", "", "PostgreSQL DSN of a shared store (env MAAT_STORE); default: the SQLite database in --data")
	cmd.PersistentFlags().StringVar(&schema, "store-schema", "", "PostgreSQL schema (env MAAT_STORE_SCHEMA)")
	cmd.PersistentFlags().StringVar(&kek, "key-encryption-key-file", "", "key-encryption key file, if the server uses one (env MAAT_KEY_ENCRYPTION_KEY_FILE)")

	open := func(cmd *cobra.Command) (*keys.Manager, func(), string, error) {
		cfg := config.Default()
		cfg.DataDir = envOr(cmd, "data", "MAAT_DATA", dataDir)
		cfg.KeyEncryption = envOr(cmd, "key-encryption-key-file", "MAAT_KEY_ENCRYPTION_KEY_FILE", kek)
		cfg.Store = envOr(cmd, "store", "MAAT_STORE", storeDSN)
		cfg.StoreSchema = envOr(cmd, "store-schema", "MAAT_STORE_SCHEMA", schema)
		st, err := app.OpenStore(cmd.Context(), cfg)
		if err != nil {
			return nil, nil, "", err
		}
		inst, err := st.GetInstance(cmd.Context(), app.InstanceID)
		if err != nil {
			st.Close()
			return nil, nil, "", fmt.Errorf("no instance in %s (start `maat serve` once first): %w", cfg.DataDir, err)
		}
		sealer, err := app.Sealer(cfg)
		if err != nil {
			st.Close()
			return nil, nil, "", err
		}
		m := keys.NewManager(st, app.InstanceID, sealer, nil, nil)
		return m, func() { st.Close() }, inst.Issuer, nil
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, done, _, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ks, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				KID       string    `json:"kid"`
				State     string    `json:"state"`
				Subject   string    `json:"subject"`
				CreatedAt time.Time `json:"createdAt"`
			}
			var rows []row
			for _, k := range ks {
				subj := ""
				if c, err := x509.ParseCertificate(k.CertDER); err == nil {
					subj = c.Subject.CommonName
				}
				rows = append(rows, row{k.KID, string(k.State), subj, k.CreatedAt})
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			for _, r := range rows {
				fmt.Fprintf(cmd.OutOrStdout(), "%-46s %-10s %s  %s\n", r.KID, r.State, r.CreatedAt.Format(time.RFC3339), r.Subject)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Create a new active signing key; the previous one stays published until retired",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, done, issuer, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			k, err := m.Rotate(cmd.Context(), issuer)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new active key %s\n", k.KID)
			return nil
		},
	}
	retire := &cobra.Command{
		Use:   "retire KID",
		Short: "Stop publishing a non-active signing key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, done, _, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := m.Retire(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "retired key %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, rotate, retire)
	return cmd
}

// envOr returns the flag value if the flag was set, else the environment
// variable if set, else the flag's value (its default).
func envOr(cmd *cobra.Command, flag, env, val string) string {
	if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
		return val
	}
	if v := os.Getenv(env); v != "" {
		return v
	}
	return val
}
