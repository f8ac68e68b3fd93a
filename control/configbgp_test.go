package control

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readBGP(t *testing.T, body string) (*File, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "xvs.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return ReadFile(p, FormatYAML)
}

// TestBGPBlock: a bgp: block reads into BGPConfig with the defaults
// filled in, and a file without one has none.
func TestBGPBlock(t *testing.T) {
	f, err := readBGP(t, `bgp:
  asn: 65001
  router-id: 198.18.1.2
  next-hop: [198.18.1.9, "2001:db8::9"]
  listen-port: 1790
  communities: ["65000:100", 7]
  med: 10
  neighbors:
    - {address: 198.18.1.1, asn: 65000, hold-time: 3, passive: true, port: 1179}
    - address: 2001:db8::1
      asn: 65001
services:
  - {proto: tcp, vip: 198.19.0.10, port: 80, reals: [{address: 198.18.2.2, method: dr}]}
`)
	if err != nil {
		t.Fatal(err)
	}
	med := uint32(10)
	want := &BGPConfig{ASN: 65001, RouterID: netip.MustParseAddr("198.18.1.2"), NextHop4: netip.MustParseAddr("198.18.1.9"),
		NextHop6: netip.MustParseAddr("2001:db8::9"), ListenPort: 1790,
		Communities: []uint32{65000<<16 | 100, 7}, MED: &med,
		Neighbors: []BGPNeighbor{
			{Address: netip.MustParseAddr("198.18.1.1"), ASN: 65000, HoldTime: 3 * time.Second, Passive: true, Port: 1179},
			{Address: netip.MustParseAddr("2001:db8::1"), ASN: 65001, HoldTime: DefaultBGPHoldTime, Port: DefaultBGPPort},
		}}
	if !reflect.DeepEqual(f.BGP, want) {
		t.Fatalf("bgp = %+v\nwant %+v", f.BGP, want)
	}
	if !SameBGP(f.BGP, want) || SameBGP(f.BGP, nil) || !SameBGP(nil, nil) {
		t.Fatal("SameBGP disagrees with DeepEqual")
	}
	if got := FormatCommunity(f.BGP.Communities[0]); got != "65000:100" {
		t.Fatalf("FormatCommunity = %q", got)
	}
	f, err = readBGP(t, "services: []\n")
	if err != nil || f.BGP != nil {
		t.Fatalf("no bgp: block: %+v, %v", f.BGP, err)
	}
}

