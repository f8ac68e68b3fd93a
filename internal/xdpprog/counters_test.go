package xdpprog

import (
	"testing"

	"github.com/cilium/ebpf"
)

// TestQueueCounters: verdicts are counted in the row of the packet's
// receive queue (0 in a test run), and Counters is their sum.
func TestQueueCounters(t *testing.T) {
	s := newTestSteering(t, testConfig)
	arp := arpFrame(t, "198.18.0.1")
	for range 3 {
		if _, err := s.prog.Run(&ebpf.RunOptions{Data: arp, Repeat: 1}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.QueueCounters()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0] != (QueueCounter{Queue: 0, Name: "pass_other", Count: 3}) {
		t.Errorf("queue counters %+v, want pass_other 3 on queue 0", rows)
	}
	sum, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if sum["pass_other"] != 3 || len(sum) != numCounters {
		t.Errorf("counters %v", sum)
	}
}
