package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/storetest"
)

// testDSN returns MAAT_TEST_POSTGRES_DSN or skips the test.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("MAAT_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("MAAT_TEST_POSTGRES_DSN not set; skipping PostgreSQL tests")
	}
	return dsn
}

// adminConn is a plain connection (default search_path) for test setup and
// inspection, closed at cleanup.
func adminConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", "MAAT_TEST_POSTGRES_DSN", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// freshSchema returns a random schema name that does not exist yet; Open
// creates it, and it is dropped (with everything in it) at cleanup.
func freshSchema(t testing.TB, dsn string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := "maat_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("cleanup: connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", name, err)
		}
	})
	return name
}

func openStore(t testing.TB, dsn, schema string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, dsn, freshSchema(t, dsn))
	})
}

// withParam appends a runtime parameter to a URL DSN.
func withParam(t *testing.T, dsn, kv string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		t.Skip("test needs a URL-form MAAT_TEST_POSTGRES_DSN")
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&" + kv
	}
	return dsn + "?" + kv
}

// The store asks for READ COMMITTED itself, so a stricter database default
// does not turn concurrent changes into conflicts.
func TestConformanceUnderSerializableDefault(t *testing.T) {
	dsn := testDSN(t)
	strict := withParam(t, dsn, "default_transaction_isolation=serializable")
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, strict, freshSchema(t, dsn))
	})
}

// Concurrent changes of different policies of one instance all succeed:
// the instance lock serialises them instead of failing them, also when the
// database's default isolation is SERIALIZABLE.
func TestConcurrentIndependentWrites(t *testing.T) {
	dsn := testDSN(t)
	for _, tc := range []struct{ name, dsn string }{
		{"default", dsn},
		{"serializable-default", withParam(t, dsn, "default_transaction_isolation=serializable")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			schema := freshSchema(t, dsn)
			a, b := openStore(t, tc.dsn, schema), openStore(t, tc.dsn, schema)
			if err := a.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
				t.Fatal(err)
			}
			g0, _ := a.Generation(ctx, "i")
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := []*Store{a, b}[i%2]
					_, errs[i] = s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: fmt.Sprintf("T%d", i), JWS: "x", Text: "x"}, 0)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("PutPolicy(T%d): %v", i, err)
				}
			}
			list, _ := a.ListPolicies(ctx, "i")
			g1, _ := a.Generation(ctx, "i")
			if len(list) != n || g1 != g0+n {
				t.Fatalf("%d policies, generation %d → %d; want %d and +%d", len(list), g0, g1, n, n)
			}
		})
	}
}

// Without Options.Schema the store uses the connection's search_path (here
// from the DSN) and the default channel.
func TestSchemaFromDSN(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	admin := adminConn(t, dsn)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, withParam(t, dsn, "search_path="+schema), "")
	if s.Channel() != DefaultChannel {
		t.Fatalf("Channel() = %q, want %q", s.Channel(), DefaultChannel)
	}
	if err := s.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{schema, "instances"}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Fatalf("instances in %s: %d, %v", schema, n, err)
	}
}

// Schema names are quoted everywhere (search_path, CREATE SCHEMA, LISTEN).
func TestQuotedSchemaName(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := `Maat "Odd"-` + freshSchema(t, dsn)[len("maat_test_"):]
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(context.Background())
		}
	})
	a, b := openStore(t, dsn, schema), openStore(t, dsn, schema)
	if err := b.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, a)
	w.waitFor(t, 10*time.Second, "initial resync", func() bool { c, _ := w.state("i"); return c > 0 })
	if err := b.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "i", Thumbprint: "AA", DER: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	want, _ := b.Generation(ctx, "i")
	w.waitFor(t, time.Second, "notification", func() bool { _, g := w.state("i"); return g >= want })
}

