package conntrack

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// fakeClock is an injected monotonic clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour)) // anything but zero
	return c
}

func (c *fakeClock) Now() int64              { return c.ns.Load() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func addr(s string) [16]byte { return netip.MustParseAddr(s).As16() }

var (
	vip   = addr("198.18.1.1")
	real1 = addr("198.18.2.1")
	real2 = addr("198.18.2.2")
)

// clientKey is the forward key of client number i (distinct for every i up
// to 2^32) to vip:80 over proto.
func clientKey(i uint32, proto uint8) Key {
	var k Key
	k.Src = netip.AddrFrom4([4]byte{10, byte(i >> 24), byte(i >> 16), byte(i >> 8)}).As16()
	k.SrcPort = 1024 + uint16(i&0xff)
	k.Dst = vip
	k.DstPort = 80
	k.Proto = proto
	k.Kind = KindConn
	return k
}

// replyOf is the NAT reply key of fwd when it goes to real:rport.
func replyOf(fwd Key, real [16]byte, rport uint16) Key {
	return Key{Tuple: flow.Tuple{Src: real, Dst: fwd.Src, SrcPort: rport, DstPort: fwd.SrcPort, Proto: fwd.Proto}, Kind: KindReply}
}

func newTable(tb testing.TB, cfg Config) (*Table, *fakeClock) {
	tb.Helper()
	clk := newFakeClock()
	if cfg.Clock == nil {
		cfg.Clock = clk.Now
	}
	t, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return t, clk
}

func mustInsert(tb testing.TB, t *Table, fwd Key, reply *Key, v Value) *Conn {
	tb.Helper()
	c, err := t.Insert(fwd, reply, v)
	if err != nil {
		tb.Fatalf("insert %v: %v", fwd, err)
	}
	return c
}

// handshake takes a NAT connection through SYN, SYN+ACK, ACK.
func handshake(t *Table, c *Conn) State {
	t.Observe(c, DirInput, flow.TCPSyn, 60)
	t.Observe(c, DirOutput, flow.TCPSyn|flow.TCPAck, 60)
	return t.Observe(c, DirInput, flow.TCPAck, 52)
}

// walkAll collects every entry Walk shows, in pages of page.
func walkAll(t *Table, page int) []ConnInfo {
	var out []ConnInfo
	var cur Cursor
	for {
		next, done := t.Walk(cur, page, func(ci ConnInfo) bool {
			out = append(out, ci)
			return true
		})
		if done {
			return out
		}
		cur = next
	}
}
