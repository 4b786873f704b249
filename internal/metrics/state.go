package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is what the server reads at scrape time. Every field may be nil,
// which leaves its metrics out.
type State struct {
	// PolicyVersions returns the stored policy version per attestation type
	// (types come from the store, which holds canonical type names only).
	PolicyVersions func(ctx context.Context) (map[string]int64, error)
	// StorePing checks the store.
	StorePing func(ctx context.Context) error
	// LastStoreContact is when the store last answered the change poller.
	LastStoreContact func() time.Time
	// Generation is the instance generation this replica has loaded; the
	// spread of it across replicas is the replica change lag.
	Generation func() int64
	// SigningKeyCreated is when the active signing key was made.
	SigningKeyCreated func() (time.Time, bool)
	// TLSNotAfter is the expiry of the serving TLS certificate.
	TLSNotAfter func() (time.Time, bool)
	// Now is the clock the ages are computed with; nil means time.Now.
	Now func() time.Time
}

// RegisterState adds collectors reading s at every scrape. Store reads are
// bounded by a two-second timeout so a hung store cannot hang a scrape.
func (m *Metrics) RegisterState(s State) {
	m.reg.MustRegister(stateCollector{s: s})
}

var (
	descPolicyVersion = prometheus.NewDesc("maat_policy_version", "Version of the stored policy, by attestation type (absent: the default policy is in force).", []string{"type"}, nil)
	descStoreUp       = prometheus.NewDesc("maat_store_up", "1 when the store answered a ping during this scrape, else 0.", nil, nil)
	descStoreContact  = prometheus.NewDesc("maat_store_last_contact_timestamp_seconds", "When the store last answered the change poller (Unix time).", nil, nil)
	descGeneration    = prometheus.NewDesc("maat_instance_generation", "Instance generation (changes to policies, certificates, keys) loaded by this replica.", nil, nil)
	descKeyAge        = prometheus.NewDesc("maat_signing_key_age_seconds", "Age of the active token-signing key.", nil, nil)
	descTLSNotAfter   = prometheus.NewDesc("maat_tls_certificate_expiry_timestamp_seconds", "notAfter of the serving TLS certificate (Unix time).", nil, nil)
	descTLSDays       = prometheus.NewDesc("maat_tls_certificate_days_to_expiry", "Days until the serving TLS certificate expires (negative once expired).", nil, nil)
)

type stateCollector struct{ s State }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPolicyVersion, descStoreUp, descStoreContact, descGeneration, descKeyAge, descTLSNotAfter, descTLSDays} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.StorePing != nil {
		up := 1.0
		if s.StorePing(ctx) != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up)
	}
	if s.PolicyVersions != nil {
		if vs, err := s.PolicyVersions(ctx); err == nil {
			for t, v := range vs {
				ch <- prometheus.MustNewConstMetric(descPolicyVersion, prometheus.GaugeValue, float64(v), t)
			}
		}
	}
	if s.LastStoreContact != nil {
		ch <- prometheus.MustNewConstMetric(descStoreContact, prometheus.GaugeValue, float64(s.LastStoreContact().UnixNano())/1e9)
	}
	if s.Generation != nil {
		ch <- prometheus.MustNewConstMetric(descGeneration, prometheus.GaugeValue, float64(s.Generation()))
	}
	if s.SigningKeyCreated != nil {
		if t, ok := s.SigningKeyCreated(); ok {
			ch <- prometheus.MustNewConstMetric(descKeyAge, prometheus.GaugeValue, now().Sub(t).Seconds())
		}
	}
	if s.TLSNotAfter != nil {
		if t, ok := s.TLSNotAfter(); ok {
			ch <- prometheus.MustNewConstMetric(descTLSNotAfter, prometheus.GaugeValue, float64(t.Unix()))
			ch <- prometheus.MustNewConstMetric(descTLSDays, prometheus.GaugeValue, t.Sub(now()).Hours()/24)
		}
	}
}