func TestReopenKeepsData(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	s, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateInstance(ctx, store.Instance{ID: "default", Issuer: "https://x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dsn, schema)
	if _, err := s.GetInstance(ctx, "default"); err != nil {
		t.Fatalf("instance lost across reopen: %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	openStore(t, dsn, schema).Close()
	conn := adminConn(t, dsn)
	if _, err := conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` (version, name) VALUES ($1, 'future')`,
		SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, Options{Schema: schema}); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
}

// Errors from Open must not carry the DSN's password into logs.
func TestOpenErrorRedactsPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://u:s3cret@127.0.0.1:99999999/db",
		"postgres://u:s3cret@ho st/db",
		"host=127.0.0.1 password=s3cret port=abc",
		"postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2", // connection refused
	} {
		_, err := Open(ctx, dsn, Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error leaks the password: %v", err)
		}
	}
}

func TestRejectsBadSchemaName(t *testing.T) {
	long := "s" + fmt.Sprintf("%070d", 0)
	if _, err := Open(context.Background(), "postgres://127.0.0.1:1/x", Options{Schema: long}); err == nil {
		t.Fatal("Open accepted a 71-byte schema name")
	}
}

// Replicas starting together on an empty database: all Opens succeed and
// the migrations ran exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	const n = 4
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = Open(ctx, dsn, Options{Schema: schema})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		stores[i].Close()
	}
	conn := adminConn(t, dsn)
	var rows, maxVersion int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(version), 0) FROM `+pgx.Identifier{schema, "schema_version"}.Sanitize()).
		Scan(&rows, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if rows != SchemaVersion() || maxVersion != SchemaVersion() {
		t.Fatalf("schema_version has %d rows up to version %d; want %d rows (one per migration)", rows, maxVersion, SchemaVersion())
	}
	t.Logf("%d concurrent Opens: schema_version has %d row(s)", n, rows)
}

// A racing pair of certificate removals must not leave the instance without
// certificates.
func TestRemoveCertificatesRace(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	a, b := openStore(t, dsn, schema), openStore(t, dsn, schema)
	if err := a.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeIsolated}); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		for _, tp := range []string{"AA", "BB"} {
			if err := a.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "i", Thumbprint: tp, DER: []byte(tp)}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.RemovePolicyCertificate(ctx, "i", []string{"AA", "BB"}[i])
			}()
		}
		wg.Wait()
		certs, err := a.ListPolicyCertificates(ctx, "i")
		if err != nil {
			t.Fatal(err)
		}
		last := 0
		for _, err := range errs {
			if errors.Is(err, store.ErrLastCertificate) {
				last++
			} else if err != nil {
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if len(certs) != 1 || last != 1 {
			t.Fatalf("round %d: %d certificates left, %d ErrLastCertificate; want 1 and 1", round, len(certs), last)
		}
	}
}

// A failed optimistic write changes nothing, not even the generation.
func TestConflictLeavesGeneration(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	s := openStore(t, dsn, freshSchema(t, dsn))
	if err := s.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	g0, _ := s.Generation(ctx, "i")
	if _, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: "x"}, 5); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutPolicy(stale) = %v", err)
	}
	if g1, _ := s.Generation(ctx, "i"); g1 != g0 {
		t.Fatalf("generation moved from %d to %d on a rejected write", g0, g1)
	}
}

// The partial unique index enforces one active key even for writers that
// bypass the store's own check.
func TestOneActiveKeyIndex(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	s := openStore(t, dsn, schema)
	if err := s.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: "k1", PrivateKey: []byte{1}, CertDER: []byte{1}}, store.AddKeyOptions{Activate: true}); err != nil {
		t.Fatal(err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (instance_id, kid, private_key, cert_der, state, created_at) VALUES ('i', 'k2', '\x01', '\x01', 'active', now())`)
	if err = wrapErr("raw insert", err); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second active key via SQL = %v, want ErrConflict", err)
	}
}

// watcher runs s.Watch in the background and records what it delivers.
type watcher struct {
	mu     sync.Mutex
	calls  int
	latest map[string]int64
	at     map[string]time.Time // when latest[id] was first delivered
	seen   chan struct{}        // signalled (non-blocking) on every call
	done   chan error
}

