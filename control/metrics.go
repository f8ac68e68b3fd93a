package control

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xvs-project/xvs/service"
)

// Metrics
//
// The collector reads Engine.Stats once per scrape and turns it into
// Prometheus metrics; nothing is counted on the packet path for it. Labels:
//
//	service    "tcp/198.18.0.1:80", "udp/[2001:db8::1]:53", "group/web"
//	real       "198.18.1.2:80", "[2001:db8::10]:8080" (port 0 for group reals
//	           that keep the packet's port)
//	direction  "in" (client to real server) or "out" (replies)
//	queue      the NIC queue of a drop counter, "" when not per queue
//	reason     why packets were dropped
//
// Stats.Drops are (queue, reason, count) records, and each becomes one
// xvs_drops_total sample with those labels: queue is the worker's queue
// ("eth0/3") or "" for a counter the engine keeps in total (the connection
// table's evictions, the AF_PACKET backend's ring and transmit losses). An
// engine reports a reason either per queue or in total, not both, so sums
// over queue are right.
//
//	xvs_service_connections_total{service}          counter
//	xvs_service_packets_total{service,direction}    counter
//	xvs_service_bytes_total{service,direction}      counter
//	xvs_real_connections_total{service,real}        counter
//	xvs_real_packets_total{service,real,direction}  counter
//	xvs_real_bytes_total{service,real,direction}    counter
//	xvs_real_active_connections{service,real}       gauge
//	xvs_real_inactive_connections{service,real}     gauge
//	xvs_real_persistent_connections{service,real}   gauge
//	xvs_conntrack_entries                            gauge
//	xvs_conntrack_templates                          gauge
//	xvs_conntrack_capacity                           gauge
//	xvs_conntrack_evictions_total                    counter
//	xvs_drops_total{queue,reason}                    counter
//	xvs_events_total{queue,event}                    counter
//
// and, from an engine that is an MHReporter, the mh services' Maglev
// tables (see maglevmetrics.go): xvs_mh_table_info{service,digest,size}
// and xvs_mh_slots{service,real}.
//
// xvs_drops_total covers every loss counter of the engine's drop report
// (workers, AF_XDP sockets, steering, AF_PACKET, evictions); an engine that
// is a DropReporter also exports the report's Events (the steering
// program's verdicts per queue, "steer-service", "pass-nomatch", ...) as
// xvs_events_total.
//
// Counters restart from zero after ipvsadm -Z; Prometheus treats that as a
// counter reset.

var (
	svcLabels  = []string{"service"}
	svcDir     = []string{"service", "direction"}
	realLabels = []string{"service", "real"}
	realDir    = []string{"service", "real", "direction"}

	descSvcConns   = prometheus.NewDesc("xvs_service_connections_total", "Connections scheduled by the virtual service.", svcLabels, nil)
	descSvcPkts    = prometheus.NewDesc("xvs_service_packets_total", "Packets forwarded for the virtual service.", svcDir, nil)
	descSvcBytes   = prometheus.NewDesc("xvs_service_bytes_total", "Bytes forwarded for the virtual service.", svcDir, nil)
	descRealConns  = prometheus.NewDesc("xvs_real_connections_total", "Connections scheduled to the real server.", realLabels, nil)
	descRealPkts   = prometheus.NewDesc("xvs_real_packets_total", "Packets forwarded for the real server.", realDir, nil)
	descRealBytes  = prometheus.NewDesc("xvs_real_bytes_total", "Bytes forwarded for the real server.", realDir, nil)
	descRealActive = prometheus.NewDesc("xvs_real_active_connections", "Established connections of the real server (ipvsadm ActiveConn).", realLabels, nil)
	descRealInact  = prometheus.NewDesc("xvs_real_inactive_connections", "Other connections of the real server (ipvsadm InActConn).", realLabels, nil)
	descRealPers   = prometheus.NewDesc("xvs_real_persistent_connections", "Persistence templates pointing at the real server.", realLabels, nil)
	descEntries    = prometheus.NewDesc("xvs_conntrack_entries", "Connection entries in the table.", nil, nil)
	descTemplates  = prometheus.NewDesc("xvs_conntrack_templates", "Persistence templates in the table.", nil, nil)
	descCapacity   = prometheus.NewDesc("xvs_conntrack_capacity", "Entries the connection table can hold.", nil, nil)
	descEvictions  = prometheus.NewDesc("xvs_conntrack_evictions_total", "Entries evicted to make room in a full table.", nil, nil)
	descDrops      = prometheus.NewDesc("xvs_drops_total", "Packets dropped, by queue and reason.", []string{"queue", "reason"}, nil)
	descEvents     = prometheus.NewDesc("xvs_events_total", "Packets not lost but not forwarded either (steering verdicts), by queue and event.", []string{"queue", "event"}, nil)
)

// collector is a prometheus.Collector over an Engine.
type collector struct{ engine Engine }

