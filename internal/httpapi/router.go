package httpapi

import (
	"net/http"
	"sort"
	"strings"

	"github.com/maat-attest/maat/internal/maaerr"
)

// handlerFunc is an HTTP handler that returns its error instead of writing
// it, so no path can forget to stop after an error; the adapter renders it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route matches one path pattern. Pattern segments are literals (matched
// case-insensitively, as MAA matches paths) or "{name}" wildcards; a segment
// may end in a literal suffix after a wildcard, as in "{type}:reset".
type route struct {
	segments []string
	methods  map[string]handlerFunc
}

type router struct {
	routes []*route
}

// handle registers h for method and pattern.
func (rt *router) handle(method, pattern string, h handlerFunc) {
	segs := splitPath(pattern)
	for _, r := range rt.routes {
		if equalSegs(r.segments, segs) {
			r.methods[method] = h
			return
		}
	}
	rt.routes = append(rt.routes, &route{segments: segs, methods: map[string]handlerFunc{method: h}})
}

func equalSegs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

type params map[string]string

type paramsKey struct{}

// match returns the route and wildcard values for path, preferring routes
// whose literal suffixes match (so "{type}:reset" beats "{type}").
func (rt *router) match(path string) (*route, params) {
	segs := splitPath(path)
	var best *route
	var bestParams params
	bestScore := -1
	for _, r := range rt.routes {
		if len(r.segments) != len(segs) {
			continue
		}
		ps := params{}
		score := 0
		ok := true
		for i, pat := range r.segments {
			seg := segs[i]
			if strings.HasPrefix(pat, "{") {
				end := strings.IndexByte(pat, '}')
				name, suffix := pat[1:end], pat[end+1:]
				if suffix != "" {
					if len(seg) <= len(suffix) || !strings.EqualFold(seg[len(seg)-len(suffix):], suffix) {
						ok = false
						break
					}
					seg = seg[:len(seg)-len(suffix)]
					score += 2
				}
				if seg == "" || strings.Contains(seg, ":") {
					ok = false
					break
				}
				ps[name] = seg
			} else {
				if !strings.EqualFold(pat, seg) {
					ok = false
					break
				}
				score += 3
			}
		}
		if ok && score > bestScore {
			best, bestParams, bestScore = r, ps, score
		}
	}
	return best, bestParams
}

func (rt *router) dispatch(w http.ResponseWriter, r *http.Request) error {
	rte, ps := rt.match(r.URL.Path)
	if rte == nil {
		return maaerr.New(maaerr.NotFound, "The requested resource '%s' was not found.", r.URL.Path)
	}
	h, ok := rte.methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = rte.methods[http.MethodGet]
	}
	if !ok {
		allowed := make([]string, 0, len(rte.methods))
		for m := range rte.methods {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return maaerr.New(maaerr.MethodNotAllowed, "The method '%s' is not allowed on '%s'; allowed: %s.", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	r = r.WithContext(contextWithParams(r.Context(), ps))
	return h(w, r)
}
