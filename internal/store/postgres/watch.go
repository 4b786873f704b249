package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect and liveness timing of Watch.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
	// watchPingInterval: after this long without a notification, Watch
	// checks its connection with a query, so a silently dead connection (no
	// RST, e.g. a failed-over host) is noticed within about this interval
	// plus watchPingTimeout rather than after TCP keepalive gives up.
	watchPingInterval = 15 * time.Second
	watchPingTimeout  = 5 * time.Second
)

// Watch delivers this store's change notifications (see the package comment)
// to fn until ctx ends, then returns ctx.Err(). fn(instanceID, generation)
// means "the instance is at least at this generation"; it runs on Watch's
// goroutine, one call at a time, and should not block for long.
//
// Watch uses a dedicated connection outside the pool (application_name
// "<application_name> watch <channel>"), LISTENs on Store.Channel(), and
// reconnects by itself with exponential backoff (100 ms doubling to 5 s,
// jittered) when the connection drops, e.g. when PostgreSQL restarts.
// Every time it has (re)connected and is listening, it also calls fn with
// the current generation of every instance, so changes committed while it
// was disconnected are reported too; fn may therefore see a generation it
// already knows, or (rarely) an older one than the last it saw, and should
// act only when the generation is newer than the one it has cached.
//
// Notifications can still be lost (PostgreSQL does not queue them for a
// listener that is not connected, and a failover to a replica loses those
// in flight), so callers must also poll Store.Generation periodically as a
// fallback; Watch only makes propagation fast, not guaranteed.
func (s *Store) Watch(ctx context.Context, fn func(instanceID string, generation int64)) error {
	backoff := watchMinBackoff
	for {
		listening, err := s.watchOnce(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listening {
			backoff = watchMinBackoff
		}
		// Full jitter between backoff/2 and backoff, so replicas that lost
		// PostgreSQL together do not reconnect in lockstep.
		d := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("postgres: change listener disconnected; reconnecting", "channel", s.channel, "err", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, watchMaxBackoff)
	}
}

// watchOnce runs one listening session until its connection fails or ctx
// ends. listening reports whether it got as far as LISTEN and the resync.
func (s *Store) watchOnce(ctx context.Context, fn func(string, int64)) (listening bool, err error) {
	cfg := s.connCfg.Copy()
	cfg.RuntimeParams["application_name"] = s.watchApp
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Resync after LISTEN: anything committed from here on is notified, and
	// anything committed before is in this read. Notifications arriving
	// during the query are buffered by pgx and returned below.
	type gen struct {
		id string
		g  int64
	}
	rows, err := conn.Query(ctx, `SELECT id, generation FROM instances ORDER BY id`)
	if err != nil {
		return false, fmt.Errorf("resync: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gen, error) {
		var g gen
		err := r.Scan(&g.id, &g.g)
		return g, err
	})
	if err != nil {
		return false, fmt.Errorf("resync: %w", err)
	}
	s.log.Debug("postgres: change listener connected", "channel", s.channel, "instances", len(gens))
	for _, g := range gens {
		fn(g.id, g.g)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, watchPingInterval)
		n, err := conn.WaitForNotification(wctx)
		idle := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if err != nil {
			if !idle || conn.IsClosed() {
				return true, fmt.Errorf("wait: %w", err)
			}
			pctx, cancel := context.WithTimeout(ctx, watchPingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
			continue
		}
		id, g, err := parsePayload(n.Payload)
		if err != nil {
			s.log.Warn("postgres: ignoring malformed change notification", "channel", n.Channel, "err", err)
			continue
		}
		fn(id, g)
	}
}

// parsePayload splits "<instance id>:<generation>"; the instance ID may
// itself contain colons.
func parsePayload(p string) (string, int64, error) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return "", 0, errors.New("no ':' in payload")
	}
	g, err := strconv.ParseInt(p[i+1:], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("generation: %w", err)
	}
	return p[:i], g, nil
}
