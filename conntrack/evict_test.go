package conntrack

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

func TestSetCapacity(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 100})
	for i := range uint32(50) {
		c := mustInsert(t, tab, clientKey(i, flow.TCP), nil, Value{})
		handshake(tab, c)
	}
	err := tab.SetCapacity(49)
	if !errors.Is(err, ErrCapacityBelowLive) || !strings.Contains(err.Error(), "50 entries live") {
		t.Fatalf("below live: %v", err)
	}
	if err := tab.SetCapacity(0); !errors.Is(err, ErrBadConfig) {
		t.Errorf("zero capacity: %v", err)
	}
	if err := tab.SetCapacity(50); err != nil || tab.Capacity() != 50 {
		t.Fatalf("set 50: %v", err)
	}
	// Full of ESTABLISHED: nothing may be evicted.
	if _, err := tab.Insert(clientKey(999, flow.TCP), nil, Value{}); !errors.Is(err, ErrFull) {
		t.Fatalf("insert at capacity: %v", err)
	}
	if err := tab.SetCapacity(51); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, tab, clientKey(999, flow.TCP), nil, Value{})
	if st := tab.Stats(); st.Full != 1 || st.Conns != 51 || st.Established != 50 || st.Embryonic != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestEvictionOrder fills a table with every class and checks what goes
// first when new entries need room.
func TestEvictionOrder(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 40, Shards: 4})
	i := uint32(0)
	add := func(proto uint8, setup func(c *Conn)) {
		c := mustInsert(t, tab, clientKey(i, proto), nil, Value{})
		i++
		setup(c)
	}
	for range 10 {
		add(flow.TCP, func(c *Conn) { handshake(tab, c) })                         // established
		add(flow.TCP, func(c *Conn) { tab.Observe(c, DirInput, flow.TCPSyn, 40) }) // embryonic
		add(flow.TCP, func(c *Conn) {                                              // closing
			handshake(tab, c)
			tab.Observe(c, DirInput, flow.TCPRst, 40)
		})
		add(flow.UDP, func(c *Conn) { tab.Observe(c, DirInput, 0, 40) }) // datagram
	}
	want := []struct {
		reason EvictReason
		class  func(Stats) int
	}{
		{EvictEmbryonic, func(s Stats) int { return s.Embryonic }},
		{EvictClosing, func(s Stats) int { return s.Closing }},
		{EvictDatagram, func(s Stats) int { return s.Datagram }},
	}
	for _, w := range want {
		for range 10 {
			c := mustInsert(t, tab, clientKey(i, flow.TCP), nil, Value{})
			i++
			handshake(tab, c) // established, so it is not evicted itself
		}
		st := tab.Stats()
		if st.Evicted[w.reason] != 10 || w.class(st) != 0 {
			t.Fatalf("after evicting %v: %+v", w.reason, st)
		}
	}
	// Only ESTABLISHED left, all fresh: the table is full.
	if _, err := tab.Insert(clientKey(i, flow.TCP), nil, Value{}); !errors.Is(err, ErrFull) {
		t.Fatalf("insert with only fresh ESTABLISHED: %v", err)
	}
	// After 61 s of silence, established entries with few packets may go.
	clk.Advance(61 * time.Second)
	mustInsert(t, tab, clientKey(i, flow.TCP), nil, Value{})
	if st := tab.Stats(); st.Evicted[EvictIdle] != 1 || st.Evictions != 31 || st.Conns != 40 {
		t.Fatalf("idle eviction: %+v", st)
	}
	// Now one embryonic exists: no further ESTABLISHED may be evicted, but
	// the embryonic one may.
	mustInsert(t, tab, clientKey(i+1, flow.TCP), nil, Value{})
	if st := tab.Stats(); st.Evicted[EvictIdle] != 1 || st.Evicted[EvictEmbryonic] != 11 {
		t.Fatalf("embryonic before idle: %+v", st)
	}
}

func TestEvictTemplates(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 4, Shards: 1})
	for i := range 4 {
		tk := Key{Tuple: flow.Tuple{Src: addr("10.0.0.0"), Dst: vip, Proto: flow.TCP}, Kind: KindTemplate}
		tk.Src[14] = byte(i)
		if _, err := tab.InsertTemplate(tk, Value{}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	c := mustInsert(t, tab, clientKey(1, flow.TCP), nil, Value{})
	handshake(tab, c)
	if st := tab.Stats(); st.Evicted[EvictTemplate] != 1 || st.Templates != 3 {
		t.Fatalf("%+v", st)
	}
}

// TestNoIdleEvictionWhileEmbryonic: when the table counts embryonic entries
// that a bounded scan did not reach, ESTABLISHED ones still stay.
func TestNoIdleEvictionWhileEmbryonic(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 10, Shards: 1})
	for i := range uint32(10) {
		handshake(tab, mustInsert(t, tab, clientKey(i, flow.TCP), nil, Value{}))
	}
	clk.Advance(61 * time.Second)
	tab.class[classEmbryonic].Add(1) // one the scan cannot find
	if _, err := tab.Insert(clientKey(99, flow.TCP), nil, Value{}); !errors.Is(err, ErrFull) {
		t.Fatalf("evicted ESTABLISHED while an embryonic entry exists: %v", err)
	}
	tab.class[classEmbryonic].Add(-1)
	mustInsert(t, tab, clientKey(99, flow.TCP), nil, Value{})
	if st := tab.Stats(); st.Evicted[EvictIdle] != 1 {
		t.Fatalf("%+v", st)
	}
}

// TestReuseGrace: a removed entry rests before the slab hands it out again,
// unless the shard's slab may not grow.
func TestReuseGrace(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 2000, Shards: 1})
	c := mustInsert(t, tab, clientKey(1, flow.TCP), nil, Value{})
	tab.Expire(c)
	c2 := mustInsert(t, tab, clientKey(2, flow.TCP), nil, Value{})
	if c2 == c {
		t.Fatal("a just-removed entry was reused while the slab could grow")
	}
	// Fill the slab to its limit; then removed entries are reused at once.
	limit := int(tab.shards[0].slabLimit(tab))
	for i := uint32(3); tab.Stats().SlabEntries < limit; i++ {
		tab.Expire(mustInsert(t, tab, clientKey(i, flow.TCP), nil, Value{}))
	}
	before := tab.Stats().SlabEntries
	for i := range uint32(100) {
		tab.Expire(mustInsert(t, tab, clientKey(100000+i, flow.TCP), nil, Value{}))
	}
	if got := tab.Stats().SlabEntries; got != before || got > limit {
		t.Fatalf("slab %d, before %d, limit %d", got, before, limit)
	}
}
