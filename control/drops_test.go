package control

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// dropsEngine is a fake engine that also reports typed drops.
type dropsEngine struct {
	*fakeEngine
	report DropReport
}

func (e *dropsEngine) Drops() DropReport { return e.report }

func TestDropsRequest(t *testing.T) {
	e := &dropsEngine{fakeEngine: newFakeEngine(), report: DropReport{
		Drops:  []Drop{{Queue: "eth0/0", Reason: "xsk-rx-ring-full", Count: 5}, {Reason: "evict-datagram", Count: 2}},
		Events: []Drop{{Queue: "eth0/0", Reason: "steer-service", Count: 100}},
	}}
	path, _ := startServer(t, e)
	got, err := dial(t, path).Drops()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Drops, e.report.Drops) || !slices.Equal(got.Events, e.report.Events) || got.Total() != 7 {
		t.Errorf("drops round trip: %+v", got)
	}
}

// An engine that is no DropReporter answers from Stats.Drops.
func TestDropsFromStats(t *testing.T) {
	e := newFakeEngine()
	e.stats.Drops = []Drop{{Reason: "evict-closing", Count: 1}, {Queue: "eth0/1", Reason: "no-route", Count: 3}}
	path, _ := startServer(t, e)
	got, err := dial(t, path).Drops()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Drops, e.stats.Drops) || got.Events != nil {
		t.Errorf("got %+v, want %+v", got, e.stats.Drops)
	}
}

func TestEventsMetric(t *testing.T) {
	e := &dropsEngine{fakeEngine: metricsEngine(), report: DropReport{
		Events: []Drop{{Queue: "eth0/0", Reason: "steer-service", Count: 100}, {Queue: "eth0/1", Reason: "pass-nomatch", Count: 4}},
	}}
	want := `
# HELP xvs_events_total Packets not lost but not forwarded either (steering verdicts), by queue and event.
# TYPE xvs_events_total counter
xvs_events_total{event="pass-nomatch",queue="eth0/1"} 4
xvs_events_total{event="steer-service",queue="eth0/0"} 100
`
	if err := testutil.CollectAndCompare(NewCollector(e), strings.NewReader(want), "xvs_events_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(NewCollector(e))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
