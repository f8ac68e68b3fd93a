package conntrack

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// TestSYNFlood: 1 M spoofed SYNs against a table capped at 200 k. Every
// established connection, old or made during the flood, must stay; the
// flood's entries are evicted in their stead and every eviction counted.
func TestSYNFlood(t *testing.T) {
	capacity, legit, flood := 200_000, 50_000, 1_000_000
	if raceEnabled {
		capacity, legit, flood = 20_000, 5_000, 100_000 // same shape, a tenth
	}
	tab, clk := newTable(t, Config{Capacity: capacity})
	var legitKeys []Key
	connect := func(i uint32) {
		k := clientKey(i, flow.TCP)
		rk := replyOf(k, real1, 80)
		c := mustInsert(t, tab, k, &rk, Value{Dest: 1})
		if s := handshake(tab, c); s != StateEstablished {
			t.Fatalf("legit %d: %v", i, s)
		}
		legitKeys = append(legitKeys, k)
	}
	for i := range uint32(legit) {
		connect(i)
	}
	start := time.Now()
	var full int
	spoof := Key{Tuple: flow.Tuple{Dst: vip, DstPort: 80, Proto: flow.TCP}, Kind: KindConn}
	for i := range flood {
		spoof.Src = netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}).As16()
		spoof.SrcPort = uint16(i*7919) | 1024
		rk := replyOf(spoof, real2, 80)
		c, err := tab.Insert(spoof, &rk, Value{Dest: 2})
		switch {
		case errors.Is(err, ErrFull):
			full++
			continue
		case err != nil:
			t.Fatalf("flood %d: %v", i, err)
		}
		tab.Observe(c, DirInput, flow.TCPSyn, 40)
		tab.Observe(c, DirOutput, flow.TCPSyn|flow.TCPAck, 40) // the real server answers; no ACK comes
		if i%1000 == 999 {
			connect(uint32(legit + i/1000)) // a legit client gets through meanwhile
			clk.Advance(10 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	for _, k := range legitKeys {
		c := tab.Lookup(&k)
		if c == nil || c.State() != StateEstablished {
			t.Fatalf("established %v lost in the flood", k)
		}
		rk := replyOf(k, real1, 80)
		if tab.Lookup(&rk) != c {
			t.Fatalf("reply key of %v lost", k)
		}
	}
	st := tab.Stats()
	wantEvicted := uint64(legit + flood + flood/1000 - capacity)
	if full != 0 || st.Full != 0 || st.Evicted[EvictEmbryonic] != wantEvicted || st.Evictions != wantEvicted {
		t.Errorf("full %d; evicted %v, want %d embryonic", full, st.Evicted, wantEvicted)
	}
	if st.Conns != capacity || st.Established != len(legitKeys) {
		t.Errorf("conns %d established %d, want %d and %d", st.Conns, st.Established, capacity, len(legitKeys))
	}
	if limit := capacity + capacity/16 + len(tab.shards)*chunkSize; st.SlabEntries > limit {
		t.Errorf("slab grew to %d entries, limit %d", st.SlabEntries, limit)
	}
	t.Logf("%d SYNs in %v (%.0f/s) against capacity %d: %+v", flood, elapsed,
		float64(flood)/elapsed.Seconds(), capacity, st)
}
