package conntrack

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// TestLookupBatch: LookupBatch answers exactly as Lookup for every kind of
// key: forward, reply, template, misses, expired entries, unknown kinds,
// with batch lengths around the group size.
func TestLookupBatch(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 5000, Shards: 4})
	var keys []Key
	for i := range uint32(2000) {
		k := clientKey(i, flow.TCP)
		rk := replyOf(k, real1, 80)
		var rp *Key
		if i%2 == 0 {
			rp = &rk
		}
		c := mustInsert(t, tab, k, rp, Value{Dest: i})
		if i%5 == 0 {
			handshake(tab, c) // ESTABLISHED: outlives the clock step below
		}
		keys = append(keys, k, rk)
		if i%50 == 0 {
			tk := Key{Tuple: flow.Tuple{Src: k.Src, SrcPort: uint16(i), Dst: vip, Proto: flow.TCP}, Kind: KindTemplate}
			if _, err := tab.InsertTemplate(tk, Value{}, time.Hour); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, tk)
		}
		miss := clientKey(i+1_000_000, flow.UDP)
		odd := k
		odd.Kind = 7
		keys = append(keys, miss, odd)
	}
	clk.Advance(3 * time.Minute) // the entries still in NONE or SYN_RECV expire
	r := rand.New(rand.NewPCG(5, 6))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	out := make([]*Conn, len(keys))
	found := 0
	for _, n := range []int{0, 1, 15, 16, 17, 33, len(keys)} {
		tab.LookupBatch(keys[:n], out)
		for i := range keys[:n] {
			if want := tab.Lookup(&keys[i]); out[i] != want {
				t.Fatalf("batch of %d: key %d %v: %p, Lookup %p", n, i, keys[i], out[i], want)
			}
			if out[i] != nil {
				found++
			}
		}
	}
	if found == 0 {
		t.Fatal("nothing found")
	}
	// LookupConns answers as Lookup of the forward key, then of the reply
	// key when that missed (only with replies). A real server's packet
	// comes as a KindConn key of its tuple.
	for i := range keys {
		if keys[i].Kind == KindReply && i%4 == 1 {
			keys[i].Kind = KindConn
		}
	}
	isReply := make([]bool, len(keys))
	for _, replies := range []bool{false, true} {
		nReply := 0
		for _, n := range []int{0, 1, 31, 32, 33, len(keys)} {
			tab.LookupConns(keys[:n], out, isReply, replies)
			for i := range keys[:n] {
				want, wantReply := tab.Lookup(&keys[i]), false
				if rk := keys[i]; want == nil && replies && rk.Kind == KindConn {
					rk.Kind = KindReply
					want = tab.Lookup(&rk)
					wantReply = want != nil
				}
				if out[i] != want || isReply[i] != wantReply {
					t.Fatalf("replies=%v batch of %d: key %d %v: %p reply=%v, Lookup %p reply=%v", replies, n, i, keys[i], out[i], isReply[i], want, wantReply)
				}
				if isReply[i] {
					nReply++
				}
			}
		}
		if replies && nReply == 0 {
			t.Fatal("LookupConns found no reply")
		}
	}
	// Prefetch changes nothing: every key, over every batch length, still
	// finds what Lookup found before it.
	before := make([]*Conn, len(keys))
	for i := range keys {
		before[i] = tab.Lookup(&keys[i])
	}
	for _, n := range []int{0, 1, 31, 32, 33, len(keys)} {
		tab.Prefetch(keys[:n])
	}
	for i := range keys {
		if got := tab.Lookup(&keys[i]); got != before[i] {
			t.Fatalf("after Prefetch key %d %v: %p, before %p", i, keys[i], got, before[i])
		}
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(100, func() { tab.LookupBatch(keys[:64], out) }); a != 0 {
			t.Errorf("LookupBatch: %v allocs", a)
		}
		if a := testing.AllocsPerRun(100, func() { tab.Prefetch(keys[:64]) }); a != 0 {
			t.Errorf("Prefetch: %v allocs", a)
		}
		if a := testing.AllocsPerRun(100, func() { tab.LookupConns(keys[:64], out, isReply, true) }); a != 0 {
			t.Errorf("LookupConns: %v allocs", a)
		}
	}
}
