package testnet

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTopologyLines renders a small bridgeless topology, the shape of the
// benchmark's one-armed lab, without building it:
//
//	a: A-va (MAC 02:..:01) ── veth ── b: A-vb, the trunk
//	                                   ├ A-m1 macvlan, stays in b
//	                                   └ A-m2 macvlan, moved to c
func TestTopologyLines(t *testing.T) {
	tp := &Topology{ID: "xvs1a01"}
	a, b, c := tp.AddNode("a"), tp.AddNode("b"), tp.AddNode("c")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	tp.Veths = []Veth{{A: End{NS: a.NS, Name: tp.Iface("va"), MAC: mac}, B: End{NS: b.NS, Name: tp.Iface("vb")}}}
	tp.Macvlans = []Macvlan{
		{Name: tp.Iface("m1"), ParentNS: b.NS, Parent: tp.Iface("vb")},
		{Name: tp.Iface("m2"), MAC: mac, ParentNS: b.NS, Parent: tp.Iface("vb"), NS: c.NS},
	}
	a.Ifaces = []Iface{{Name: tp.Iface("va"), MTU: 1400, Addrs: []Addr{
		{Prefix: netip.MustParsePrefix("198.18.0.1/24")},
		{Prefix: netip.MustParsePrefix("2001:db8::10/128"), Deprecated: true},
	}}}
	a.Neighbours = []Neighbour{{Addr: netip.MustParseAddr("198.18.0.2"), MAC: mac, Dev: tp.Iface("va")}}
	a.Routes = []Route{
		{Dst: netip.MustParsePrefix("198.19.0.0/16"), Via: netip.MustParseAddr("198.18.0.2")},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("198.18.0.2"), Dev: tp.Iface("va")},
	}
	c.Ifaces = []Iface{{Name: tp.Iface("m2")}, {Name: "lo", Addrs: []Addr{AddrOf(netip.MustParseAddr("198.18.0.10"))}}}
	if err := tp.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"veths a", tp.vethLines(a.NS), []string{
			"link add xvs1a01-va address 02:00:00:00:00:01 index 100 type veth peer name xvs1a01-vb netns xvs1a01-b"}},
		{"veths b", tp.vethLines(b.NS), nil},
		{"macvlans b", tp.macvlanLines(b.NS), []string{
			"link add link xvs1a01-vb name xvs1a01-m1 type macvlan mode bridge",
			"link add link xvs1a01-vb name xvs1a01-m2 address 02:00:00:00:00:01 type macvlan mode bridge",
			"link set xvs1a01-m2 netns xvs1a01-c"}},
		{"config a", a.configLines(), []string{
			"link set lo up",
			"link set xvs1a01-va mtu 1400 up",
			"addr add 198.18.0.1/24 dev xvs1a01-va",
			"addr add 2001:db8::10/128 dev xvs1a01-va nodad preferred_lft 0",
			"neigh replace 198.18.0.2 lladdr 02:00:00:00:00:01 dev xvs1a01-va nud permanent",
			"route add 198.19.0.0/16 via 198.18.0.2",
			"route add 0.0.0.0/0 via 198.18.0.2 dev xvs1a01-va"}},
		{"config c", c.configLines(), []string{
			"link set lo up", "link set xvs1a01-m2 up", "addr add 198.18.0.10/32 dev lo"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, strings.Join(tc.got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	links := tp.links()
	if !slices.Equal(links[b.NS], []string{tp.Iface("vb"), tp.Iface("m1")}) || !slices.Equal(links[c.NS], []string{tp.Iface("m2")}) {
		t.Errorf("links waited for: %v", links)
	}
}

// TestTopologyValidate checks that plans Build cannot make are refused
// before anything is touched.
func TestTopologyValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(tp *Topology)
	}{
		{"foreign namespace", func(tp *Topology) { tp.Nodes[0].NS = "other-a" }},
		{"node twice", func(tp *Topology) { tp.Nodes = append(tp.Nodes, tp.Nodes[0]) }},
		{"veth to unknown node", func(tp *Topology) { tp.Veths[0].B.NS = tp.NS("z") }},
		{"name too long", func(tp *Topology) { tp.Veths[0].A.Name = "0123456789abcdef" }},
		{"interface twice", func(tp *Topology) { tp.Veths = append(tp.Veths, tp.Veths[0]) }},
		{"macvlan without parent", func(tp *Topology) {
			tp.Macvlans = []Macvlan{{Name: tp.Iface("m"), ParentNS: tp.NS("a"), Parent: "eth0"}}
		}},
		{"unmade interface", func(tp *Topology) { tp.Nodes[0].Ifaces = []Iface{{Name: "eth0"}} }},
		{"master not the bridge", func(tp *Topology) { tp.Nodes[0].Ifaces = []Iface{{Name: tp.Iface("va"), Master: "br0"}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := &Topology{ID: "xvs1a01"}
			a, b := tp.AddNode("a"), tp.AddNode("b")
			tp.Veths = []Veth{{A: End{NS: a.NS, Name: tp.Iface("va")}, B: End{NS: b.NS, Name: tp.Iface("vb")}}}
			if err := tp.Validate(); err != nil {
				t.Fatalf("valid plan refused: %v", err)
			}
			tc.mutate(tp)
			if err := tp.Validate(); !errors.Is(err, ErrOptions) {
				t.Errorf("validate: %v, want ErrOptions", err)
			}
		})
	}
}

// TestTopologyBuild builds a bridgeless topology with a macvlan moved out of
// its parent's namespace, sends a datagram across it, and checks that Close
// leaves nothing; then that a topology whose lines fail leaves nothing either.
//
//	a: ID-va 198.18.0.1/24 ── veth ── b: ID-vb (trunk)
//	                                    └ ID-m macvlan → c: 198.18.0.3/24
func TestTopologyBuild(t *testing.T) {
	if reason := Unavailable(); reason != "" {
		t.Skip("testnet: " + reason)
	}
	tp, err := NewTopology(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := tp.AddNode("a"), tp.AddNode("b"), tp.AddNode("c")
	tp.Veths = []Veth{{A: End{NS: a.NS, Name: tp.Iface("va")}, B: End{NS: b.NS, Name: tp.Iface("vb")}}}
	tp.Macvlans = []Macvlan{{Name: tp.Iface("m"), ParentNS: b.NS, Parent: tp.Iface("vb"), NS: c.NS}}
	a.Ifaces = []Iface{{Name: tp.Iface("va"), Addrs: []Addr{{Prefix: netip.MustParsePrefix("198.18.0.1/24")}}}}
	b.Ifaces = []Iface{{Name: tp.Iface("vb")}}
	c.Ifaces = []Iface{{Name: tp.Iface("m"), Addrs: []Addr{{Prefix: netip.MustParsePrefix("198.18.0.3/24")}}}}
	if err := tp.Build(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Close() })
	var conn *net.UDPConn
	if err := DoIn(a.NS, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 9})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := DoIn(c.NS, func() error {
		s, err := net.Dial("udp4", "198.18.0.1:9")
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Write([]byte("across the trunk"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	n, from, err := conn.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "across the trunk" || !from.IP.Equal(net.IPv4(198, 18, 0, 3)) {
		t.Fatalf("got %q from %v: %v", buf[:n], from, err)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	checkTopologyGone(t, tp)

	bad, err := NewTopology(t.Name() + " bad")
	if err != nil {
		t.Fatal(err)
	}
	n1 := bad.AddNode("a")
	n1.Routes = []Route{{Dst: netip.MustParsePrefix("198.19.0.0/16"), Via: netip.MustParseAddr("198.18.9.9")}} // no such segment
	if err := bad.Build(t.Context()); err == nil {
		t.Fatal("a route via an unreachable gateway built")
	}
	checkTopologyGone(t, bad)
}

func checkTopologyGone(t *testing.T, tp *Topology) {
	t.Helper()
	for _, ns := range tp.Namespaces() {
		if _, err := os.Stat(nsPath(ns)); err == nil {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	if _, ok := readMarker(tp.ID); ok {
		t.Errorf("marker of %s left behind", tp.ID)
	}
}
