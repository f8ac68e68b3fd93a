package forwarder

import (
	"slices"
	"testing"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// fakeDropBackend adds backend loss counters to a MemBackend.
type fakeDropBackend struct{ *linktest.MemBackend }

func (fakeDropBackend) Stats() link.Stats {
	return link.Stats{
		Drops: []link.Counter{
			{Queue: "mem/0", Reason: "xsk-rx-ring-full", Count: 9},
			{Queue: "mem/0", Reason: "xsk-tx-full"}, // zero: left out
		},
		Events: []link.Counter{{Queue: "mem/0", Reason: "steer-service", Count: 12}},
	}
}

// TestDropReport: the report holds the workers' reasons by queue, the backend's
// own counters and the table's evictions, and Stats.Drops says the same.
func TestDropReport(t *testing.T) {
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: fakeDropBackend{mem}, Router: testRouter(), TableCapacity: 1,
		Services: testService(service.UDP, vip4, 53, "rr", service.MethodNAT, 53, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A TCP packet to a VIP without a TCP service, and two UDP flows into
	// a table of one entry: the second evicts the first (a datagram entry).
	run(e, mem,
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 80, syn: true}),
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 53, udp: true}),
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 2, dport: 53, udp: true}))
	got := e.Drops()
	want := []service.Drop{
		{Reason: "evict-datagram", Count: 1},
		{Queue: "mem/0", Reason: "no-service", Count: 1},
		{Queue: "mem/0", Reason: "xsk-rx-ring-full", Count: 9},
	}
	if !slices.Equal(got.Drops, want) {
		t.Errorf("drops %+v, want %+v", got.Drops, want)
	}
	if len(got.Events) != 1 || got.Events[0].Reason != "steer-service" || got.Events[0].Count != 12 {
		t.Errorf("events %+v", got.Events)
	}
	st := e.Stats().Drops
	if !slices.Equal(st, want) {
		t.Errorf("Stats.Drops %v", st)
	}
}
