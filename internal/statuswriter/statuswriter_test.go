package statuswriter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecordsStatusAndBytes(t *testing.T) {
	rec := httptest.NewRecorder()
	w := Wrap(rec)
	if w.Written() || w.Status() != http.StatusOK || w.Bytes() != 0 {
		t.Fatalf("fresh writer: written %v status %d bytes %d", w.Written(), w.Status(), w.Bytes())
	}
	w.WriteHeader(http.StatusTeapot)
	w.WriteHeader(http.StatusInternalServerError) // superfluous: the first one counts
	_, _ = w.Write([]byte("abc"))
	_, _ = io.WriteString(w, "defg") // through WriteString
	if !w.Written() || w.Status() != http.StatusTeapot || w.Bytes() != 7 || rec.Body.String() != "abcdefg" || rec.Code != http.StatusTeapot {
		t.Fatalf("written %v status %d bytes %d body %q code %d", w.Written(), w.Status(), w.Bytes(), rec.Body, rec.Code)
	}

	// A body without a status is a 200, for Write and WriteString alike.
	for _, write := range []func(*Writer){
		func(w *Writer) { _, _ = w.Write([]byte("x")) },
		func(w *Writer) { _, _ = w.WriteString("x") },
	} {
		w := Wrap(httptest.NewRecorder())
		write(w)
		if !w.Written() || w.Status() != http.StatusOK || w.Bytes() != 1 {
			t.Fatalf("implicit 200: written %v status %d bytes %d", w.Written(), w.Status(), w.Bytes())
		}
	}
}

// Nested middlewares share the outermost wrapper; the inner one sees what
// the handler wrote through either.
func TestWrapShares(t *testing.T) {
	rec := httptest.NewRecorder()
	outer := Wrap(rec)
	if inner := Wrap(outer); inner != outer {
		t.Fatal("Wrap of a *Writer made a second wrapper")
	}
	if Wrap(struct{ http.ResponseWriter }{outer}) == outer {
		t.Fatal("a foreign wrapper around a *Writer was taken for it")
	}
}

// http.ResponseController reaches the wrapped writer through Unwrap.
func TestUnwrapForResponseController(t *testing.T) {
	rec := httptest.NewRecorder()
	w := Wrap(rec)
	if err := http.NewResponseController(w).Flush(); err != nil || !rec.Flushed {
		t.Fatalf("flush through the wrapper: %v, flushed %v", err, rec.Flushed)
	}
}
