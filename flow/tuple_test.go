package flow

import (
	"net/netip"
	"testing"
	"unsafe"
)

func TestTupleRoundTrip(t *testing.T) {
	for _, c := range []struct{ src, dst string }{
		{"198.18.0.1:40000", "198.18.1.1:80"},
		{"[2001:db8::1]:40000", "[2001:db8::80]:443"},
	} {
		src, dst := netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst)
		tu := TupleOf(TCP, src, dst)
		if tu.SrcAddrPort() != src || tu.DstAddrPort() != dst || tu.Proto != TCP {
			t.Errorf("%s -> %s: got %v -> %v proto %d", src, dst, tu.SrcAddrPort(), tu.DstAddrPort(), tu.Proto)
		}
		r := tu.Reverse()
		if r.SrcAddrPort() != dst || r.DstAddrPort() != src || r.Reverse() != tu {
			t.Errorf("reverse of %v: %v", tu, r)
		}
		want := uint8(6)
		if src.Addr().Is4() {
			want = 4
		}
		if Family(&tu.Src) != want || IsV4Mapped(&tu.Src) != (want == 4) {
			t.Errorf("%s: family %d", src, Family(&tu.Src))
		}
	}
}

func TestV4Mapped(t *testing.T) {
	a := AddrFrom4([4]byte{192, 0, 2, 1})
	if a != netip.MustParseAddr("::ffff:192.0.2.1").As16() || !IsV4Mapped(&a) {
		t.Errorf("AddrFrom4: %x", a)
	}
	if AddrOf(a) != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("AddrOf: %v", AddrOf(a))
	}
	for _, s := range []string{"::", "::1", "::ffff:0:0:1", "2001:db8::ffff:1.2.3.4", "::fffe:1.2.3.4"} {
		b := netip.MustParseAddr(s).As16()
		if IsV4Mapped(&b) {
			t.Errorf("%s counted v4-mapped", s)
		}
	}
}

// TestTupleLayout pins what conntrack relies on: 37 bytes of fields, packed
// in 38 (one byte of tail padding), no pointers.
func TestTupleLayout(t *testing.T) {
	var tu Tuple
	if s := unsafe.Sizeof(tu); s != 38 {
		t.Errorf("sizeof Tuple = %d, want 38", s)
	}
	if o := unsafe.Offsetof(tu.Proto); o != 36 {
		t.Errorf("offset of Proto = %d, want 36", o)
	}
}
