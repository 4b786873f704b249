package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// TestTCBBaselinesCommand: `maat tcb baselines` against a real server
// serving Intel's signed evaluation numbers of May 2025.
func TestTCBBaselinesCommand(t *testing.T) {
	cfg := config.Default()
	cfg.Dev = true
	cfg.DataDir = t.TempDir()
	cfg.HTTPSAddr, cfg.HTTPAddr = "", "127.0.0.1:0"
	cfg.DevTime = "2025-06-01T00:00:00Z"
	cfg.CollateralDir = sgxvectors.Path("pcs2025")
	cfg.ShutdownTimeout = 5 * time.Second
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	out, _, err := runCmd(t, NewTCBCommand(), "baselines", "--endpoint", "http://"+a.HTTPAddr(), "--type", "sgxenclave")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 {
		t.Fatalf("output %s: %v", out, err)
	}
	if list[0]["tcbIdentifier"] != "19" || list[0]["isSelectedTcb"] != false || list[0]["tcbReleaseDate"] == nil {
		t.Fatalf("first baseline %v", list[0])
	}
	if _, _, err := runCmd(t, NewTCBCommand(), "baselines", "--endpoint", "http://"+a.HTTPAddr(), "--type", "Nitro"); err == nil {
		t.Fatal("unknown type accepted")
	}
}
