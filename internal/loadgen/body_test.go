package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
)

// Each type's evidence goes in its member: AzureGuest's AttestationInfo.
func TestRequestMember(t *testing.T) {
	for typ, member := range map[string]string{"SgxEnclave": "quote", "OpenEnclave": "report", "SevSnpVm": "report", "TdxVm": "quote", "AzureGuest": "AttestationInfo"} {
		var mu sync.Mutex
		var got map[string]string
		var path string
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			_ = json.Unmarshal(b, &got)
			path = r.URL.Path
			mu.Unlock()
			_, _ = w.Write([]byte(`{"token":"x"}`))
		}))
		_, err := Run(context.Background(), Options{Endpoint: hs.URL, Type: typ, Evidence: []byte("ev"), Concurrency: 1, Duration: time.Second, MaxRequests: 1})
		hs.Close()
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if got[member] != jose.B64.EncodeToString([]byte("ev")) || path != "/attest/"+typ {
			t.Errorf("%s: body %v path %s", typ, got, path)
		}
		mu.Unlock()
	}
}
