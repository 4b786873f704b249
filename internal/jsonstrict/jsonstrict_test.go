package jsonstrict

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeObjectRefusesDuplicates(t *testing.T) {
	for _, tc := range []struct {
		in, dup string
	}{
		{`{"a":1,"a":2}`, "a"},
		{`{"quote":"x","Quote":"y"}`, "Quote"},
		{`{"nonce":1,"Nonce":2,"NONCE":3}`, "Nonce"},
		{`{"r\u0065port":"x","report":"y"}`, "report"}, // an escaped name is the same name
	} {
		for range 100 {
			_, err := DecodeObject([]byte(tc.in))
			var d *DuplicateError
			if !errors.As(err, &d) || d.Name != tc.dup {
				t.Fatalf("%s: %v, want duplicate %q", tc.in, err, tc.dup)
			}
		}
	}
	obj, err := DecodeObject([]byte(` {"Quote":"x", "nested":{"a":1,"A":2}, "n":null} `))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := obj.Get("quote"); !ok || string(v) != `"x"` {
		t.Fatalf("Get(quote) = %s %v", v, ok)
	}
	if v, _ := obj.Get("NESTED"); string(v) != `{"a":1,"A":2}` {
		t.Fatalf("nested raw %s", v)
	}
	for _, bad := range []string{``, `[]`, `"s"`, `{"a":1}x`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`} {
		if _, err := DecodeObject([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckAtAnyDepth(t *testing.T) {
	if err := Check([]byte(`{"x":[{"a":1,"b":{"c":1,"c":2}}]}`), false, 0); err == nil {
		t.Fatal("nested exact duplicate accepted")
	}
	if err := Check([]byte(`{"x":{"a":1,"A":2}}`), false, 0); err != nil {
		t.Fatalf("case variants without fold: %v", err)
	}
	if err := Check([]byte(`{"x":{"a":1,"A":2}}`), true, 0); err == nil {
		t.Fatal("case variants with fold accepted")
	}
	if err := Check([]byte(strings.Repeat("[", 20)+strings.Repeat("]", 20)), false, 10); err == nil {
		t.Fatal("depth bound not applied")
	}
}

func TestDecodeKeepsNumbersAndRefusesDuplicates(t *testing.T) {
	v, err := Decode([]byte(`{"n":12345678901234567890,"a":[1,{"b":true}]}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.(map[string]any)["n"] != json.Number("12345678901234567890") {
		t.Fatalf("number %v", v.(map[string]any)["n"])
	}
	if _, err := Decode([]byte(`{"a":{"b":1,"b":2}}`), 0); err == nil {
		t.Fatal("nested duplicate accepted")
	}
}

// refDuplicates is the reference: does any object in a valid document name
// a member twice (exactly, or folded)?
func refDuplicates(b []byte, fold bool) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() bool
	walk = func() bool {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := t.(json.Delim)
		if !ok {
			return false
		}
		dup := false
		if d == '{' {
			var seen []string
			for dec.More() {
				kt, _ := dec.Token()
				k := kt.(string)
				for _, s := range seen {
					if s == k || (fold && strings.EqualFold(s, k)) {
						dup = true
					}
				}
				seen = append(seen, k)
				if walk() {
					dup = true
				}
			}
		} else {
			for dec.More() {
				if walk() {
					dup = true
				}
			}
		}
		dec.Token()
		return dup
	}
	return walk()
}

func TestDecodeArray(t *testing.T) {
	got, err := DecodeArray([]byte(` [ {"svn": 1}, 2 ,"x",[3] ] `))
	if err != nil || len(got) != 4 || string(got[0]) != `{"svn": 1}` || string(got[3]) != `[3]` {
		t.Fatalf("DecodeArray = %q, %v", got, err)
	}
	if got, err := DecodeArray([]byte(`[]`)); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q, %v", got, err)
	}
	for _, bad := range []string{`{}`, `1`, `[1,]`, `[1] 2`, `[{"a":1,"a":2}]`, `[`, ``} {
		if _, err := DecodeArray([]byte(bad)); err == nil {
			t.Errorf("DecodeArray(%q) accepted", bad)
		}
	}
	if _, err := DecodeArray([]byte(`{"a":1}`)); !errors.Is(err, ErrNotArray) {
		t.Errorf("object: %v, want ErrNotArray", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"quote":"QUFB","runtimeData":{"data":"QUFB","dataType":"JSON"},"nonce":12}`, `[1,2.5e-3,"\u00e9",true,null]`, `{"x":{"y":{"y":1}}}`, `"\ud800"`, `-0`, `01`, `{"a":"\x01"}`, `null`, ` [ ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fold := range []bool{false, true} {
			err := Check(b, fold, 10000)
			first := Check(b, fold, 10000)
			if (err == nil) != (first == nil) {
				t.Fatal("not deterministic")
			}
			valid := json.Valid(b)
			var d *DuplicateError
			switch {
			case err == nil && !valid:
				t.Fatalf("accepted invalid JSON %q", b)
			case errors.As(err, &d) && !valid:
				// a duplicate found before the syntax error; fine
			case valid && err != nil && !errors.As(err, &d):
				t.Fatalf("refused valid JSON %q: %v", b, err)
			case valid && (err != nil) != refDuplicates(b, fold):
				t.Fatalf("duplicate verdict %v differs from the reference for %q", err, b)
			}
		}
		if obj, err := DecodeObject(b); err == nil {
			again, _ := DecodeObject(b)
			if len(obj) != len(again) {
				t.Fatal("not deterministic")
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(b, &m) != nil {
				t.Fatalf("DecodeObject accepted what encoding/json refuses: %q", b)
			}
		}
		// DecodeArray splits exactly as encoding/json does.
		var ref []json.RawMessage
		refErr := json.Unmarshal(b, &ref)
		arr, err := DecodeArray(b)
		var d *DuplicateError
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("DecodeArray accepted what encoding/json refuses: %q", b)
		case err == nil:
			if len(arr) != len(ref) {
				t.Fatalf("DecodeArray: %d elements, encoding/json %d", len(arr), len(ref))
			}
			for i := range arr {
				if !bytes.Equal(bytes.TrimSpace(arr[i]), bytes.TrimSpace(ref[i])) {
					t.Fatalf("element %d: %q, encoding/json %q", i, arr[i], ref[i])
				}
			}
		case refErr == nil && errors.Is(err, ErrNotArray) && string(bytes.TrimSpace(b)) == "null":
			// encoding/json decodes null into a nil slice; it is not an array
		case refErr == nil && !errors.As(err, &d):
			t.Fatalf("DecodeArray refused an array encoding/json accepts: %q: %v", b, err)
		}
	})
}

// plainWord agrees with plainStringByte on every byte in every position.
func TestPlainWord(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{'A', 0x80, 0xff, 0x20, 0x21} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				want := true
				for _, b := range w {
					want = want && plainStringByte[b]
				}
				if got := plainWord(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("plainWord(% x) = %v, want %v", w, got, want)
				}
			}
		}
	}
}
