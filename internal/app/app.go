// Package app is the composition root of `maat serve`: from a validated
// config.Config it takes the data-directory lock, opens the store, ensures
// the instance and its signing key, binds the listeners, derives the issuer,
// builds the HTTP surface, and runs until its context ends, then shuts down
// gracefully within the configured bound.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"

	"github.com/maat-attest/maat/internal/audit"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/httpapi"
	"github.com/maat-attest/maat/internal/keys"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/metrics"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/postgres"
	"github.com/maat-attest/maat/internal/store/sqlite"
	"github.com/maat-attest/maat/internal/token"
	"github.com/maat-attest/maat/internal/tracing"
)

// InstanceID is the id of the one instance a server serves for now.
const InstanceID = "default"

// fresh implements the max-staleness bound: attestation is refused once the
// store has not answered for longer than the bound.
func (a *App) fresh() error {
	if a.cfg.MaxStaleness <= 0 {
		return nil
	}
	if since := a.now().Sub(time.Unix(0, a.lastStoreOK.Load())); since > a.cfg.MaxStaleness {
		return maaerr.New(maaerr.ServiceUnavailable, "The attestation state is stale: the store has been unreachable for %s (limit %s).", since.Round(time.Second), a.cfg.MaxStaleness)
	}
	return nil
}

// ErrDataDirLocked is returned when another maat process holds the data
// directory.
var ErrDataDirLocked = errors.New("data directory is in use by another maat process")

// App is a running (or ready to run) server.
type App struct {
	cfg   config.Config
	log   *slog.Logger
	out   io.Writer
	lock  *flock.Flock
	store store.Store
	now   func() time.Time // tokens, management, keys, bookkeeping
	inst  *instance
	// verifyNow dates evidence and collateral checks (--dev-evidence-time).
	verifyNow func() time.Time
	// lastStoreOK is when the store last answered (unix nanoseconds).
	lastStoreOK atomic.Int64

	httpLn, httpsLn net.Listener
	handler         http.Handler // the whole HTTP surface (benchmarks call it directly)
	servers         []*http.Server

	// Operations (admin.go, observe.go, certreload.go).
	opts       Options
	metrics    *metrics.Metrics // nil without an admin listener
	tracing    *tracing.Tracing // no-op unless enabled
	observer   observe.Observer // nil when nothing observes
	adminLn    net.Listener     // nil without an admin listener
	certs      *certReloader    // nil without HTTPS
	generation atomic.Int64     // instance generation last loaded
	recorder   *audit.Recorder  // audit trail (audit.go)

	closeOnce sync.Once
}

// New prepares a server from cfg (which must be valid): it returns an error
// wrapping ErrDataDirLocked when another process holds the data directory,
// and other errors when the store, keys or listeners cannot be set up. Start-
// up information (addresses, dev certificate fingerprint, banner) goes to out.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) (*App, error) {
	return NewWithOptions(ctx, cfg, log, out, Options{})
}

// NewWithOptions is New with Options.
func NewWithOptions(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, out: out, opts: opts}
	if err := a.init(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) init(ctx context.Context) (err error) {
	cfg, log, out := a.cfg, a.log, a.out
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	lockPath := filepath.Join(cfg.DataDir, "maat.lock")
	a.lock = flock.New(lockPath)
	locked, err := a.lock.TryLock()
	if err != nil {
		return fmt.Errorf("data directory %s: lock %s: %w", cfg.DataDir, lockPath, err)
	}
	if !locked {
		a.lock = nil
		return fmt.Errorf("%w: %s (lock file %s); stop the other server or use another --data directory", ErrDataDirLocked, cfg.DataDir, lockPath)
	}
	if cfg.Dev {
		fmt.Fprint(out, devBanner)
		log.Warn("DEVELOPMENT MODE: generated TLS certificate and development conveniences are enabled; do not use in production")
	}

	a.store, err = OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	if err := a.listen(); err != nil {
		return err
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = a.derivedIssuer()
	}
	clk := devClocks(cfg, out, log)
	a.now, a.verifyNow = clk.Tokens, clk.Verify
	if err := a.observability(ctx); err != nil {
		return err
	}
	if a.inst, err = a.buildInstance(ctx, issuer); err != nil {
		return err
	}
	// The store has just answered every query of the build.
	a.lastStoreOK.Store(a.now().UnixNano())
	auth, err := a.buildAuth()
	if err != nil {
		return err
	}
	api := &httpapi.Server{
		Log:          log,
		IssuerURI:    a.Issuer,
		Keys:         a.inst.keys,
		Ready:        a.ready,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Attester:     a.attester(),
		Management:   a.inst.management,
		Auth:         auditingAuth{inner: auth, rec: a.recorder},
		Baselines:    a.inst.baselines,
		Observer:     a.observer,
	}
	handler, err := a.mountKeyRelease(api.Handler(), auth)
	if err != nil {
		return err
	}
	handler = withVersion(a.wrapHandler(handler), cfg.Version)
	a.handler = handler
	if a.httpLn != nil {
		a.servers = append(a.servers, a.newServer(handler, nil))
	}
	if a.httpsLn != nil {
		tlsCfg, fingerprint, certPath, err := a.tlsConfig()
		if err != nil {
			return err
		}
		if cfg.Dev {
			fmt.Fprintf(out, "dev TLS certificate: %s\ndev TLS certificate SHA-256 fingerprint: %s\n", certPath, fingerprint)
			printDevTrustLine(out, certPath)
		}
		a.servers = append(a.servers, a.newServer(handler, tlsCfg))
	}
	a.registerState()
	fmt.Fprintf(out, "issuer: %s\n", a.inst.issuer)
	if a.httpsLn != nil {
		fmt.Fprintf(out, "listening on https://%s\n", a.httpsLn.Addr())
	}
	if a.httpLn != nil {
		fmt.Fprintf(out, "listening on http://%s\n", a.httpLn.Addr())
	}
	if a.adminLn != nil {
		fmt.Fprintf(out, "admin (metrics, health) on http://%s\n", a.adminLn.Addr())
	}
	return nil
}

