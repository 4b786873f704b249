package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func same(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := Append(nil, v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("error mismatch for %#v: json %v, jsonenc %v", v, werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("encoding differs for %#v:\n json    %s\n jsonenc %s", v, want, got)
	}
}

func TestMatchesEncodingJSON(t *testing.T) {
	for _, v := range []any{
		nil, true, false, "", "plain", "a\"b\\c", "<script>&amp;</script>", "\x00\x01\x1f\x7f",
		"\b\f\n\r\t", "\u2028\u2029", "héllo wörld ✓ 🎉", "bad \xff utf8 \xc3", "\xed\xa0\x80",
		0.0, -0.0, 1.0, -1.5, 1e-6, 9.99e-7, 1e20, 1e21, 123456789012345678.0, 1.7976931348623157e308,
		5e-324, 0.1, 1.0 / 3, float32(1.5), float32(1e-7), float32(3e21),
		int(-7), int64(1 << 62), int32(-3), uint64(math.MaxUint64), uint32(9), uint(4), int8(3), uint8(200),
		[]any{}, []any{nil, 1.0, "x", []any{true}}, []string{"a", "<"}, []string(nil), []any(nil),
		map[string]any{}, map[string]any(nil), map[string]string{"b": "1", "a": "<2>"}, map[string]string(nil),
		map[string]any{"z": 1.0, "a": map[string]any{"y": []any{"q"}, "b": nil}, "é": "x", "\xff": 2.0, "<k>": true},
		json.RawMessage(`{ "b" : 1, "a":[1, 2] }`), json.Number("12.5"),
		struct {
			A int `json:"a"`
		}{3}, []int{1, 2}, map[string]int{"x": 1},
	} {
		same(t, v)
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), map[string]any{"x": math.Inf(-1)}, []any{math.NaN()}} {
		if _, err := Append(nil, bad); err == nil {
			t.Fatalf("Append(%v): no error, json.Marshal refuses it", bad)
		}
	}
}

func TestAppendMerged(t *testing.T) {
	base := map[string]any{"iss": "https://x", "iat": int64(5), "exp": int64(9), "jti": "ab"}
	over := map[string]any{"x-ms-ver": "1.0", "iat": int64(6), "a": []any{"<"}}
	merged := map[string]any{}
	for k, v := range base {
		merged[k] = v
	}
	for k, v := range over {
		merged[k] = v
	}
	want, _ := json.Marshal(merged)
	got, err := AppendMerged([]byte("prefix:"), base, over)
	if err != nil || string(got) != "prefix:"+string(want) {
		t.Fatalf("AppendMerged = %s, %v; want prefix:%s", got, err, want)
	}
	// more keys than the stack buffer
	big := map[string]any{}
	for i := range 100 {
		big[string(rune('A'+i%26))+string(rune('a'+i/26))] = float64(i)
	}
	want, _ = json.Marshal(big)
	if got, _ := AppendMerged(nil, big, nil); !bytes.Equal(got, want) {
		t.Fatalf("100 keys: %s != %s", got, want)
	}
}

func TestRealClaims(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		same(t, v)
	}
}

func FuzzMatchesEncodingJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b, "x", 1.5)
	}
	f.Add([]byte(`{"a":[1,"\u2028",null,{"<":true}],"b":1e-7}`), "\xff<&>\u2029", 1e21)
	f.Fuzz(func(t *testing.T, doc []byte, s string, x float64) {
		var v any
		if json.Unmarshal(doc, &v) == nil {
			same(t, v)
			same(t, map[string]any{s: v, "k": s})
		}
		same(t, s)
		same(t, x)
		same(t, []any{x, s, map[string]string{s: s}})
	})
}