// TestBGPBlockErrors: a bad bgp: block is refused at its line, naming
// the field.
func TestBGPBlockErrors(t *testing.T) {
	const nb = "  neighbors: [{address: 198.18.1.1, asn: 65000}]\n"
	const head = "bgp:\n  asn: 65001\n  router-id: 198.18.1.2\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no asn", "bgp:\n  router-id: 198.18.1.2\n" + nb, ":2: bgp.asn: is required"},
		{"asn zero", "bgp:\n  asn: 0\n  router-id: 198.18.1.2\n" + nb, ":2: bgp.asn: 0 is out of range"},
		{"asn text", "bgp:\n  asn: big\n  router-id: 198.18.1.2\n" + nb, `:2: bgp.asn: "big" is not a number`},
		{"no router-id", "bgp:\n  asn: 65001\n" + nb, ":2: bgp.router-id: is required"},
		{"router-id v6", "bgp:\n  asn: 65001\n  router-id: 2001:db8::2\n" + nb, ":3: bgp.router-id: 2001:db8::2 is not an IPv4 address"},
		{"no neighbors", head, ":2: bgp.neighbors: lists no neighbor"},
		{"empty neighbors", head + "  neighbors: []\n", ":4: bgp.neighbors: lists no neighbor"},
		{"neighbors not a list", head + "  neighbors: 198.18.1.1\n", ":4: bgp.neighbors: expected a list"},
		{"unknown key", head + nb + "  colour: blue\n", `:5: bgp.colour: unknown field "colour"`},
		{"unknown neighbor key", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 65000, holdtime: 3}\n",
			`:5: bgp.neighbors[0].holdtime: unknown field "holdtime"`},
		{"neighbor no address", head + "  neighbors:\n    - {asn: 65000}\n", ":5: bgp.neighbors[0].address: is required"},
		{"neighbor no asn", head + "  neighbors:\n    - {address: 198.18.1.1}\n", ":5: bgp.neighbors[0].asn: is required"},
		{"neighbor bad address", head + "  neighbors:\n    - {address: router, asn: 1}\n", `bgp.neighbors[0].address: "router" is not an IP address`},
		{"neighbor twice", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1}\n    - {address: 198.18.1.1, asn: 2}\n",
			":6: bgp.neighbors[1].address: neighbor 198.18.1.1 is listed twice"},
		{"hold-time 1", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1, hold-time: 1}\n", "bgp.neighbors[0].hold-time: 1 is out of range 3..65535"},
		{"hold-time 0", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1, hold-time: 0}\n", "bgp.neighbors[0].hold-time: 0 is out of range 3..65535"},
		{"hold-time big", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1, hold-time: 70000}\n", "bgp.neighbors[0].hold-time: 70000 is out of range"},
		{"port 0", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1, port: 0}\n", "bgp.neighbors[0].port: 0 is out of range"},
		{"passive text", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1, passive: maybe}\n", `bgp.neighbors[0].passive: "maybe" is not true or false`},
		{"community", head + nb + "  communities: [65000:70000]\n", `:5: bgp.communities: community "65000:70000": want AS:VALUE`},
		{"med", head + nb + "  med: -1\n", ":5: bgp.med: -1 is out of range"},
		{"next-hop", head + nb + "  next-hop: 0.0.0.0\n", ":5: bgp.next-hop: 0.0.0.0 cannot be a next hop"},
		{"not a mapping", "bgp: yes\n", ":1: bgp: expected a mapping"},
		{"two v4 next hops", head + nb + "  next-hop: [198.18.1.2, 198.18.1.3]\n", ":5: bgp.next-hop: two next hops of one family"},
		{"next-hop text", head + nb + "  next-hop: self\n", `:5: bgp.next-hop: "self" is not an IP address`},
		{"passive without listen-port", head + "  neighbors:\n    - {address: 198.18.1.1, asn: 1, passive: true}\n",
			":5: bgp.neighbors[0].passive: a passive neighbor connects to the director: set bgp.listen-port"},
		{"listen-port 0", head + nb + "  listen-port: 0\n", ":5: bgp.listen-port: 0 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readBGP(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestSameBGPGlobal: neighbors aside, any change is a global one.
func TestSameBGPGlobal(t *testing.T) {
	base := func() *BGPConfig {
		return &BGPConfig{ASN: 1, RouterID: netip.MustParseAddr("198.18.1.2"),
			Neighbors: []BGPNeighbor{{Address: netip.MustParseAddr("198.18.1.1"), ASN: 2}}}
	}
	med := uint32(5)
	for _, tc := range []struct {
		name   string
		edit   func(*BGPConfig)
		global bool
	}{
		{"same", func(*BGPConfig) {}, true},
		{"neighbor added", func(c *BGPConfig) {
			c.Neighbors = append(c.Neighbors, BGPNeighbor{Address: netip.MustParseAddr("198.18.1.3"), ASN: 2})
		}, true},
		{"asn", func(c *BGPConfig) { c.ASN = 3 }, false},
		{"med", func(c *BGPConfig) { c.MED = &med }, false},
		{"communities", func(c *BGPConfig) { c.Communities = []uint32{1} }, false},
		{"next-hop", func(c *BGPConfig) { c.NextHop4 = netip.MustParseAddr("198.18.1.4") }, false},
		{"listen-port", func(c *BGPConfig) { c.ListenPort = 179 }, false},
	} {
		c := base()
		tc.edit(c)
		if got := SameBGPGlobal(base(), c); got != tc.global {
			t.Errorf("%s: SameBGPGlobal = %v, want %v", tc.name, got, tc.global)
		}
	}
}
