package cli

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/store"
)

func newKeysCommand() *cobra.Command {
	var dataDir, kek, storeDSN, schema string
	var allowPlain, allowInsecurePerms, asJSON bool
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, rotate and retire the token-signing keys, and rotate the key-encryption key",
		Long: `List, rotate and retire the token-signing keys of the instance stored in
--data (or in the PostgreSQL store given by --store), and re-seal them under a
new key-encryption key. Running servers pick up key changes within about a
second. Give these commands the same key-encryption settings as the server.`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", config.Default().DataDir, "data directory (env MAAT_DATA)")
	cmd.PersistentFlags().StringVar(&storeDSN, "store", "", "PostgreSQL DSN of a shared store (env MAAT_STORE); default: the SQLite database in --data")
	cmd.PersistentFlags().StringVar(&schema, "store-schema", "", "PostgreSQL schema (env MAAT_STORE_SCHEMA)")
	cmd.PersistentFlags().StringVar(&kek, "key-encryption-key-file", "", "key-encryption key file the server uses (env MAAT_KEY_ENCRYPTION_KEY_FILE); default with SQLite: the generated one in --data")
	cmd.PersistentFlags().BoolVar(&allowPlain, "allow-plaintext-keys", false, "PostgreSQL store without a key-encryption key: keys are unencrypted (env MAAT_ALLOW_PLAINTEXT_KEYS)")
	cmd.PersistentFlags().BoolVar(&allowInsecurePerms, "allow-insecure-key-file-permissions", false, "accept key files their group or others can access (env MAAT_ALLOW_INSECURE_KEY_FILE_PERMISSIONS)")

	var st store.Store // set by open, for the audit record of a change
	open := func(cmd *cobra.Command) (*keys.Manager, func(), string, error) {
		cfg := config.Default()
		cfg.DataDir = envOr(cmd, "data", "MAAT_DATA", dataDir)
		cfg.KeyEncryption = envOr(cmd, "key-encryption-key-file", "MAAT_KEY_ENCRYPTION_KEY_FILE", kek)
		cfg.Store = envOr(cmd, "store", "MAAT_STORE", storeDSN)
		cfg.StoreSchema = envOr(cmd, "store-schema", "MAAT_STORE_SCHEMA", schema)
		var err error
		if cfg.AllowPlaintextKeys, err = envBool(cmd, "allow-plaintext-keys", "MAAT_ALLOW_PLAINTEXT_KEYS", allowPlain); err != nil {
			return nil, nil, "", err
		}
		if cfg.AllowInsecureKeyFilePermissions, err = envBool(cmd, "allow-insecure-key-file-permissions", "MAAT_ALLOW_INSECURE_KEY_FILE_PERMISSIONS", allowInsecurePerms); err != nil {
			return nil, nil, "", err
		}
		if cfg.Store == "" {
			// Never create a data directory or database here: a typo in
			// --data must not leave an empty instance behind.
			db := filepath.Join(cfg.DataDir, "maat.db")
			if _, err := os.Stat(db); err != nil {
				return nil, nil, "", fmt.Errorf("no Maat data in %s (%s does not exist): check --data (or MAAT_DATA), or start `maat serve --data %s` once first", cfg.DataDir, db, cfg.DataDir)
			}
		}
		st, err = app.OpenStore(cmd.Context(), cfg)
		if err != nil {
			return nil, nil, "", err
		}
		inst, err := st.GetInstance(cmd.Context(), app.InstanceID)
		if err != nil {
			st.Close()
			return nil, nil, "", fmt.Errorf("no instance in %s (start `maat serve` once first): %w", cfg.DataDir, err)
		}
		sealer, err := app.Sealer(cfg, nil)
		if err != nil {
			st.Close()
			return nil, nil, "", err
		}
		m := keys.NewManager(st, app.InstanceID, sealer, nil, nil)
		return m, func() { st.Close() }, inst.Issuer, nil
	}
	keyFileOpts := func(cmd *cobra.Command) (keys.KeyFileOptions, error) {
		allow, err := envBool(cmd, "allow-insecure-key-file-permissions", "MAAT_ALLOW_INSECURE_KEY_FILE_PERMISSIONS", allowInsecurePerms)
		return keys.KeyFileOptions{AllowInsecurePermissions: allow}, err
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
			before := activeKID(cmd.Context(), m)
			k, err := m.Rotate(cmd.Context(), issuer)
			after := ""
			if k != nil {
				after = k.KID
			}
			recordKeyOperation(cmd.Context(), st, "key.rotate", before, after, err)
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
			err = m.Retire(cmd.Context(), args[0])
			recordKeyOperation(cmd.Context(), st, "key.retire", args[0], "", err)
			if err != nil {
				switch {
				case errors.Is(err, store.ErrConflict):
					return fmt.Errorf("key %s is the active signing key and cannot be retired: run `maat keys rotate` first, then retire it", args[0])
				case errors.Is(err, store.ErrNotFound):
					return fmt.Errorf("no signing key %s (see `maat keys list`)", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "retired key %s\n", args[0])
			return nil
		},
	}
	var newKEK string
	rotateKEK := &cobra.Command{
		Use:   "rotate-kek --new-key-file FILE",
		Short: "Re-seal every stored signing key under a new key-encryption key, in one transaction",
		Long: `Re-seal every stored signing key (retired ones included) under the
key-encryption key in --new-key-file, in one transaction: either every key is
re-sealed or none is. The current key comes from --key-encryption-key-file
(or, with SQLite, the key generated in --data). Afterwards, configure
key-encryption-key-file to the new file on every server and restart them:
running servers keep signing with the keys they hold in memory, but cannot
load keys from the store under the old key-encryption key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newKEK == "" {
				return fmt.Errorf("--new-key-file is required (create one with `maat keys generate-kek FILE`)")
			}
			opts, err := keyFileOpts(cmd)
			if err != nil {
				return err
			}
			k, err := keys.LoadKeyEncryptionKey(newKEK, opts)
			if err != nil {
				return fmt.Errorf("--new-key-file: %w", err)
			}
			next, err := keys.NewAESGCMSealer(k)
			if err != nil {
				return fmt.Errorf("--new-key-file: %w", err)
			}
			m, done, _, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			n, err := m.RotateKEK(cmd.Context(), next)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d signing keys under %s\nnow set key-encryption-key-file to %s on every server and restart them\n", n, newKEK, newKEK)
			return nil
		},
	}
	rotateKEK.Flags().StringVar(&newKEK, "new-key-file", "", "file with the new 32-byte key-encryption key (mode 0600)")
	generateKEK := &cobra.Command{
		Use:   "generate-kek FILE",
		Short: "Write a new random key-encryption key to FILE (mode 0600; never overwrites)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keys.GenerateKeyEncryptionKeyFile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote a new key-encryption key to %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, rotate, retire, rotateKEK, generateKEK)
	return cmd
}

// envBool is envOr for a boolean flag; it returns an error naming the
// variable for a value that is not a boolean.
func envBool(cmd *cobra.Command, flag, env string, val bool) (bool, error) {
	if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
		return val, nil
	}
	if v := os.Getenv(env); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("environment %s: %q is not a boolean", env, v)
		}
		return b, nil
	}
	return val, nil
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
