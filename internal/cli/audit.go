package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/store"
)

func newAuditCommand() *cobra.Command {
	var dataDir, storeDSN, schema string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit trail of policy, certificate and signing-key changes",
		Long: `Read the audit trail kept in --data (or in the PostgreSQL store given by
--store): every policy set/reset, certificate add/remove and signing-key
rotate/retire, successful or refused, with its caller, request id and the
policy hash or certificate/key identifier before and after.`,
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data", config.Default().DataDir, "data directory (env MAAT_DATA)")
	cmd.PersistentFlags().StringVar(&storeDSN, "store", "", "PostgreSQL DSN of a shared store (env MAAT_STORE); default: the SQLite database in --data")
	cmd.PersistentFlags().StringVar(&schema, "store-schema", "", "PostgreSQL schema (env MAAT_STORE_SCHEMA)")

	var f store.AuditFilter
	var since, until string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit records, oldest first",
		Example: `  maat audit list --data /var/lib/maat
  maat audit list --operation policy.set --type SgxEnclave --since 24h --json
  maat audit list --result failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			now := time.Now()
			if f.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if f.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			cfg := config.Default()
			cfg.DataDir = envOr(cmd, "data", "MAAT_DATA", dataDir)
			cfg.Store = envOr(cmd, "store", "MAAT_STORE", storeDSN)
			cfg.StoreSchema = envOr(cmd, "store-schema", "MAAT_STORE_SCHEMA", schema)
			st, err := app.OpenStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			al, err := audit.LogOf(st)
			if err != nil {
				return err
			}
			if f.InstanceID == "" {
				f.InstanceID = app.InstanceID
			}
			recs, err := al.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				rows := make([]auditJSON, 0, len(recs))
				for _, r := range recs {
					rows = append(rows, toAuditJSON(r))
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tOPERATION\tTYPE\tRESULT\tCALLER\tSIGNER\tBEFORE\tAFTER\tREQUEST ID")
			for _, r := range recs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Time.Format(time.RFC3339), r.Operation, dash(r.AttestationType),
					r.Result, callerText(r), dash(r.Signer), dash(r.Before), dash(r.After), dash(r.RequestID))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&f.Operation, "operation", "", "only this operation: policy.set, policy.reset, certificate.add, certificate.remove, key.rotate, key.retire")
	list.Flags().StringVar(&f.AttestationType, "type", "", "only this attestation type (SgxEnclave, OpenEnclave, Tpm, …)")
	list.Flags().StringVar(&f.Result, "result", "", `only this result: "ok", "failed" (any error), or an error code`)
	list.Flags().StringVar(&since, "since", "", "only records at or after this time (RFC 3339, or a duration back from now such as 24h)")
	list.Flags().StringVar(&until, "until", "", "only records before this time (RFC 3339, or a duration back from now)")
	list.Flags().Int64Var(&f.AfterID, "after-id", 0, "only records with a larger id (paging)")
	list.Flags().IntVar(&f.Limit, "limit", store.DefaultAuditLimit, "at most this many records")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}

// auditJSON is the JSON form of a record printed by `maat audit list`.
type auditJSON struct {
	ID              int64     `json:"id"`
	Time            time.Time `json:"time"`
	Instance        string    `json:"instance"`
	Operation       string    `json:"operation"`
	AttestationType string    `json:"attestationType,omitempty"`
	Caller          struct {
		Kind     string `json:"kind"`
		Subject  string `json:"subject,omitempty"`
		ObjectID string `json:"objectId,omitempty"`
	} `json:"caller"`
	Signer    string `json:"signerThumbprint,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Result    string `json:"result"`
	Message   string `json:"message,omitempty"`
	Before    string `json:"before,omitempty"`
	After     string `json:"after,omitempty"`
}

func toAuditJSON(r store.AuditRecord) auditJSON {
	j := auditJSON{ID: r.ID, Time: r.Time, Instance: r.InstanceID, Operation: r.Operation, AttestationType: r.AttestationType,
		Signer: r.Signer, RequestID: r.RequestID, Result: r.Result, Message: r.Message, Before: r.Before, After: r.After}
	j.Caller.Kind, j.Caller.Subject, j.Caller.ObjectID = r.CallerKind, r.CallerSubject, r.CallerObjectID
	return j
}

func callerText(r store.AuditRecord) string {
	parts := []string{r.CallerKind}
	if r.CallerSubject != "" {
		parts = append(parts, "sub="+r.CallerSubject)
	}
	if r.CallerObjectID != "" {
		parts = append(parts, "oid="+r.CallerObjectID)
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseWhen reads an RFC 3339 time or a duration back from now ("" is the
// zero time).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a positive duration (24h)", s)
	}
	return now.Add(-d), nil
}

// recordKeyOperation appends the audit record of a signing-key change made
// by the CLI (the caller is the local OS user).
func recordKeyOperation(ctx context.Context, st store.Store, op, before, after string, opErr error) {
	al, err := audit.LogOf(st)
	if err != nil {
		return
	}
	rec := &audit.Recorder{Store: al, InstanceID: app.InstanceID}
	rec.Record(ctx, store.AuditRecord{Operation: op, Before: before, After: after}, audit.LocalCaller(), opErr)
}

// activeKID is the kid of the active signing key ("" if none).
func activeKID(ctx context.Context, m *keys.Manager) string {
	ks, err := m.List(ctx)
	if err != nil {
		return ""
	}
	for _, k := range ks {
		if k.State == store.KeyActive {
			return k.KID
		}
	}
	return ""
}
