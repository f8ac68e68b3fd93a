package conntrack

import (
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// The per-packet and per-flow paths must not allocate.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const n = 10_000
	tab, clk := newTable(t, Config{Capacity: 2 * n, Shards: 4})
	keys := make([]Key, 2*n)
	replies := make([]Key, 2*n)
	for i := range keys {
		keys[i] = clientKey(uint32(i), flow.TCP)
		replies[i] = replyOf(keys[i], real1, 80)
	}
	tk := Key{Tuple: flow.Tuple{Src: addr("10.0.0.0"), Dst: vip, Proto: flow.TCP}, Kind: KindTemplate}
	tmpl, err := tab.InsertTemplate(tk, Value{Dest: 1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*Conn, n)
	for i := range n {
		conns[i] = mustInsert(t, tab, keys[i], &replies[i], Value{Dest: 1, Template: tmpl})
	}
	miss := clientKey(3*n, flow.TCP)
	i := 0
	next := func() int { i = (i + 1) % n; return i }
	checks := []struct {
		name string
		fn   func()
	}{
		{"Lookup forward", func() { tab.Lookup(&keys[next()]) }},
		{"Lookup reply", func() { tab.Lookup(&replies[next()]) }},
		{"Lookup template", func() { tab.Lookup(&tk) }},
		{"Lookup miss", func() { tab.Lookup(&miss) }},
		{"Observe", func() { tab.Observe(conns[next()], DirInput, flow.TCPAck, 1500) }},
		{"Observe reply", func() { tab.Observe(conns[next()], DirOutput, flow.TCPSyn|flow.TCPAck, 60) }},
		{"Reusable", func() { conns[next()].Reusable() }},
		{"Template", func() { conns[next()].Template() }},
		{"Reap", func() { tab.Reap(1000) }},
	}
	for _, c := range checks {
		if a := testing.AllocsPerRun(1000, c.fn); a != 0 {
			t.Errorf("%s: %v allocs", c.name, a)
		}
	}

	// Insert and Expire into a table that is not growing: empty it, let the
	// freed entries rest past the reuse grace, then insert anew.
	for _, c := range conns {
		tab.Expire(c)
	}
	// The grace runs on the coarse clock, whose goroutine a loaded machine
	// may starve: wait for that clock, not for a fixed sleep.
	for freed := coarseNow(); coarseNow()-freed <= reuseGrace; {
		time.Sleep(10 * time.Millisecond)
	}
	slab := tab.Stats().SlabEntries
	j := n
	insert := func() {
		c, err := tab.Insert(keys[j], &replies[j], Value{Dest: 2, Template: tmpl})
		if err != nil {
			t.Fatal(err)
		}
		tab.Observe(c, DirInput, flow.TCPSyn, 60)
		j++
	}
	if a := testing.AllocsPerRun(n/2, insert); a != 0 {
		t.Errorf("Insert: %v allocs", a)
	}
	if got := tab.Stats().SlabEntries; got != slab {
		t.Errorf("slab grew from %d to %d", slab, got)
	}
	k := n
	expire := func() { tab.Expire(tab.Lookup(&keys[k])); k++ }
	if a := testing.AllocsPerRun(n/4, expire); a != 0 {
		t.Errorf("Expire: %v allocs", a)
	}
	clk.Advance(time.Hour)
	if a := testing.AllocsPerRun(10, func() { tab.Reap(1 << 20) }); a != 0 {
		t.Errorf("Reap removing: %v allocs", a)
	}
}
