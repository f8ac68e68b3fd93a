package control

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xvs-project/xvs/health"
)

// Health check metrics
//
// HealthMetrics counts what the health engine reports after every probe
// (pass it as health.Options.Observe) and reads each real server's state
// at scrape time. Labels: service and real are the SERVICE and REAL
// columns of xvsadm --checks, kind the checker (TCP_CHECK, HTTP_GET, ...),
// reason the failure's short words ("connect: connection refused",
// "HTTP status 503", "digest mismatch").
//
//	xvs_real_server_up{service,real}                          gauge: 1 alive, 0 failed
//	xvs_health_check_duration_seconds{kind}                   histogram
//	xvs_health_check_failures_total{service,real,kind,reason} counter
type HealthMetrics struct {
	status   func() []health.CheckStatus
	duration *prometheus.HistogramVec

	mu       sync.Mutex
	failures map[failureLabels]uint64
}

type failureLabels struct{ service, real, kind, reason string }

var (
	descRealUp   = prometheus.NewDesc("xvs_real_server_up", "1 while the real server passes all its health checks, 0 while it is failed.", realLabels, nil)
	descFailures = prometheus.NewDesc("xvs_health_check_failures_total", "Failed health probes by reason.", []string{"service", "real", "kind", "reason"}, nil)
)

// NewHealthMetrics returns metrics that read real servers' states from
// status (a Supervisor's Status); nil reads nothing until SetStatus.
func NewHealthMetrics(status func() []health.CheckStatus) *HealthMetrics {
	return &HealthMetrics{
		status: status,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xvs_health_check_duration_seconds",
			Help:    "How long health probes took, passed or failed.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		failures: map[failureLabels]uint64{},
	}
}

// SetStatus sets where the up gauge is read from, for a daemon that makes
// its metrics (whose Observe the health engine needs) before the
// Supervisor. Call it before the first scrape.
func (m *HealthMetrics) SetStatus(status func() []health.CheckStatus) { m.status = status }

// Observe records one probe; it is a health.Options.Observe.
func (m *HealthMetrics) Observe(st health.CheckStatus, took time.Duration) {
	m.duration.WithLabelValues(string(st.Kind)).Observe(took.Seconds())
	if st.LastOK {
		return
	}
	m.mu.Lock()
	m.failures[failureLabels{st.Service, st.Real, string(st.Kind), st.LastReason}]++
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *HealthMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRealUp
	ch <- descFailures
	m.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *HealthMetrics) Collect(ch chan<- prometheus.Metric) {
	type realID struct{ service, real string }
	seen := map[realID]bool{}
	var all []health.CheckStatus
	if m.status != nil {
		all = m.status()
	}
	for _, st := range all {
		id := realID{st.Service, st.Real}
		if seen[id] {
			continue
		}
		seen[id] = true
		up := 0.0
		if st.RealAlive {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descRealUp, prometheus.GaugeValue, up, st.Service, st.Real)
	}
	m.mu.Lock()
	for l, n := range m.failures {
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(n), l.service, l.real, l.kind, l.reason)
	}
	m.mu.Unlock()
	m.duration.Collect(ch)
}
