package conntrack

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// TestInstall: a synced connection arrives in the message's state with the
// message's timeout, a later message restates it (even to a shorter life),
// a message naming another real server is refused with the holder, and
// the state classes and activity hook follow.
func TestInstall(t *testing.T) {
	var active atomic.Int64
	tab, clk := newTable(t, Config{Capacity: 64, Hooks: Hooks{
		Bound: func(c *Conn) {
			if c.State().Active() {
				active.Add(1)
			}
		},
		Activity: func(c *Conn, a bool) {
			if a {
				active.Add(1)
			} else {
				active.Add(-1)
			}
		},
	}})
	fwd := clientKey(1, flow.TCP)
	rk := replyOf(fwd, real1, 80)
	v := Value{Service: 1, Dest: 2, DestGen: 3, State: StateEstablished}
	c, err := tab.Install(fwd, &rk, v, 100*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.State() != StateEstablished || !c.LearntFromSync() || active.Load() != 1 {
		t.Fatalf("installed: state %v learnt %v active %d", c.State(), c.LearntFromSync(), active.Load())
	}
	if got := tab.Remaining(c); got < 99*time.Second || got > 100*time.Second {
		t.Errorf("remaining %v, want 100 s", got)
	}
	if tab.Lookup(&rk) != c {
		t.Error("reply key not installed")
	}

	v.State = StateFinWait
	c2, err := tab.Install(fwd, &rk, v, 20*time.Second)
	if err != nil || c2 != c {
		t.Fatalf("update: %v, same entry %v", err, c2 == c)
	}
	if c.State() != StateFinWait || active.Load() != 0 || tab.Len() != 1 {
		t.Errorf("updated: state %v active %d len %d", c.State(), active.Load(), tab.Len())
	}
	if got := tab.Remaining(c); got > 20*time.Second {
		t.Errorf("remaining %v after a shorter message, want 20 s", got)
	}
	if st := tab.Stats(); st.Closing != 1 || st.Established != 0 {
		t.Errorf("classes after restate: %+v", st)
	}

	other := v
	other.Dest = 9
	if h, err := tab.Install(fwd, &rk, other, time.Minute); !errors.Is(err, ErrExists) || h != c {
		t.Errorf("other real: %v, holder %v", err, h == c)
	}

	// It lives on its own timer.
	clk.Advance(21 * time.Second)
	if tab.Lookup(&fwd) != nil {
		t.Error("installed entry outlived its timeout")
	}
	// And after expiry a message makes it anew.
	if _, err := tab.Install(fwd, &rk, v, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestInstallDR: without a reply key the entry is input-only, as Insert's.
func TestInstallDR(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 64})
	fwd := clientKey(2, flow.TCP)
	c, err := tab.Install(fwd, nil, Value{Service: 1, Dest: 1, State: StateEstablished}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A FIN from the client on an input-only connection goes to FIN_WAIT
	// (on a NAT one it would be CLOSE_WAIT).
	if st := tab.Observe(c, DirInput, flow.TCPFin|flow.TCPAck, 52); st != StateFinWait {
		t.Errorf("FIN on an installed DR connection: %v, want FIN_WAIT", st)
	}
	if !c.LearntFromSync() {
		t.Error("a packet cleared the learnt mark; only MarkSynced does")
	}
	udp := clientKey(3, flow.UDP)
	u, err := tab.Install(udp, nil, Value{Service: 1, Dest: 1, State: StateEstablished}, time.Minute)
	if err != nil || u.State() != StateUDP {
		t.Errorf("udp install: %v state %v", err, u.State())
	}
}

// TestSyncMarks: MarkSynced clears the learnt mark and SinceSync counts
// from it in 4.096 s steps; Observe keeps the marks.
func TestSyncMarks(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 64})
	fwd := clientKey(4, flow.TCP)
	c := mustInsert(t, tab, fwd, nil, Value{})
	if _, ok := tab.SinceSync(c); ok || c.LearntFromSync() {
		t.Fatal("a new connection reads as synced or learnt")
	}
	tab.MarkSynced(c)
	tab.Observe(c, DirInput, flow.TCPSyn, 60)
	clk.Advance(30 * time.Second)
	tab.Observe(c, DirInput, flow.TCPAck, 60)
	d, ok := tab.SinceSync(c)
	if !ok || d < 25*time.Second || d > 35*time.Second {
		t.Errorf("since sync %v %v, want about 30 s", d, ok)
	}
	if c.InPkts() != 2 {
		t.Errorf("in packets %d, want 2", c.InPkts())
	}
	if got := tab.StateTimeout(StateEstablished); got != 15*time.Minute {
		t.Errorf("established timeout %v", got)
	}
}

// TestInstallTemplate: a template is made or refreshed, and a connection
// installed under it keeps it alive.
func TestInstallTemplate(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 64})
	mask := hostMask()
	c1 := clientKey(5, flow.TCP)
	tk := TemplateKey(flow.TCP, &c1.Src, &mask, 7)
	tm, err := tab.InstallTemplate(tk, Value{Service: 7, Dest: 1}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tm2, err := tab.InstallTemplate(tk, Value{Service: 7, Dest: 1}, 120*time.Second); err != nil || tm2 != tm {
		t.Fatalf("refresh: %v", err)
	}
	if got := tab.Remaining(tm); got < 119*time.Second {
		t.Errorf("refreshed template has %v left", got)
	}
	if _, err := tab.InstallTemplate(tk, Value{Service: 7, Dest: 2}, time.Minute); !errors.Is(err, ErrExists) {
		t.Errorf("template to another real: %v", err)
	}
	if _, err := tab.Install(c1, nil, Value{Service: 7, Dest: 1, Template: tm, State: StateEstablished}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Minute)
	if tab.Lookup(&tk) == nil {
		t.Error("template controlling a live connection expired")
	}
}

// TestTemplateOf: the lock-free template lookup finds what Conn.Template
// finds.
func TestTemplateOf(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 64})
	mask := hostMask()
	k := clientKey(6, flow.TCP)
	tk := TemplateKey(flow.TCP, &k.Src, &mask, 1)
	tm, err := tab.InsertTemplate(tk, Value{Service: 1, Dest: 1}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := mustInsert(t, tab, k, nil, Value{Service: 1, Dest: 1, Template: tm})
	if tab.TemplateOf(c) != tm || c.Template() != tm {
		t.Error("template not found")
	}
	other := mustInsert(t, tab, clientKey(7, flow.TCP), nil, Value{})
	if tab.TemplateOf(other) != nil || tab.TemplateOf(tm) != nil {
		t.Error("a template where there is none")
	}
}

// hostMask is the persistence mask of one client address.
func hostMask() [16]byte {
	var m [16]byte
	for i := range m {
		m[i] = 0xff
	}
	return m
}