func startWatch(t *testing.T, s *Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{latest: map[string]int64{}, at: map[string]time.Time{}, seen: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		w.done <- s.Watch(ctx, func(id string, g int64) {
			w.mu.Lock()
			w.calls++
			if g > w.latest[id] {
				w.latest[id], w.at[id] = g, time.Now()
			}
			w.mu.Unlock()
			select {
			case w.seen <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-w.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Watch did not return after cancel")
		}
	})
	return w
}

func (w *watcher) deliveredAt(id string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at[id]
}

func (w *watcher) state(id string) (calls int, gen int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls, w.latest[id]
}

// waitFor polls cond until it holds or the timeout passes, and returns how
// long it took.
func (w *watcher) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-w.seen:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(start)
}

func TestWatchDeliversChange(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	a, b := openStore(t, dsn, schema), openStore(t, dsn, schema)
	if err := b.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, a)
	// The resync on connect reports the current generation: Watch is listening.
	w.waitFor(t, 10*time.Second, "initial resync", func() bool { c, _ := w.state("i"); return c > 0 })

	// Delay from the moment PutPolicy returned (committed) to fn's call; it
	// can be slightly negative, since PostgreSQL sends the notification at
	// commit, concurrently with the commit's reply to the writer.
	var fromCommit, fromStart []time.Duration
	for i := range 20 {
		start := time.Now()
		if _, err := b.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: fmt.Sprint(i)}, int64(i)); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		want, _ := b.Generation(ctx, "i")
		w.waitFor(t, time.Second, fmt.Sprintf("notification of generation %d", want), func() bool { _, g := w.state("i"); return g >= want })
		at := w.deliveredAt("i")
		fromCommit = append(fromCommit, at.Sub(committed))
		fromStart = append(fromStart, at.Sub(start))
	}
	slices.Sort(fromCommit)
	slices.Sort(fromStart)
	t.Logf("PutPolicy on store B → Watch fn on store A, %d changes: from PutPolicy return p50 %v max %v; from PutPolicy start p50 %v max %v",
		len(fromStart), fromCommit[len(fromCommit)/2], fromCommit[len(fromCommit)-1], fromStart[len(fromStart)/2], fromStart[len(fromStart)-1])
	if m := fromStart[len(fromStart)-1]; m > time.Second {
		t.Fatalf("slowest notification took %v, want < 1s", m)
	}

	// A rolled-back change is not notified.
	callsBefore, genBefore := w.state("i")
	if _, err := b.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: "x"}, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale PutPolicy = %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if calls, g := w.state("i"); calls != callsBefore || g != genBefore {
		t.Fatalf("a rejected write was notified: calls %d→%d, generation %d→%d", callsBefore, calls, genBefore, g)
	}

	// New instances are notified too.
	if err := b.CreateInstance(ctx, store.Instance{ID: "j:with:colons", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, time.Second, "notification of a new instance", func() bool { _, g := w.state("j:with:colons"); return g == 1 })
}

func TestWatchSurvivesTerminatedConnection(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	a, b := openStore(t, dsn, schema), openStore(t, dsn, schema)
	if err := b.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, a)
	w.waitFor(t, 10*time.Second, "initial resync", func() bool { c, _ := w.state("i"); return c > 0 })

	admin := adminConn(t, dsn)
	watchPIDs := func() []uint32 {
		rows, err := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, a.watchApp)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	pids := watchPIDs()
	if len(pids) != 1 {
		t.Fatalf("found %d listening connections named %q, want 1", len(pids), a.watchApp)
	}
	calls0, _ := w.state("i")
	var killed bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pids[0], killed, err)
	}
	killedAt := time.Now()
	// Reconnected and listening again: the resync after LISTEN calls fn.
	w.waitFor(t, 10*time.Second, "resync after reconnect", func() bool { c, _ := w.state("i"); return c > calls0 })
	t.Logf("listener reconnected %v after pg_terminate_backend", time.Since(killedAt))
	if p := watchPIDs(); len(p) != 1 || p[0] == pids[0] {
		t.Fatalf("listening connections after reconnect: %v (old %d)", p, pids[0])
	}

	start := time.Now()
	if err := b.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "i", Thumbprint: "AA", DER: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	want, _ := b.Generation(ctx, "i")
	w.waitFor(t, time.Second, "notification after reconnect", func() bool { _, g := w.state("i"); return g >= want })
	t.Logf("notification after reconnect delivered %v after the start of the write", w.deliveredAt("i").Sub(start))

	// A change made while the listener is down is reported by the resync.
	pids = watchPIDs()
	calls1, _ := w.state("i")
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "i", Thumbprint: "BB", DER: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	want, _ = b.Generation(ctx, "i")
	w.waitFor(t, 10*time.Second, "change made while disconnected", func() bool {
		c, g := w.state("i")
		return c > calls1 && g >= want
	})
}

