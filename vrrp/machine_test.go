package vrrp

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func machine(t *testing.T, cfg Config) *Machine {
	t.Helper()
	if cfg.Version == 0 {
		cfg.Version = 3
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.VRID == 0 {
		cfg.VRID = 51
	}
	if !cfg.Primary.IsValid() {
		cfg.Primary = netip.MustParseAddr("198.18.0.2")
	}
	m, err := NewMachine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func advert(prio uint8, interval time.Duration) *Advert {
	return &Advert{Version: 3, VRID: 51, Priority: prio, Interval: interval, Addrs: []netip.Addr{vip4}}
}

var peer = netip.MustParseAddr("198.18.0.3")

// TestMasterDownInterval: priority 100 with a 1 s interval takes over
// 3 × 1 s + (256−100)/256 s = 3.609375 s after the last advertisement, the
// figure REFERENCE §2.3 quotes; priority 200 takes over earlier (skew
// 218.75 ms); a master's priority-0 advert cuts the wait to the skew.
func TestMasterDownInterval(t *testing.T) {
	for _, tc := range []struct {
		name  string
		prio  uint8
		stop  bool
		want  time.Duration
		vers  int
		inter time.Duration
	}{
		{"prio100", 100, false, 3609375 * time.Microsecond, 3, time.Second},
		{"prio200", 200, false, 3218750 * time.Microsecond, 3, time.Second},
		{"prio100-stop", 100, true, 609375 * time.Microsecond, 3, time.Second},
		{"prio100-v3-100ms", 100, false, 360937500 * time.Nanosecond, 3, 100 * time.Millisecond},
		{"prio100-v2-2s", 100, false, 6609375 * time.Microsecond, 2, 2 * time.Second},
	} {
		m := machine(t, Config{Priority: tc.prio, Version: tc.vers, Interval: tc.inter})
		m.Start(at(0))
		a := advert(254, tc.inter)
		a.Version = tc.vers
		if tc.stop {
			a.Priority = StopPriority
		}
		heard := at(500)
		m.Advert(heard, a, peer)
		if got := m.Deadline().Sub(heard); got != tc.want {
			t.Errorf("%s: takes over %v after the advert, want %v", tc.name, got, tc.want)
		}
		if acts := m.Timer(m.Deadline().Add(-time.Nanosecond)); acts != nil || m.State() != Backup {
			t.Errorf("%s: early timer: %v, %v", tc.name, acts, m.State())
		}
		if acts := m.Timer(m.Deadline()); !slices.Equal(acts, []Action{SendAdvert, TakeAddrs}) || m.State() != Master {
			t.Errorf("%s: timer: %v, %v", tc.name, acts, m.State())
		}
	}
}

func TestTransitions(t *testing.T) {
	type step struct {
		ms    int
		prio  int // an advert of this priority from peer; -1 = a timer tick; -2 = Stop
		acts  []Action
		state State
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"owner-is-master-at-once", Config{Priority: 255}, []step{
			{1000, -1, []Action{SendAdvert}, Master},
			// A lower priority is answered at once, with announcements
			// (a split brain healing), and the interval starts again.
			{1500, 254, []Action{SendAdvert, Announce}, Master},
			{2000, -1, nil, Master},
			{2500, -1, []Action{SendAdvert}, Master},
		}},
		{"master-yields-to-higher", Config{Priority: 100}, []step{
			{3610, -1, []Action{SendAdvert, TakeAddrs}, Master},
			// The yield is advertised once, so the new master announces
			// its addresses (a split brain healing).
			{4000, 101, []Action{SendAdvert, DropAddrs}, Backup},
		}},
		{"equal-priority-higher-address-wins", Config{Priority: 100}, []step{
			{3610, -1, []Action{SendAdvert, TakeAddrs}, Master},
			{4000, 100, []Action{SendAdvert, DropAddrs}, Backup}, // peer .3 > our .2
		}},
		{"equal-priority-lower-address-loses", Config{Priority: 100, Primary: netip.MustParseAddr("198.18.0.9")}, []step{
			{3610, -1, []Action{SendAdvert, TakeAddrs}, Master},
			{4000, 100, []Action{SendAdvert, Announce}, Master},
		}},
		{"master-answers-stop-at-once", Config{Priority: 100}, []step{
			{3610, -1, []Action{SendAdvert, TakeAddrs}, Master},
			{3700, 0, []Action{SendAdvert}, Master},
		}},
		{"preempt-lower-master", Config{Priority: 150}, []step{
			{500, 100, nil, Backup}, // ignored: the down timer keeps running
			{1500, 100, nil, Backup},
			{3415, -1, []Action{SendAdvert, TakeAddrs}, Master}, // 3 s + 106/256 s after start
		}},
		{"nopreempt-stays-backup", Config{Priority: 150, NoPreempt: true}, []step{
			{500, 100, nil, Backup}, // accepted: each restarts the down timer
			{1500, 100, nil, Backup},
			{2500, 100, nil, Backup},
			{3500, 100, nil, Backup},
			{4000, -1, nil, Backup},
			{6913, -1, nil, Backup}, // the lower master went silent at 3500
			{6915, -1, []Action{SendAdvert, TakeAddrs}, Master},
		}},
		{"preempt-delay", Config{Priority: 150, PreemptDelay: 5 * time.Second}, []step{
			{1000, 100, nil, Backup},
			{4000, 100, nil, Backup}, // still within the delay: accepted
			{6000, 100, nil, Backup}, // past it: ignored
			{7000, -1, nil, Backup},
			{7415, -1, []Action{SendAdvert, TakeAddrs}, Master}, // 4 s + 3.414 s
		}},
		{"stop-from-master", Config{Priority: 100}, []step{
			{3610, -1, []Action{SendAdvert, TakeAddrs}, Master},
			{5000, -2, []Action{SendStop, DropAddrs}, Initialize},
		}},
	} {
		m := machine(t, tc.cfg)
		start := m.Start(at(0))
		if tc.cfg.Priority == 255 && !slices.Equal(start, []Action{SendAdvert, TakeAddrs}) {
			t.Errorf("%s: start %v", tc.name, start)
		}
		for i, s := range tc.steps {
			var acts []Action
			switch s.prio {
			case -1:
				acts = m.Timer(at(s.ms))
			case -2:
				acts = m.Stop()
			default:
				acts = m.Advert(at(s.ms), advert(uint8(s.prio), time.Second), peer)
			}
			if !slices.Equal(acts, s.acts) || m.State() != s.state {
				t.Errorf("%s: step %d (%d ms): %v in %v, want %v in %v", tc.name, i, s.ms, acts, m.State(), s.acts, s.state)
			}
		}
	}
}

// TestV3AdoptsInterval: a version 3 backup uses the master's advertised
// interval for its down timer; version 2 ignores adverts whose interval is
// not its own, as keepalived does.
func TestV3AdoptsInterval(t *testing.T) {
	m := machine(t, Config{Priority: 100})
	m.Start(at(0))
	m.Advert(at(100), advert(200, 200*time.Millisecond), peer)
	if got, want := m.Deadline().Sub(at(100)), 600*time.Millisecond+156*200*time.Millisecond/256; got != want {
		t.Errorf("v3 down timer %v, want %v", got, want)
	}
	m2 := machine(t, Config{Priority: 100, Version: 2})
	m2.Start(at(0))
	a := advert(200, 2*time.Second)
	a.Version = 2
	m2.Advert(at(100), a, peer)
	if m2.Ignored != 1 {
		t.Errorf("v2 advert with another interval: ignored %d, want 1", m2.Ignored)
	}
}

func TestNewMachineRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{VRID: 0, Priority: 100, Interval: time.Second, Version: 3},
		{VRID: 1, Priority: 0, Interval: time.Second, Version: 3},
		{VRID: 1, Priority: 100, Interval: time.Second, Version: 4},
		{VRID: 1, Priority: 100, Interval: 1500 * time.Millisecond, Version: 2},
		{VRID: 1, Priority: 100, Interval: 0, Version: 3},
	} {
		if _, err := NewMachine(cfg); err == nil {
			t.Errorf("NewMachine(%+v) accepted", cfg)
		}
	}
}