// NewCollector returns a Prometheus collector that reads engine's Stats at
// scrape time.
func NewCollector(engine Engine) prometheus.Collector { return collector{engine} }

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descSvcConns, descSvcPkts, descSvcBytes, descRealConns, descRealPkts, descRealBytes,
		descRealActive, descRealInact, descRealPers, descEntries, descTemplates, descCapacity,
		descEvictions, descDrops, descEvents,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.engine.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	// A duplicated key would make the whole scrape fail; report the first.
	seen := make(map[service.Key]bool, len(st.Services))
	for i := range st.Services {
		s := &st.Services[i]
		if seen[s.Key] {
			continue
		}
		seen[s.Key] = true
		svc := ServiceLabel(s.Key)
		counter(descSvcConns, s.Counters.Conns, svc)
		counter(descSvcPkts, s.Counters.InPkts, svc, "in")
		counter(descSvcPkts, s.Counters.OutPkts, svc, "out")
		counter(descSvcBytes, s.Counters.InBytes, svc, "in")
		counter(descSvcBytes, s.Counters.OutBytes, svc, "out")
		seenReal := make(map[service.RealKey]bool, len(s.Reals))
		for j := range s.Reals {
			r := &s.Reals[j]
			if seenReal[r.Key] {
				continue
			}
			seenReal[r.Key] = true
			real := netip.AddrPortFrom(r.Key.Addr, r.Key.Port).String()
			counter(descRealConns, r.Counters.Conns, svc, real)
			counter(descRealPkts, r.Counters.InPkts, svc, real, "in")
			counter(descRealPkts, r.Counters.OutPkts, svc, real, "out")
			counter(descRealBytes, r.Counters.InBytes, svc, real, "in")
			counter(descRealBytes, r.Counters.OutBytes, svc, real, "out")
			gauge(descRealActive, float64(r.ActiveConns), svc, real)
			gauge(descRealInact, float64(r.InactConns), svc, real)
			gauge(descRealPers, float64(r.PersistConns), svc, real)
		}
	}
	gauge(descEntries, float64(st.Table.Conns))
	gauge(descTemplates, float64(st.Table.Templates))
	gauge(descCapacity, float64(st.Table.Capacity))
	counter(descEvictions, st.Table.Evictions)

	// Records are summed by label set: a label set twice would fail the
	// whole scrape.
	for k, n := range byLabels(st.Drops) {
		counter(descDrops, n, k.queue, k.reason)
	}
	if dr, ok := c.engine.(DropReporter); ok {
		for k, n := range byLabels(dr.Drops().Events) {
			counter(descEvents, n, k.queue, k.reason)
		}
	}
}

// ServiceLabel is a service's value of the "service" label:
// "tcp/198.18.0.1:80", "udp/[2001:db8::1]:53" or "group/web".
func ServiceLabel(k service.Key) string {
	if k.Group != "" {
		return "group/" + k.Group
	}
	return strings.ToLower(k.Proto.String()) + "/" + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// dropLabels are the labels of one drop or event sample.
type dropLabels struct{ queue, reason string }

// byLabels sums records by queue and reason.
func byLabels(d []Drop) map[dropLabels]uint64 {
	m := make(map[dropLabels]uint64, len(d))
	for _, r := range d {
		m[dropLabels{r.Queue, r.Reason}] += r.Count
	}
	return m
}

// MetricsHandler serves engine's metrics, with the Go runtime's, the
// process's and extra's (the daemon's health check metrics), in
// Prometheus's exposition formats.
func MetricsHandler(engine Engine, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(engine),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if mr, ok := engine.(MHReporter); ok {
		reg.MustRegister(maglevCollector{mr})
	}
	reg.MustRegister(extra...)
	// A scrape costs CPU the data path and the control socket need;
	// Prometheus scrapes one at a time, so more at once are answered 503
	// at once instead of queueing for the daemon's cores.
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		MaxRequestsInFlight: metricsMaxScrapes})
}

// MetricsOption configures ServeMetrics.
type MetricsOption func(*metricsOptions)

type metricsOptions struct {
	log   *slog.Logger
	extra []prometheus.Collector
}

// WithCollector adds c's metrics to those served (the daemon adds its
// HealthMetrics).
func WithCollector(c prometheus.Collector) MetricsOption {
	return func(o *metricsOptions) { o.extra = append(o.extra, c) }
}

// WithMetricsLogger sets where the metrics server logs its own problems
// (accept failures, bad clients), rate-limited; default slog's default.
func WithMetricsLogger(l *slog.Logger) MetricsOption {
	return func(o *metricsOptions) { o.log = l }
}

// ServeMetrics serves MetricsHandler(engine) at /metrics on addr (host:port)
// until ctx is done, then shuts down and returns nil. It fails at once if
// addr cannot be listened on. Connections are capped and timed out (see
// metricsMaxConns), so clients of the port cannot exhaust the daemon; a
// failing accept (out of descriptors) is retried by net/http with a backoff.
func ServeMetrics(ctx context.Context, addr string, engine Engine, opts ...MetricsOption) error {
	o := metricsOptions{log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	cl := newCapListener(l, metricsMaxConns)
	mux := http.NewServeMux()
	mux.Handle("/metrics", MetricsHandler(engine, o.extra...))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsReadHeaderTimeout,
		ReadTimeout:       metricsReadTimeout,
		WriteTimeout:      metricsWriteTimeout,
		IdleTimeout:       metricsIdleTimeout,
		MaxHeaderBytes:    metricsMaxHeaderBytes,
		ConnState:         cl.track,
		ErrorLog:          log.New(&rateWriter{log: o.log}, "", 0),
	}
	l = cl
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("metrics shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// rateWriter turns net/http's error log into rate-limited warnings: a flood
// of bad clients costs the daemon's log one line every few seconds.
type rateWriter struct {
	log  *slog.Logger
	rate rateLog
}

func (w *rateWriter) Write(b []byte) (int, error) {
	if ok, n := w.rate.allow(time.Now()); ok {
		w.log.Warn("metrics: "+strings.TrimSpace(string(b)), "suppressed", n)
	}
	return len(b), nil
}
