package connsync

import (
	"testing"
	"time"
)

// TestPolicySends: which client packets of a connection make the master
// send it, for the states and knobs of REFERENCE §3.4.
func TestPolicySends(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	type pkt struct {
		state uint16
		want  bool
	}
	est := func(n int) []pkt { // n ESTABLISHED packets, sent at 3, 53, 103 …
		var ps []pkt
		for i := 1; i <= n; i++ {
			ps = append(ps, pkt{tcpEstablished, i%50 == 3})
		}
		return ps
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		proto  uint8
		pkts   []pkt
	}{
		{"syn-recv-never", DefaultPolicy, protoTCP, []pkt{{3, false}, {3, false}, {3, false}}},
		{"state-past-the-table", DefaultPolicy, protoTCP, []pkt{{99, false}, {99, false}, {99, false}}},
		{"established-3-53-103", DefaultPolicy, protoTCP, est(110)},
		{"udp-3-53", DefaultPolicy, protoUDP, func() []pkt {
			var ps []pkt
			for i := 1; i <= 60; i++ {
				ps = append(ps, pkt{0, i%50 == 3})
			}
			return ps
		}()},
		// The state changes to FIN_WAIT and CLOSE are sent at once,
		// whatever the count; staying in FIN_WAIT is not.
		{"close-sent-at-once", DefaultPolicy, protoTCP, append(est(5),
			pkt{tcpFinWait, true}, pkt{tcpFinWait, false}, pkt{tcpClose, true})},
		{"period-0-once", Policy{Threshold: 3}, protoTCP, func() []pkt {
			var ps []pkt
			for i := 1; i <= 60; i++ {
				ps = append(ps, pkt{tcpEstablished, i == 3})
			}
			return ps
		}()},
	} {
		var tr Track
		for i, p := range tc.pkts {
			got := tc.policy.Needed(&tr, Packet{Proto: tc.proto, State: p.state, Pkts: i + 1, Timeout: 900 * time.Second},
				now.Add(time.Duration(i)*time.Millisecond))
			if got != p.want {
				t.Errorf("%s: packet %d (state %d): sent %v, want %v", tc.name, i+1, p.state, got, p.want)
			}
		}
	}
}

// TestPolicyPersistMode: with sync_persist_mode only templates go out.
func TestPolicyPersistMode(t *testing.T) {
	p := Policy{Threshold: 3, Period: 50, PersistMode: true}
	var tr, tt Track
	now := time.Now()
	if p.Needed(&tr, Packet{Proto: protoTCP, State: tcpEstablished, Persistent: true, Pkts: 3, Timeout: time.Minute}, now) {
		t.Error("persistent connection sent in persist mode")
	}
	if !p.Needed(&tt, Packet{Proto: protoTCP, Template: true, Pkts: 4, Timeout: time.Minute}, now) {
		t.Error("template not sent")
	}
}

// TestPolicyRefresh: with a refresh period, a connection whose expiry has
// hardly moved is not sent again, except for the configured retries, each
// at least RefreshPeriod/8 after the last send.
func TestPolicyRefresh(t *testing.T) {
	p := Policy{Threshold: 3, RefreshPeriod: 60 * time.Second, Retries: 1}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var tr Track
	c := Packet{Proto: protoUDP, Pkts: 3, Timeout: 300 * time.Second}
	if !p.Needed(&tr, c, now) {
		t.Fatal("first send")
	}
	c.Pkts = 4
	if p.Needed(&tr, c, now.Add(time.Second)) {
		t.Error("resent 1 s later (expiry moved 1 s < 60 s, retry too early)")
	}
	if !p.Needed(&tr, c, now.Add(8*time.Second)) {
		t.Error("one retry after RefreshPeriod/8 = 7.5 s not sent")
	}
	if p.Needed(&tr, c, now.Add(20*time.Second)) {
		t.Error("second retry sent with Retries 1")
	}
	if !p.Needed(&tr, c, now.Add(70*time.Second)) {
		t.Error("not resent once the expiry moved 60 s")
	}
}
