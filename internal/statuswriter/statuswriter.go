// Package statuswriter records what a handler wrote: the status and the
// body bytes. The MAA handler's access log, the metrics middleware and the
// tracing middleware all need them, and nest around the same handler, so
// they share one wrapper per request (Wrap).
package statuswriter

import (
	"io"
	"net/http"
)

// Writer is an http.ResponseWriter that records the first status and
// counts the body bytes written through it.
type Writer struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// Wrap returns w when it already is a *Writer (an outer middleware's),
// else a new Writer around w.
func Wrap(w http.ResponseWriter) *Writer {
	if sw, ok := w.(*Writer); ok {
		return sw
	}
	return &Writer{ResponseWriter: w}
}

// Written reports whether the handler sent a status or any body yet.
func (w *Writer) Written() bool { return w.status != 0 }

// Status is the status sent: the first WriteHeader's, 200 when the body
// was written without one, and 200 (what net/http sends) when nothing was
// written at all.
func (w *Writer) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Bytes is the number of body bytes written.
func (w *Writer) Bytes() int64 { return w.bytes }

func (w *Writer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// WriteString passes strings through without a copy when the wrapped
// writer can (net/http's can).
func (w *Writer) WriteString(s string) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.WriteString(w.ResponseWriter, s)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the wrapped writer (Flush,
// deadlines).
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
