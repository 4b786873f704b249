package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/maat-attest/maat/internal/store/postgres"
)

// A replica keeps its in-memory state fresh with Watch and, because
// notifications can be lost, also polls Generation.
func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := postgres.Open(ctx, "postgres://maat@db.internal:5432/maat", postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	cached := int64(0) // generation of what is cached for instance "default"
	reload := func(gen int64) {
		if gen > cached {
			// ... reload policies, certificates and keys of "default" ...
			cached = gen
		}
	}
	changes := make(chan int64, 16)
	go s.Watch(ctx, func(instanceID string, gen int64) {
		if instanceID == "default" {
			select {
			case changes <- gen:
			default: // full: the poll below catches up
			}
		}
	})
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case gen := <-changes:
			reload(gen)
		case <-poll.C:
			if gen, err := s.Generation(ctx, "default"); err == nil {
				reload(gen)
			}
		}
	}
}
