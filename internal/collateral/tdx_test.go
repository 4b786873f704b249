package collateral

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

func tdxRead(t testing.TB, p ...string) []byte {
	t.Helper()
	b, err := tdxvectors.Read(p...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTDXTCBInfo(t *testing.T) {
	for _, set := range []string{"dcapqvl_v4", "gotdxguest_v4", "gotdxguest_v5", "dcapqvl_v5_nomatch", "oe_v5_eval21"} {
		b := tdxRead(t, set, "tdx_tcb_info.json")
		ti, err := ParseTDXTCBInfo(b)
		if err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		if ti.ID != "TDX" || ti.TDXModule == nil || len(ti.Levels) == 0 {
			t.Errorf("%s: %+v", set, ti)
		}
		// The SGX parser refuses a TDX TCB Info and vice versa.
		if _, err := ParseTCBInfo(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s parsed as SGX: %v", set, err)
		}
	}
	ti, _ := ParseTDXTCBInfo(tdxRead(t, "oe_v5_eval21", "tdx_tcb_info.json"))
	if len(ti.TDXModuleIdentities) != 2 || ti.TDXModuleIdentities[1].ID != "TDX_01" || ti.TDXModuleIdentities[1].Levels[0].ISVSVN != 13 ||
		ti.Levels[0].TDXComponents[2] == 0 || ti.TCBEvaluationDataNumber != 21 {
		t.Errorf("eval21 modules %+v", ti.TDXModuleIdentities)
	}
	if _, err := ParseTDXTCBInfo(read(t, "dcapqvl", "tcb_info.json")); !errors.Is(err, ErrMalformed) {
		t.Errorf("SGX TCB Info parsed as TDX: %v", err)
	}
	for name, mut := range map[string]func(map[string]any){
		"no tdxModule":   func(m map[string]any) { delete(m, "tdxModule") },
		"short mrsigner": func(m map[string]any) { m["tdxModule"].(map[string]any)["mrsigner"] = "00" },
		"bad module id":  func(m map[string]any) { mod(m)["id"] = "SGX_01" },
		"duplicate module": func(m map[string]any) {
			ids := m["tdxModuleIdentities"].([]any)
			m["tdxModuleIdentities"] = append(ids, ids[0])
		},
		"module status":     func(m map[string]any) { lvl(mod(m))["tcbStatus"] = "SWHardeningNeeded" },
		"module isvsvn":     func(m map[string]any) { lvl(mod(m))["tcb"] = map[string]any{"isvsvn": 300} },
		"no tdx components": func(m map[string]any) { lvl(m)["tcb"].(map[string]any)["tdxtcbcomponents"] = []any{} },
		"sgx id":            func(m map[string]any) { m["id"] = "SGX" },
		"version 2":         func(m map[string]any) { m["version"] = 2 },
	} {
		b := mutateTCBInfo(t, tdxRead(t, "oe_v5_eval21", "tdx_tcb_info.json"), mut)
		if _, err := ParseTDXTCBInfo(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
	if _, err := ParseTDXTCBInfo(mutateTCBInfo(t, tdxRead(t, "oe_v5_eval21", "tdx_tcb_info.json"), func(map[string]any) {})); err != nil {
		t.Errorf("re-encoded unchanged: %v", err)
	}
}

func mod(m map[string]any) map[string]any {
	return m["tdxModuleIdentities"].([]any)[0].(map[string]any)
}
func lvl(m map[string]any) map[string]any { return m["tcbLevels"].([]any)[0].(map[string]any) }

func mutateTCBInfo(t testing.TB, b []byte, f func(map[string]any)) []byte {
	t.Helper()
	var doc struct {
		TCBInfo   map[string]any `json:"tcbInfo"`
		Signature string         `json:"signature"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc.TCBInfo)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A collateral-dir bundle with the documented TDX names, SGX files beside
// them, and a missing TDX issuer chain taken from the SGX one.
func TestDirTDX(t *testing.T) {
	ctx := context.Background()
	d := Dir{FS: tdxvectors.MustFS("azure_dcesv5"), Now: func() time.Time { return t0 }}
	b, err := GetTDX(ctx, d, "00806f050000", CAPlatform, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.TCBInfo.Key.Kind != KindTDXTCBInfo || b.QEIdentity.Key.Kind != KindTDQEIdentity || b.PCKCRL.Key.CA != CAPlatform || len(b.PCKCRL.IssuerChain) == 0 {
		t.Errorf("bundle keys %v %v %v", b.TCBInfo.Key, b.QEIdentity.Key, b.PCKCRL.Key)
	}
	// tdx_tcb_info_<FMSPC>.json serves only that FMSPC.
	if _, err := GetTDX(ctx, d, "90C06F000000", CAPlatform, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("other FMSPC: %v", err)
	}
	// The baseline in the key must be the document's.
	if _, err := GetTDX(ctx, d, "00806F050000", CAPlatform, 17); err != nil {
		t.Errorf("eval 17: %v", err)
	}
	if _, err := d.Fetch(ctx, Key{Kind: KindTDXTCBInfo, FMSPC: "00806F050000", EvalNum: 18}); !errors.Is(err, ErrNotFound) {
		t.Errorf("eval 18: %v", err)
	}
	if _, err := d.Fetch(ctx, Key{Kind: KindRootCACRL, EvalNum: 3}); !errors.Is(err, ErrMalformed) {
		t.Errorf("eval on a CRL: %v", err)
	}
	// Fallback chain: an SGX bundle directory with only the TDX documents added.
	m := mapFS{
		"tdx_tcb_info.json":            tdxRead(t, "dcapqvl_v4", "tdx_tcb_info.json"),
		"tcb_info_issuer_chain.pem":    tdxRead(t, "dcapqvl_v4", "tdx_tcb_info_issuer_chain.pem"),
		"td_qe_identity.json":          tdxRead(t, "dcapqvl_v4", "td_qe_identity.json"),
		"qe_identity_issuer_chain.pem": tdxRead(t, "dcapqvl_v4", "td_qe_identity_issuer_chain.pem"),
	}
	for _, k := range []Key{{Kind: KindTDXTCBInfo, FMSPC: "B0C06F000000"}, {Kind: KindTDQEIdentity}} {
		it, err := Dir{FS: m.fs()}.Fetch(ctx, k)
		if err != nil || len(it.IssuerChain) == 0 {
			t.Errorf("%v: %v", k, err)
		}
	}
	if Key(Key{Kind: KindTDXTCBInfo, FMSPC: "B0C06F000000", EvalNum: 18}).String() != "tdxtcbinfo/B0C06F000000@18" {
		t.Error("key string")
	}
}

// PCS v4: the TDX endpoints under /tdx/certification/v4 of the same service,
// tcbEvaluationDataNumber passed through, and the Cache keeping baselines
// apart.
func TestPCSTDX(t *testing.T) {
	tcb := tdxRead(t, "azure_dcesv5", "tdx_tcb_info_00806F050000.json")
	qe := tdxRead(t, "azure_dcesv5", "td_qe_identity.json")
	chain := string(tdxRead(t, "azure_dcesv5", "tdx_tcb_info_issuer_chain.pem"))
	var hits atomic.Int64
	var lastQuery atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/tdx/certification/v4/tcb", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		lastQuery.Store(r.URL.RawQuery)
		if r.URL.Query().Get("fmspc") != "00806F050000" {
			http.NotFound(w, r)
			return
		}
		if n := r.URL.Query().Get("tcbEvaluationDataNumber"); n != "" && n != "17" {
			w.Header().Set("Error-Message", "no such tcbEvaluationDataNumber")
			http.NotFound(w, r)
			return
		}
		w.Header().Set("TCB-Info-Issuer-Chain", url.QueryEscape(chain))
		w.Write(tcb)
	})
	mux.HandleFunc("/tdx/certification/v4/qe/identity", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("SGX-Enclave-Identity-Issuer-Chain", url.QueryEscape(chain))
		w.Write(qe)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	p, err := NewPCS(PCSOptions{BaseURL: srv.URL + "/sgx/certification/v4", RootCAs: pool, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	it, err := p.Fetch(ctx, Key{Kind: KindTDXTCBInfo, FMSPC: "00806F050000"})
	if err != nil || it.Key.Kind != KindTDXTCBInfo {
		t.Fatal(err)
	}
	if _, err := ParseTDXTCBInfo(it.Body); err != nil {
		t.Error(err)
	}
	if _, err := p.Fetch(ctx, Key{Kind: KindTDXTCBInfo, FMSPC: "00806F050000", EvalNum: 17}); err != nil || lastQuery.Load() != "fmspc=00806F050000&tcbEvaluationDataNumber=17" {
		t.Errorf("eval 17: %v %v", err, lastQuery.Load())
	}
	if _, err := p.Fetch(ctx, Key{Kind: KindTDXTCBInfo, FMSPC: "00806F050000", EvalNum: 12}); !errors.Is(err, ErrNotFound) {
		t.Errorf("eval 12: %v", err)
	}
	if _, err := p.Fetch(ctx, Key{Kind: KindTDQEIdentity}); err != nil {
		t.Error(err)
	}
	// The cache keys by evaluation number: the default and 17 are two entries.
	c := NewCache(p, CacheOptions{Now: func() time.Time { return at }})
	n0 := hits.Load()
	for i := 0; i < 3; i++ {
		for _, k := range []Key{{Kind: KindTDXTCBInfo, FMSPC: "00806F050000"}, {Kind: KindTDXTCBInfo, FMSPC: "00806F050000", EvalNum: 17}} {
			if _, err := c.Fetch(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := hits.Load() - n0; got != 2 {
		t.Errorf("%d fetches through the cache, want 2", got)
	}
	// An explicit TDX base URL.
	p2, err := NewPCS(PCSOptions{BaseURL: "https://pccs.example/sgx/certification/v4", TDXBaseURL: srv.URL + "/tdx/certification/v4/", Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Fetch(ctx, Key{Kind: KindTDQEIdentity}); err != nil {
		t.Error(err)
	}
}

func FuzzParseTDXTCBInfo(f *testing.F) {
	for _, set := range []string{"dcapqvl_v4", "gotdxguest_v4", "gotdxguest_v5", "oe_v5_eval21"} {
		f.Add(tdxRead(f, set, "tdx_tcb_info.json"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ti, err := ParseTDXTCBInfo(b)
		if (ti == nil) == (err == nil) {
			t.Fatal("exactly one of result and error expected")
		}
		if err != nil {
			return
		}
		if ti.ID != "TDX" || ti.Version != 3 || ti.TDXModule == nil || len(ti.Levels) == 0 {
			t.Fatal("accepted an invalid TDX TCB Info")
		}
		for _, m := range ti.TDXModuleIdentities {
			if len(m.Levels) == 0 || !strings.HasPrefix(m.ID, "TDX_") {
				t.Fatal("accepted an invalid module identity")
			}
		}
	})
}

type mapFS map[string][]byte

func (m mapFS) fs() fstest.MapFS {
	out := fstest.MapFS{}
	for k, v := range m {
		out[k] = &fstest.MapFile{Data: v}
	}
	return out
}

func TestTCBEvalNums(t *testing.T) {
	b := read(t, "pcs2025", "sgx_tcb_eval_nums.json")
	e, err := ParseTCBEvalNums(b)
	if err != nil || e.ID != "SGX" || len(e.Numbers) != 3 || e.Numbers[0].Number != 19 {
		t.Fatalf("%+v %v", e, err)
	}
	if e, err := ParseTCBEvalNums(tdxRead(t, "azure_dcesv5", "tdx_tcb_eval_nums.json")); err != nil || e.ID != "TDX" {
		t.Fatalf("TDX: %v", err)
	}
	for name, mut := range map[string]func(map[string]any){
		"version":   func(m map[string]any) { m["version"] = 2 },
		"id":        func(m map[string]any) { m["id"] = "QE" },
		"empty":     func(m map[string]any) { m["tcbEvalNumbers"] = []any{} },
		"repeated":  func(m map[string]any) { l := m["tcbEvalNumbers"].([]any); m["tcbEvalNumbers"] = append(l, l[0]) },
		"no date":   func(m map[string]any) { delete(m["tcbEvalNumbers"].([]any)[0].(map[string]any), "tcbDate") },
		"zero":      func(m map[string]any) { m["tcbEvalNumbers"].([]any)[0].(map[string]any)["tcbEvaluationDataNumber"] = 0 },
		"no update": func(m map[string]any) { delete(m, "nextUpdate") },
	} {
		var doc struct {
			E map[string]any `json:"tcbEvaluationDataNumbers"`
			S string         `json:"signature"`
		}
		json.Unmarshal(b, &doc)
		mut(doc.E)
		out, _ := json.Marshal(map[string]any{"tcbEvaluationDataNumbers": doc.E, "signature": doc.S})
		if _, err := ParseTCBEvalNums(out); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
	// PCS: {base}/tcbevaluationdatanumbers with its issuer-chain header, for
	// SGX and (under /tdx/) TDX.
	chain := string(read(t, "pcs2025", "sgx_tcb_eval_nums_issuer_chain.pem"))
	mux := http.NewServeMux()
	for _, p := range []string{"/sgx/certification/v4/tcbevaluationdatanumbers", "/tdx/certification/v4/tcbevaluationdatanumbers"} {
		body := b
		if strings.HasPrefix(p, "/tdx/") {
			body = tdxRead(t, "azure_dcesv5", "tdx_tcb_eval_nums.json")
		}
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("TCB-Evaluation-Data-Numbers-Issuer-Chain", url.QueryEscape(chain))
			w.Write(body)
		})
	}
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	p := newTestPCS(t, srv)
	for k, id := range map[Kind]string{KindSGXTCBEvalNums: "SGX", KindTDXTCBEvalNums: "TDX"} {
		it, err := p.Fetch(context.Background(), Key{Kind: k})
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		if e, err := ParseTCBEvalNums(it.Body); err != nil || e.ID != id || len(it.IssuerChain) == 0 {
			t.Errorf("%v: %v", k, err)
		}
	}
	if _, err := p.Fetch(context.Background(), Key{Kind: KindSGXTCBEvalNums, EvalNum: 3}); !errors.Is(err, ErrMalformed) {
		t.Errorf("evaluation number on the list itself: %v", err)
	}
}

func FuzzParseTCBEvalNums(f *testing.F) {
	f.Add(read(f, "pcs2025", "sgx_tcb_eval_nums.json"))
	f.Add(tdxRead(f, "azure_dcesv5", "tdx_tcb_eval_nums.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseTCBEvalNums(b)
		if (e == nil) == (err == nil) {
			t.Fatal("exactly one of result and error expected")
		}
		if e != nil && (len(e.Numbers) == 0 || (e.ID != "SGX" && e.ID != "TDX")) {
			t.Fatal("accepted an invalid list")
		}
	})
}
