package conntrack

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/xvs-project/xvs/flow"
)

// TestConcurrent runs inserts, lookups, Observe, Expire, eviction and
// reaping from several goroutines at once (run it with -race), then checks
// that the table and the counters its hooks kept agree.
func TestConcurrent(t *testing.T) {
	const (
		keys    = 4000 // NAT connections drawn from this pool
		clients = 64   // template networks
	)
	ops := 20000
	if testing.Short() {
		ops = 5000
	}
	var bound, unbound, active, inactive, tmplBound, tmplUnbound atomic.Int64
	tab, clk := newTable(t, Config{Capacity: 3000, Shards: 8, Hooks: Hooks{
		Bound: func(c *Conn) {
			if c.IsTemplate() {
				tmplBound.Add(1)
				return
			}
			bound.Add(1)
			inactive.Add(1) // every Insert here starts in NONE
		},
		Activity: func(c *Conn, a bool) {
			if a {
				active.Add(1)
				inactive.Add(-1)
			} else {
				active.Add(-1)
				inactive.Add(1)
			}
		},
		Unbound: func(c *Conn, was bool) {
			if c.IsTemplate() {
				tmplUnbound.Add(1)
				return
			}
			unbound.Add(1)
			if was {
				active.Add(-1)
			} else {
				inactive.Add(-1)
			}
		},
	}})
	fwdOf := func(i int) (Key, Key) {
		k := clientKey(uint32(i), flow.TCP)
		return k, replyOf(k, real1, 8080)
	}
	tmplOf := func(i int) Key {
		return Key{Tuple: flow.Tuple{Src: addr("10.0.0.0"), Dst: vip, Proto: flow.TCP, SrcPort: uint16(i % clients)}, Kind: KindTemplate}
	}
	var wg sync.WaitGroup
	run := func(seed uint64, fn func(r *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for range ops {
				fn(r)
			}
		}()
	}
	for w := range 2 { // inserters, some under templates
		run(uint64(w), func(r *rand.Rand) {
			i := r.IntN(keys)
			fwd, rk := fwdOf(i)
			v := Value{Dest: uint32(i)}
			if i%3 == 0 {
				tk := tmplOf(i)
				tmpl := tab.Lookup(&tk)
				if tmpl == nil {
					tmpl, _ = tab.InsertTemplate(tk, Value{Dest: 1}, time.Minute)
				}
				v.Template = tmpl
			}
			if c, err := tab.Insert(fwd, &rk, v); err == nil {
				tab.Observe(c, DirInput, flow.TCPSyn, 60)
			}
		})
	}
	for w := range 2 { // packet workers: both directions of the same flows
		run(uint64(10+w), func(r *rand.Rand) {
			fwd, rk := fwdOf(r.IntN(keys))
			k, dir := &fwd, DirInput
			if r.IntN(2) == 0 {
				k, dir = &rk, DirOutput
			}
			if c := tab.Lookup(k); c != nil {
				flags := [...]uint8{flow.TCPAck, flow.TCPAck, flow.TCPAck, flow.TCPSyn | flow.TCPAck, flow.TCPFin | flow.TCPAck, flow.TCPRst}[r.IntN(6)]
				tab.Observe(c, dir, flags, 100)
				_ = c.Template()
			}
		})
	}
	run(20, func(r *rand.Rand) { // expirer, and Walk
		fwd, _ := fwdOf(r.IntN(keys))
		if c := tab.Lookup(&fwd); c != nil && r.IntN(4) == 0 {
			tab.Expire(c)
		}
		if r.IntN(500) == 0 {
			tk := tmplOf(r.IntN(clients))
			tab.Expire(tab.Lookup(&tk))
			tab.Walk(Cursor(r.Uint64()&0x7_0000_ffff), 50, func(ConnInfo) bool { return true })
		}
	})
	run(30, func(r *rand.Rand) { // time and the reaper
		clk.Advance(time.Duration(r.IntN(10)) * time.Millisecond)
		tab.Reap(200)
	})
	wg.Wait()

	check := func(when string) {
		t.Helper()
		st := tab.Stats()
		var conns, templates, nActive int
		controls := map[uint64]int{}
		for _, e := range liveEntries(tab) {
			if e.c.IsTemplate() {
				templates++
				continue
			}
			conns++
			if e.c.State().Active() {
				nActive++
			}
			if tc := e.c.Template(); tc != nil {
				controls[uint64(uintptr(unsafe.Pointer(tc)))]++
			}
		}
		for _, e := range liveEntries(tab) {
			if e.c.IsTemplate() {
				if n := int(ctlCount(e.ctl)); n != controls[uint64(uintptr(unsafe.Pointer(e.c)))] {
					t.Errorf("%s: template %v counts %d controlled, has %d", when, e.c.Key(), n, controls[uint64(uintptr(unsafe.Pointer(e.c)))])
				}
			}
		}
		if conns != st.Conns || templates != st.Templates || conns+templates != tab.Len() {
			t.Errorf("%s: slab has %d conns %d templates; stats %+v, len %d", when, conns, templates, st, tab.Len())
		}
		if sum := st.Embryonic + st.Established + st.Closing + st.Datagram; sum != st.Conns {
			t.Errorf("%s: classes sum %d, conns %d", when, sum, st.Conns)
		}
		if got := bound.Load() - unbound.Load(); got != int64(conns) {
			t.Errorf("%s: hooks bound-unbound %d, live conns %d", when, got, conns)
		}
		if got := tmplBound.Load() - tmplUnbound.Load(); got != int64(templates) {
			t.Errorf("%s: hooks templates bound-unbound %d, live %d", when, got, templates)
		}
		if active.Load() != int64(nActive) || active.Load()+inactive.Load() != int64(conns) {
			t.Errorf("%s: hooks active %d inactive %d; table active %d of %d", when, active.Load(), inactive.Load(), nActive, conns)
		}
		// What Walk shows, lookups find.
		for _, ci := range walkAll(tab, 100) {
			if ci.Template {
				continue
			}
			if tab.Lookup(&ci.Key) == nil || tab.Lookup(&ci.Reply) == nil {
				t.Errorf("%s: walked %v but lookup misses it", when, ci.Key)
			}
		}
		t.Logf("%s: %d conns (%d active), %d templates; %+v", when, conns, nActive, templates, st)
	}
	check("after the storm")
	if tab.Len() == 0 {
		t.Fatal("nothing left to check")
	}
	// Connections first; their leaving restarts their templates' timeouts.
	for range 2 {
		clk.Advance(time.Hour)
		for tab.Reap(1<<20) > 0 {
		}
	}
	check("after reaping all")
	if tab.Len() != 0 {
		t.Errorf("len %d after everything expired", tab.Len())
	}
}

type liveEntry struct {
	c   *Conn
	ctl uint64
}

// liveEntries lists the slab's live entries, expired or not.
func liveEntries(tab *Table) []liveEntry {
	var out []liveEntry
	for si := range tab.shards {
		sh := &tab.shards[si]
		for pos := uint32(0); pos < sh.n.Load(); pos++ {
			c := sh.entry(pos)
			if ctl := c.w[wCtl].Load(); ctl&ctlLive != 0 {
				out = append(out, liveEntry{c, ctl})
			}
		}
	}
	return out
}