// TestWhy: every transition says what caused it, and the master's address
// follows the adverts.
func TestWhy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	peer := netip.MustParseAddr("198.18.0.3")
	m, err := NewMachine(Config{VRID: 1, Priority: 100, Interval: time.Second, Version: 3, Primary: netip.MustParseAddr("198.18.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	m.Start(t0)
	m.Advert(t0, &Advert{Version: 3, VRID: 1, Priority: 200, Interval: time.Second}, peer)
	if m.State() != Backup || m.MasterAddr() != peer {
		t.Fatalf("backup following %v: %v %v", peer, m.State(), m.MasterAddr())
	}
	m.Advert(t0.Add(time.Second), &Advert{Version: 3, VRID: 1, Priority: StopPriority, Interval: time.Second}, peer)
	m.Timer(t0.Add(2 * time.Second))
	if m.State() != Master || m.Why() != "priority-0 advertisement from 198.18.0.3" || m.MasterAddr() != netip.MustParseAddr("198.18.0.2") {
		t.Errorf("after the peer's priority 0: %v %q %v", m.State(), m.Why(), m.MasterAddr())
	}
	m.Advert(t0.Add(3*time.Second), &Advert{Version: 3, VRID: 1, Priority: 150, Interval: time.Second}, peer)
	if m.State() != Backup || m.Why() != "higher priority 150 from 198.18.0.3" {
		t.Errorf("after a higher priority: %v %q", m.State(), m.Why())
	}
	m.Track(t0.Add(4*time.Second), 100, true)
	if m.State() != Fault || m.Why() != "tracked object down (weight 0)" || m.MasterAddr().IsValid() {
		t.Errorf("after a fault: %v %q %v", m.State(), m.Why(), m.MasterAddr())
	}
}
