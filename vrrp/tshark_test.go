package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/packettest"
)

// TestTsharkDecodes: Wireshark's VRRP dissector, an independent reader,
// decodes our adverts (v2 with PASS, v3 over IPv4 and IPv6) with the
// fields we wrote and a checksum it calls good.
func TestTsharkDecodes(t *testing.T) {
	v6vip := netip.MustParseAddr("2001:db8::100")
	var frames [][]byte
	for _, c := range []struct {
		a        Advert
		src, dst netip.Addr
	}{
		{Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, AuthType: AuthPass, Auth: [8]byte{'x', 'v', 's'},
			Addrs: []netip.Addr{vip4}}, src4, Group4},
		{Advert{Version: 3, VRID: 52, Priority: 200, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip4}}, src4, Group4},
		{Advert{Version: 3, VRID: 53, Priority: 254, Interval: 50 * time.Millisecond, Addrs: []netip.Addr{v6vip}}, src6, Group6},
	} {
		msg, err := Marshal(nil, &c.a, c.src, c.dst, false)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, packettest.Packet{Src: c.src, Dst: c.dst, TTL: TTL, Proto: IPProto, Raw: true, Payload: msg}.Frame())
	}
	out := packettest.Tshark(t, frames, "-T", "fields", "-E", "separator=,",
		"-e", "vrrp.version", "-e", "vrrp.virt_rtr_id", "-e", "vrrp.prio", "-e", "vrrp.adver_int", "-e", "vrrp.short_adver_int",
		"-e", "vrrp.ip_addr", "-e", "vrrp.ipv6_addr", "-e", "vrrp.checksum.status", "-e", "vrrp.auth_string")
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := []string{
		// version, VRID, priority, v2 interval (s), v3 interval (cs),
		// addresses, checksum status (1: good), v2 auth string
		"2,51,100,1,,198.18.0.100,,1,xvs",
		"3,52,200,,10,198.18.0.100,,1,",
		"3,53,254,,5,,2001:db8::100,1,",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
