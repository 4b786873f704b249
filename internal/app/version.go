package app

import "net/http"

// withVersion adds the x-maat-version header (the build, from
// config.Config.Version) to every response, so a client can tell which
// server answered; MAA sends no such header and clients ignore it.
func withVersion(h http.Handler, version string) http.Handler {
	if version == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-maat-version", version)
		h.ServeHTTP(w, r)
	})
}