func TestParsePayload(t *testing.T) {
	for _, tc := range []struct {
		in   string
		id   string
		gen  int64
		fail bool
	}{
		{in: "default:7", id: "default", gen: 7},
		{in: "a:b:12", id: "a:b", gen: 12},
		{in: ":1", id: "", gen: 1},
		{in: "nocolon", fail: true},
		{in: "x:", fail: true},
		{in: "x:1.5", fail: true},
	} {
		id, gen, err := parsePayload(tc.in)
		if tc.fail != (err != nil) || id != tc.id || gen != tc.gen {
			t.Errorf("parsePayload(%q) = %q, %d, %v", tc.in, id, gen, err)
		}
	}
}

func TestChannelFor(t *testing.T) {
	if c := channelFor(""); c != DefaultChannel {
		t.Errorf("channelFor(\"\") = %q", c)
	}
	long := fmt.Sprintf("%063d", 1)
	if c := channelFor(long); len(c) > maxIdentifierLen || c == channelFor(fmt.Sprintf("%063d", 2)) {
		t.Errorf("channelFor(long) = %q", c)
	}
}

func benchStore(b *testing.B) *Store {
	dsn := testDSN(b)
	s := openStore(b, dsn, freshSchema(b, dsn))
	if err := s.CreateInstance(context.Background(), store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPutPolicy measures one PutPolicy round trip (a transaction of
// BEGIN, bump+notify, version read, upsert, COMMIT).
func BenchmarkPutPolicy(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var v int64
	for b.Loop() {
		p, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: "a.b.", Text: "policy"}, v)
		if err != nil {
			b.Fatal(err)
		}
		v = p.Version
	}
}

// BenchmarkGetPolicy measures one GetPolicy round trip (one query).
func BenchmarkGetPolicy(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	if _, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: "a.b.", Text: "policy"}, 0); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetPolicy(ctx, "i", "SgxEnclave"); err != nil {
			b.Fatal(err)
		}
	}
}

// After PostgreSQL drops the pool's connections (restart, failover,
// pg_terminate_backend), the next calls succeed on fresh connections instead
// of failing once per stale pooled connection.
func TestPoolRecoversFromTerminatedConnections(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn, Options{Schema: freshSchema(t, dsn), MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	admin := adminConn(t, dsn)
	for round := range 3 {
		// Fill the pool, then kill every connection in it.
		var conns []uint32
		held := make([]interface{ Release() }, 0, 3)
		for range 3 {
			c, err := s.pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c.Conn().PgConn().PID())
			held = append(held, c)
		}
		for _, c := range held {
			c.Release()
		}
		for _, pid := range conns {
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond) // let the backends exit
		if _, err := s.GetInstance(ctx, "i"); err != nil {
			t.Fatalf("round %d: GetInstance after terminate: %v", round, err)
		}
		if _, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: "x"}, int64(round)); err != nil {
			t.Fatalf("round %d: PutPolicy after terminate: %v", round, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("round %d: Ping after terminate: %v", round, err)
		}
	}
}
