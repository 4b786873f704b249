package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// TestTracingStagesUnderClientTrace: one attestation sent with a W3C
// traceparent yields a server span that is the child of the client's span
// and one child span per stage (decode, verify, collateral inside verify,
// policy, sign), all in the client's trace, exported to an in-memory
// exporter.
func TestTracingStagesUnderClientTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	cfg := replayConfig(t, "aad")
	a, err := NewWithOptions(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard, Options{SpanExporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	body, _ := json.Marshal(map[string]any{"report": jose.B64.EncodeToString(report)})
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", "http://"+a.HTTPAddr()+"/attest/OpenEnclave?api-version=2022-08-01", bytes.NewReader(body))
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("attest: %d %s", resp.StatusCode, b)
	}

	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if got := s.SpanContext.TraceID().String(); got != traceID {
			t.Errorf("span %s in trace %s, want the client's %s", s.Name, got, traceID)
		}
		if _, dup := byName[s.Name]; !dup || s.Name != "maat.collateral" {
			byName[s.Name] = s
		}
	}
	server, ok := byName["POST /attest/{type}"]
	if !ok {
		t.Fatalf("no server span; spans: %v", names(spans))
	}
	if server.Parent.SpanID().String() != parentID || !server.Parent.IsRemote() {
		t.Errorf("server span parent %s (remote %v), want the client's %s", server.Parent.SpanID(), server.Parent.IsRemote(), parentID)
	}
	for _, stage := range []string{"maat.decode", "maat.verify", "maat.policy", "maat.sign"} {
		s, ok := byName[stage]
		if !ok {
			t.Errorf("no %s span; spans: %v", stage, names(spans))
			continue
		}
		if s.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("%s parent %s, want the server span %s", stage, s.Parent.SpanID(), server.SpanContext.SpanID())
		}
	}
	coll, ok := byName["maat.collateral"]
	if !ok {
		t.Fatalf("no maat.collateral span; spans: %v", names(spans))
	}
	if v := byName["maat.verify"]; coll.Parent.SpanID() != v.SpanContext.SpanID() {
		t.Errorf("collateral span parent %s, want the verify span %s", coll.Parent.SpanID(), v.SpanContext.SpanID())
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
