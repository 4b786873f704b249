package app

import (
	"net/http"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/httpapi"
	"github.com/maat-attest/maat/internal/observe"
)

// observeDeps adds the collateral decorators of the metrics and tracing to
// the verifier dependencies.
func (a *App) observeDeps(d VerifierDeps) VerifierDeps {
	if a.metrics == nil && a.observer == nil {
		return d
	}
	d.CollateralUpstream = func(name string, src collateral.Source) collateral.Source {
		if a.metrics != nil {
			src = a.metrics.Upstream(name, src)
		}
		return src
	}
	d.CollateralCache = func(cache collateral.Source) collateral.Source {
		if a.observer != nil {
			cache = observe.Source(cache, a.observer)
		}
		if a.metrics != nil {
			cache = a.metrics.Cache(cache)
		}
		return cache
	}
	return d
}

// observeVerifiers reports every verifier's stage to the observer.
func (a *App) observeVerifiers(vs map[evidence.Type]evidence.Verifier) {
	if a.observer == nil {
		return
	}
	for t, v := range vs {
		vs[t] = observe.Verifier(v, a.observer)
	}
}

// attester is the pipeline as the HTTP surface sees it: counted when
// metrics are on.
func (a *App) attester() httpapi.Attester {
	if a.metrics != nil {
		return a.metrics.Attester(a.inst.pipeline)
	}
	return a.inst.pipeline
}

// wrapHandler adds the HTTP middlewares of observation around the MAA
// surface: the tracing span outermost (so the request's whole time is in
// it), then the request metrics, then the audit caller slot.
func (a *App) wrapHandler(h http.Handler) http.Handler {
	h = withCallerSlot(h)
	if a.metrics != nil {
		h = a.metrics.Middleware(h)
	}
	return a.tracing.Middleware(h)
}
