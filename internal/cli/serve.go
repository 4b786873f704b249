package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/config"
)

func newServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the MAA-compatible attestation server",
		Long: `Run the MAA-compatible attestation server.

Configuration comes from a YAML file (--config or MAAT_CONFIG), MAAT_*
environment variables and flags; flags override the environment, which
overrides the file. Every flag below is also a file key (same name) and an
environment variable (MAAT_ + upper case, dashes as underscores).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), nil)
			if err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			if err := preflight(cfg); err != nil {
				return err
			}
			build := ReadBuildInfo()
			cfg.Version = build.Version
			if build.Commit != "" {
				cfg.Version += " (" + build.Commit + ")"
			}
			log := NewLogger(cmd.ErrOrStderr(), cfg.LogFormat, cfg.LogLevel)
			log.Info("maat starting", "version", build.Version, "commit", build.Commit, "date", build.Date, "go", build.GoVersion, "tpm_simulator", build.Simulator)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := app.New(ctx, cfg, log, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// preflight checks what the configuration cannot: that the listen
// addresses are free. It runs before the server creates any state (data
// directory, database, signing key), so a busy port leaves nothing behind.
// The server binds again itself; a port taken in between is still reported.
func preflight(cfg config.Config) error {
	for _, kv := range [][2]string{{"https-addr", cfg.HTTPSAddr}, {"http-addr", cfg.HTTPAddr}} {
		if kv[1] == "" {
			continue
		}
		ln, err := net.Listen("tcp", kv[1])
		if err != nil {
			return fmt.Errorf("%s %s: %w (is another server running? choose another address with --%s)", kv[0], kv[1], err, kv[0])
		}
		ln.Close()
	}
	return nil
}

// NewLogger returns a slog logger writing text or JSON at the given level.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
