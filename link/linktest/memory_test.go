package linktest

import (
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/link"
)

var _ link.Backend = (*MemBackend)(nil)

// TestMemQueue: an injected frame is received at Headroom (at least
// link.MinHeadroom), at most Batch per Recv, and what is sent is collected.
func TestMemQueue(t *testing.T) {
	b := NewMemBackend(1)
	q := b.Queue(0)
	for i := 0; i < Batch+1; i++ {
		q.Inject([]byte{byte(i), 2, 3})
	}
	frames := make([]link.Frame, 2*Batch)
	if n := q.Recv(frames); n != Batch {
		t.Fatalf("Recv = %d, want %d", n, Batch)
	}
	if f := frames[1]; f.Off != Headroom || Headroom < link.MinHeadroom || string(f.Data()) != "\x01\x02\x03" {
		t.Fatalf("frame at %d: % x", f.Off, f.Data())
	}
	q.Send(frames[1:2])
	q.Release(frames[:Batch])
	if n := q.Recv(frames); n != 1 || frames[0].Data()[0] != Batch {
		t.Fatalf("second Recv = %d, first byte %d", n, frames[0].Data()[0])
	}
	if s := q.Sent(); len(s) != 1 || string(s[0].Data) != "\x01\x02\x03" {
		t.Fatalf("sent %v", s)
	}
	if q.Sent() != nil {
		t.Fatal("Sent did not clear")
	}
	r := link.Rules{Local: []netip.Addr{netip.MustParseAddr("198.18.0.2")}}
	if err := b.Steer(r); err != nil || len(b.Rules().Local) != 1 {
		t.Fatalf("rules %+v, %v", b.Rules(), err)
	}
}

func TestStaticRouter(t *testing.T) {
	host := netip.MustParseAddr("198.18.1.5").As16()
	h, d4, d6 := &link.Hop{Ifindex: 1}, &link.Hop{Ifindex: 2}, &link.Hop{Ifindex: 3}
	r := &StaticRouter{Hosts: map[[16]byte]*link.Hop{host: h}, Default4: d4, Default6: d6}
	other4 := netip.MustParseAddr("198.18.1.6").As16()
	other6 := netip.MustParseAddr("2001:db8::1").As16()
	if r.Route(&host) != h || r.Route(&other4) != d4 || r.Route(&other6) != d6 {
		t.Fatal("wrong hops")
	}
}