const devBanner = `
************************************************************************
*  MAAT DEVELOPMENT MODE (--dev)                                       *
*  Generated TLS certificate, development conveniences enabled.        *
*  Tokens from this server prove nothing to a production relying party.*
************************************************************************
`

// OpenStore opens the store the configuration names: PostgreSQL for a
// postgres:// DSN, else the embedded SQLite database in the data directory.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.Store != "" {
		s, err := postgres.Open(ctx, cfg.Store, postgres.Options{Schema: cfg.StoreSchema})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "maat.db"), sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return s, nil
}

// GeneratedKEKFile is the name, in the data directory, of the
// key-encryption key generated for an SQLite store when none is configured.
const GeneratedKEKFile = "key-encryption-key"

// Sealer returns the private-key sealer the configuration asks for: AES-GCM
// under the configured key-encryption key; with SQLite and none configured,
// under one generated (mode 0600) in the data directory on first use; with
// PostgreSQL and none configured, plaintext only when allow-plaintext-keys
// opts out (logged as a warning each time), else an error. Key files its
// group or others can access are refused unless the configuration allows
// it. log may be nil.
func Sealer(cfg config.Config, log *slog.Logger) (keys.Sealer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := cfg.KeyEncryption
	switch {
	case path != "":
	case cfg.Store == "":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		path = filepath.Join(cfg.DataDir, GeneratedKEKFile)
		created, err := keys.EnsureKeyEncryptionKeyFile(path)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("generated a key-encryption key for the signing keys; back it up with the database, or configure key-encryption-key-file from a secret store", "file", path)
		}
	case cfg.AllowPlaintextKeys:
		log.Warn("SIGNING KEYS ARE STORED UNENCRYPTED in the shared PostgreSQL store (allow-plaintext-keys); anyone who can read the database can forge tokens. Configure key-encryption-key-file.")
		return keys.PlainSealer{}, nil
	default:
		return nil, errors.New("key-encryption-key-file: required with a PostgreSQL store (the same 32-byte key file on every replica, e.g. from `maat keys generate-kek FILE`), or set allow-plaintext-keys to store signing keys unencrypted")
	}
	k, err := keys.LoadKeyEncryptionKey(path, keys.KeyFileOptions{AllowInsecurePermissions: cfg.AllowInsecureKeyFilePermissions})
	if err != nil {
		return nil, err
	}
	return keys.NewAESGCMSealer(k)
}

func (a *App) listen() error {
	if a.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("http-addr %s: %w", a.cfg.HTTPAddr, err)
		}
		a.httpLn = ln
		if !config.IsLoopback(a.cfg.HTTPAddr) {
			a.log.Warn("plain HTTP is listening on a non-loopback address; tokens and policies travel unencrypted", "http_addr", ln.Addr().String())
		}
	}
	if a.cfg.HTTPSAddr != "" {
		ln, err := net.Listen("tcp", a.cfg.HTTPSAddr)
		if err != nil {
			return fmt.Errorf("https-addr %s: %w", a.cfg.HTTPSAddr, err)
		}
		a.httpsLn = ln
	}
	return a.listenAdmin()
}

