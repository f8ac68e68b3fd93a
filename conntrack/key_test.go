package conntrack

import (
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

// TestKeyConstructors: the forward, reply and template keys the forwarder
// builds from a packet's tuple.
func TestKeyConstructors(t *testing.T) {
	client, vip := netip.MustParseAddrPort("198.18.0.10:40000"), netip.MustParseAddrPort("198.18.1.1:80")
	tu := flow.TupleOf(flow.TCP, client, vip)
	if k := ConnKey(&tu); k.Tuple != tu || k.Kind != KindConn {
		t.Errorf("ConnKey = %v", k)
	}
	rs := netip.MustParseAddr("198.18.2.1").As16()
	rk := ReplyKey(&tu, rs, 8080)
	want := Key{Tuple: flow.Tuple{Src: rs, Dst: tu.Src, SrcPort: 8080, DstPort: 40000, Proto: flow.TCP}, Kind: KindReply}
	if rk != want {
		t.Errorf("ReplyKey = %v, want %v", rk, want)
	}
	mask := netip.MustParseAddr("::ffff:255.255.255.0").As16()
	tk := TemplateKey(flow.TCP, &tu.Src, &mask, 0x01020304)
	wantT := Key{Tuple: flow.Tuple{Src: netip.MustParseAddr("198.18.0.0").As16(),
		Dst: [16]byte{1, 2, 3, 4}, Proto: flow.TCP}, Kind: KindTemplate}
	if tk != wantT {
		t.Errorf("TemplateKey = %v, want %v", tk, wantT)
	}
}
