package collateral

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// CacheOptions configures a Cache. The zero value is usable: DefaultCacheOptions
// documents it.
type CacheOptions struct {
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time
	// RefreshBefore is how long before an item's nextUpdate a background
	// refresh starts (the cached copy is still served meanwhile). 0 means 24 h.
	RefreshBefore time.Duration
	// FetchTimeout bounds a background refresh; 0 means 1 min.
	FetchTimeout time.Duration
	// Offline makes the cache never call its source: it serves what was put
	// in with Put (or fetched earlier) and errors with ErrOffline otherwise.
	Offline bool
	// ServeExpired lets Fetch return an item past its nextUpdate when the
	// source fails (or the cache is offline); the verifier then decides. False
	// means an expired item is never served.
	ServeExpired bool
	// Logger receives background refresh failures; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultCacheOptions returns the defaults: wall clock, refresh 24 h before
// nextUpdate, online, never serve expired items.
func DefaultCacheOptions() CacheOptions {
	return CacheOptions{RefreshBefore: 24 * time.Hour, FetchTimeout: time.Minute}
}

// Cache is a Source in front of another. Items are keyed by Key (FMSPC for
// TCB Info, CA for the PCK CRL) and kept until their nextUpdate; at most one
// fetch per key runs at a time (concurrent callers wait for it); when the
// source fails, a cached item that is still before its nextUpdate is
// served; from RefreshBefore ahead of nextUpdate the cached item is served
// while one background fetch replaces it.
type Cache struct {
	src  Source
	opts CacheOptions

	mu       sync.Mutex
	items    map[Key]*Item
	inflight map[Key]*call
}

type call struct {
	done chan struct{}
	it   *Item
	err  error
}

var _ Source = (*Cache)(nil)

// NewCache returns a cache in front of src (src may be nil when Offline).
func NewCache(src Source, opts CacheOptions) *Cache {
	if opts.RefreshBefore == 0 {
		opts.RefreshBefore = 24 * time.Hour
	}
	if opts.FetchTimeout == 0 {
		opts.FetchTimeout = time.Minute
	}
	return &Cache{src: src, opts: opts, items: map[Key]*Item{}, inflight: map[Key]*call{}}
}

func (c *Cache) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

func (c *Cache) logger() *slog.Logger {
	if c.opts.Logger != nil {
		return c.opts.Logger
	}
	return slog.Default()
}

// Put stores it (replacing an item with the same key) without contacting
// the source; this is how an offline cache is filled.
func (c *Cache) Put(it *Item) {
	c.mu.Lock()
	c.items[it.Key] = it
	c.mu.Unlock()
}

// Fetch returns the cached item for key when it is before its nextUpdate,
// otherwise fetches it (one fetch per key at a time). On a source failure it
// serves a still-valid cached copy (or, with ServeExpired, any cached copy);
// otherwise it returns the source's error, or one wrapping ErrOffline.
func (c *Cache) Fetch(ctx context.Context, key Key) (*Item, error) {
	if err := key.validate(); err != nil {
		return nil, err
	}
	now := c.now()
	c.mu.Lock()
	it := c.items[key]
	if it != nil && now.Before(it.NextUpdate) {
		if !c.opts.Offline && !now.Before(it.NextUpdate.Add(-c.opts.RefreshBefore)) {
			if _, busy := c.inflight[key]; !busy {
				cl := c.startLocked(key)
				go c.background(ctx, key, cl)
			}
		}
		c.mu.Unlock()
		return it, nil
	}
	if c.opts.Offline {
		c.mu.Unlock()
		if it != nil && c.opts.ServeExpired {
			return it, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrOffline, key)
	}
	cl, busy := c.inflight[key]
	if !busy {
		cl = c.startLocked(key)
		c.mu.Unlock()
		c.run(ctx, key, cl)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cl.err == nil {
		return cl.it, nil
	}
	// Source failed: serve what we have if allowed.
	c.mu.Lock()
	it = c.items[key]
	c.mu.Unlock()
	if it != nil && (c.now().Before(it.NextUpdate) || c.opts.ServeExpired) {
		return it, nil
	}
	return nil, cl.err
}

func (c *Cache) startLocked(key Key) *call {
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	return cl
}

func (c *Cache) background(ctx context.Context, key Key, cl *call) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	defer cancel()
	c.run(ctx, key, cl)
	if cl.err != nil {
		c.logger().Warn("collateral refresh failed; serving cached copy", "key", key.String(), "err", cl.err)
	}
}

// run performs the fetch for cl and publishes the result.
func (c *Cache) run(ctx context.Context, key Key, cl *call) {
	defer func() {
		if r := recover(); r != nil {
			cl.err = fmt.Errorf("%w: source panicked: %v", ErrUnavailable, r)
		}
		c.mu.Lock()
		if cl.err == nil {
			// Keep the newer of the two when a Put raced with us.
			if old := c.items[key]; old == nil || !cl.it.NextUpdate.Before(old.NextUpdate) {
				c.items[key] = cl.it
			} else {
				cl.it = old
			}
		}
		delete(c.inflight, key)
		c.mu.Unlock()
		close(cl.done)
	}()
	if c.src == nil {
		cl.err = fmt.Errorf("%w: no source", ErrUnavailable)
		return
	}
	it, err := c.src.Fetch(ctx, key)
	if err == nil && (it == nil || it.Key != key) {
		err = fmt.Errorf("%w: source returned the wrong item for %v", ErrUnavailable, key)
	}
	cl.it, cl.err = it, err
}