// derivedIssuer is the instance URI when none is configured: the HTTPS
// listener if any, else the HTTP one, with "localhost" for loopback or
// unspecified hosts.
func (a *App) derivedIssuer() string {
	scheme, ln := "https", a.httpsLn
	if ln == nil {
		scheme, ln = "http", a.httpLn
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := "localhost"
	if !addr.IP.IsLoopback() && !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

func (a *App) ensureInstance(ctx context.Context, in *instance) error {
	mode, issuer := in.mode, in.issuer
	inst, err := a.store.GetInstance(ctx, in.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = a.store.CreateInstance(ctx, store.Instance{ID: in.id, Issuer: issuer, Mode: mode})
		if errors.Is(err, store.ErrConflict) {
			return a.ensureInstance(ctx, in) // created concurrently by another process
		}
		return err
	case err != nil:
		return fmt.Errorf("store: %w", err)
	}
	if inst.Issuer != issuer || inst.Mode != mode {
		a.log.Info("instance settings changed", "issuer", issuer, "previous_issuer", inst.Issuer, "mode", mode, "previous_mode", inst.Mode)
		inst.Issuer, inst.Mode = issuer, mode
		return a.store.UpdateInstance(ctx, inst)
	}
	return nil
}

func (a *App) newServer(h http.Handler, tlsCfg *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

func (a *App) ready(ctx context.Context) error {
	if err := a.store.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if _, err := a.inst.keys.Active(); err != nil {
		return err
	}
	return nil
}

// Issuer returns the instance URI.
func (a *App) Issuer() string { return a.inst.issuer }

// Tokens returns the token issuer of the instance.
func (a *App) Tokens() *token.Issuer { return a.inst.tokens }

// Keys returns the signing-key manager of the instance.
func (a *App) Keys() *keys.Manager { return a.inst.keys }

// HTTPAddr returns the bound plain-HTTP address, or "".
func (a *App) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// HTTPSAddr returns the bound HTTPS address, or "".
func (a *App) HTTPSAddr() string {
	if a.httpsLn == nil {
		return ""
	}
	return a.httpsLn.Addr().String()
}

// Run serves until ctx is done, then shuts down gracefully: listeners close,
// in-flight requests get up to the configured shutdown timeout. It returns
// the first serving error, or nil after a clean shutdown.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, len(a.servers))
	for _, srv := range a.servers {
		go func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(a.httpsLn, "", "")
			} else {
				err = srv.Serve(a.httpLn)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var admin *http.Server
	if a.adminLn != nil {
		admin = a.newServer(a.adminHandler(), nil)
		admin.WriteTimeout = 0 // pprof profiles stream for longer
		go func() {
			if err := admin.Serve(a.adminLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go a.pollChanges(pollCtx)
	if a.certs != nil {
		go a.certs.watch(pollCtx, time.Second)
	}

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	case runErr = <-errc:
		a.log.Error("server failed", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range a.servers {
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("graceful shutdown incomplete", "err", err)
			_ = srv.Close()
		}
	}
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	if err := a.tracing.Shutdown(sctx); err != nil {
		a.log.Warn("flushing traces failed", "err", err)
	}
	a.Close()
	return runErr
}

// watcher is implemented by stores that push change notifications
// (PostgreSQL LISTEN/NOTIFY).
type watcher interface {
	Watch(ctx context.Context, fn func(instanceID string, generation int64)) error
}

// pollChanges reloads keys and drops cached policies when another process
// (another replica, or `maat keys rotate`) changed the instance. Stores that
// push notifications wake it at once; the store's generation counter is
// also polled every second, as notifications can be lost.
func (a *App) pollChanges(ctx context.Context) {
	wake := make(chan struct{}, 1)
	if w, ok := a.store.(watcher); ok {
		go func() {
			_ = w.Watch(ctx, func(instanceID string, _ int64) {
				if instanceID == InstanceID {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			})
		}()
	}
	last, _ := a.store.Generation(ctx, InstanceID)
	a.generation.Store(last)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		g, err := a.store.Generation(ctx, InstanceID)
		if err == nil {
			a.lastStoreOK.Store(a.now().UnixNano())
		}
		if err != nil || g <= last {
			continue
		}
		if err := a.inst.keys.Reload(ctx); err != nil {
			a.log.Warn("reloading keys failed", "err", err)
			continue
		}
		a.inst.policies.Invalidate()
		last = g
		a.generation.Store(g)
	}
}

// Close releases the store and the data-directory lock. It is safe to call
// more than once.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		if a.httpLn != nil {
			a.httpLn.Close()
		}
		if a.httpsLn != nil {
			a.httpsLn.Close()
		}
		if a.inst != nil && a.inst.keys != nil {
			a.inst.keys.Close()
		}
		if a.adminLn != nil {
			a.adminLn.Close()
		}
		if a.store != nil {
			a.store.Close()
		}
		if a.lock != nil {
			_ = a.lock.Unlock()
		}
	})
}
