package control

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xvs-project/xvs/service"
)

func metricsEngine() *fakeEngine {
	e := newFakeEngine()
	e.stats = Stats{
		Services: []ServiceStats{
			{
				Key:      tcpKey("198.18.0.1", 80),
				Counters: Counters{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 6000, OutBytes: 120000},
				Reals: []RealStats{
					{Key: service.RealKey{Addr: mustAddr("198.18.1.2"), Port: 80}, ActiveConns: 3, InactConns: 1, PersistConns: 2,
						Counters: Counters{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 6000, OutBytes: 120000}},
				},
			},
			{
				Key:      service.Key{Group: "web"},
				Counters: Counters{Conns: 1},
				Reals:    []RealStats{{Key: service.RealKey{Addr: mustAddr("2001:db8::10")}, Counters: Counters{Conns: 1}}},
			},
			// A duplicate must not break the scrape.
			{Key: tcpKey("198.18.0.1", 80), Counters: Counters{Conns: 999}},
		},
		Table: TableStats{Conns: 12, Templates: 2, Capacity: 4096, Evictions: 5},
		// The same label set twice is summed (7), not a failed scrape.
		Drops: []Drop{{Reason: "no-service", Count: 5}, {Queue: "0", Reason: "ring-full", Count: 3},
			{Queue: "1", Reason: "ring-full", Count: 4}, {Queue: "eth0/2", Reason: "odd", Count: 1},
			{Reason: "no-service", Count: 2}},
	}
	return e
}

func TestCollector(t *testing.T) {
	c := NewCollector(metricsEngine())
	want := `
# HELP xvs_conntrack_capacity Entries the connection table can hold.
# TYPE xvs_conntrack_capacity gauge
xvs_conntrack_capacity 4096
# HELP xvs_conntrack_evictions_total Entries evicted to make room in a full table.
# TYPE xvs_conntrack_evictions_total counter
xvs_conntrack_evictions_total 5
# HELP xvs_drops_total Packets dropped, by queue and reason.
# TYPE xvs_drops_total counter
xvs_drops_total{queue="",reason="no-service"} 7
xvs_drops_total{queue="eth0/2",reason="odd"} 1
xvs_drops_total{queue="0",reason="ring-full"} 3
xvs_drops_total{queue="1",reason="ring-full"} 4
# HELP xvs_real_active_connections Established connections of the real server (ipvsadm ActiveConn).
# TYPE xvs_real_active_connections gauge
xvs_real_active_connections{real="198.18.1.2:80",service="tcp/198.18.0.1:80"} 3
xvs_real_active_connections{real="[2001:db8::10]:0",service="group/web"} 0
# HELP xvs_real_bytes_total Bytes forwarded for the real server.
# TYPE xvs_real_bytes_total counter
xvs_real_bytes_total{direction="in",real="198.18.1.2:80",service="tcp/198.18.0.1:80"} 6000
xvs_real_bytes_total{direction="in",real="[2001:db8::10]:0",service="group/web"} 0
xvs_real_bytes_total{direction="out",real="198.18.1.2:80",service="tcp/198.18.0.1:80"} 120000
xvs_real_bytes_total{direction="out",real="[2001:db8::10]:0",service="group/web"} 0
# HELP xvs_service_connections_total Connections scheduled by the virtual service.
# TYPE xvs_service_connections_total counter
xvs_service_connections_total{service="group/web"} 1
xvs_service_connections_total{service="tcp/198.18.0.1:80"} 10
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"xvs_conntrack_capacity", "xvs_conntrack_evictions_total", "xvs_drops_total",
		"xvs_real_active_connections", "xvs_real_bytes_total", "xvs_service_connections_total"); err != nil {
		t.Error(err)
	}
	// 5 per service ×2, 8 per real ×2, 4 table, 4 drops.
	if n := testutil.CollectAndCount(c); n != 10+16+4+4 {
		t.Errorf("%d metrics", n)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorReadsAtScrape(t *testing.T) {
	e := metricsEngine()
	c := NewCollector(e)
	if got := testutil.ToFloat64(filterOne(c, "xvs_conntrack_evictions_total")); got != 5 {
		t.Fatalf("evictions %v", got)
	}
	e.mu.Lock()
	e.stats.Table.Evictions = 6
	e.mu.Unlock()
	if got := testutil.ToFloat64(filterOne(c, "xvs_conntrack_evictions_total")); got != 6 {
		t.Errorf("evictions after change %v", got)
	}
}

func TestServiceLabel(t *testing.T) {
	if got := ServiceLabel(service.Key{Proto: service.UDP, Addr: mustAddr("2001:db8::1"), Port: 53}); got != "udp/[2001:db8::1]:53" {
		t.Errorf("label %q", got)
	}
}

func TestMetricsHandler(t *testing.T) {
	srv := httptest.NewServer(MetricsHandler(metricsEngine()))
	defer srv.Close()
	body := get(t, srv.URL)
	for _, want := range []string{
		`xvs_service_packets_total{direction="out",service="tcp/198.18.0.1:80"} 90`,
		`xvs_conntrack_entries 12`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestServeMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetrics(ctx, addr, metricsEngine()) }()
	var body string
	for i := 0; i < 100; i++ {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, "xvs_conntrack_capacity 4096") {
		t.Errorf("no metrics served: %.200q", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeMetrics: %v", err)
	}
	// A busy address is an error, at once.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := ServeMetrics(context.Background(), busy.Addr().String(), metricsEngine()); err == nil {
		t.Error("ServeMetrics on a busy address succeeded")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// filterOne passes on only the metrics of one name, so testutil.ToFloat64
// can read a single value.
func filterOne(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}
