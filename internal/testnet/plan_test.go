package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
)

// TestPlan checks every lab layout without building it: names fit the
// kernel and are unique, addresses stay inside the lab ranges and their
// segments, and the directors' and reals' interface lists are complete.
func TestPlan(t *testing.T) {
	// The longest pid Linux allows (pid_max 2^22) and the last sequence.
	longID := idPrefix + strconv.FormatInt(1<<22, 36) + "zz"
	for _, mode := range []Mode{NAT, DR, TUN} {
		for _, reals := range []int{1, DefaultReals, MaxReals} {
			t.Run(fmt.Sprintf("%s-%d", mode, reals), func(t *testing.T) {
				l := plan(longID, Options{Mode: mode, Reals: reals, MTU: 1500, RealMTU: 1400})
				checkPlan(t, l)
			})
		}
	}
	for _, mode := range []Mode{NAT, DR, TUN} {
		t.Run(mode.String()+"-pair", func(t *testing.T) {
			l := plan(longID, Options{Mode: mode, Reals: DefaultReals, Directors: 2, MTU: 1500, RealMTU: 1500})
			checkPlan(t, l)
			if len(l.Directors) != 2 || l.Directors[0] != l.Director || l.Host("director2") != l.Directors[1] {
				t.Fatalf("directors %v", l.Directors)
			}
			d2 := l.Directors[1]
			if d2.Addr4 != director2Addr4 || d2.Addr6 != director2Addr6 || d2.Iface == l.Director.Iface {
				t.Errorf("director2: %s %s %s", d2.Iface, d2.Addr4, d2.Addr6)
			}
			if (mode == NAT) != (l.ClientSwitch != nil) {
				t.Errorf("%s pair: client switch %v", mode, l.ClientSwitch)
			}
			if mode == NAT && (len(d2.Links) != 2 || len(l.DirectorIfaces) != 2) {
				t.Errorf("NAT pair: director2 links %v, director's %v", d2.Links, l.DirectorIfaces)
			}
			// VRRP owns the VIP: neither director's node holds it.
			for _, n := range l.topo.Nodes {
				if n.Name != "director" && n.Name != "director2" {
					continue
				}
				for _, ifc := range n.Ifaces {
					for _, a := range ifc.Addrs {
						if a.Addr() == l.VIP4 || a.Addr() == l.VIP6 || a.Addr() == l.Gateway4 || a.Addr() == l.Gateway6 {
							t.Errorf("%s holds the VIP %s", n.Name, a)
						}
					}
				}
			}
		})
	}
}

func checkPlan(t *testing.T, l *Lab) {
	t.Helper()
	if err := l.topo.Validate(); err != nil {
		t.Errorf("topology: %v", err)
	}
	nsSeen := map[string]bool{}
	addrSeen := map[netip.Addr]string{l.VIP4: "vip", l.VIP6: "vip"}
	for _, h := range l.Hosts() {
		if nsSeen[h.NS] {
			t.Errorf("namespace %s twice", h.NS)
		}
		nsSeen[h.NS] = true
		id, _, host, ok := parseNSName(h.NS)
		if !ok || id != l.ID || host != h.Name {
			t.Errorf("namespace %s parses as %q %q %v", h.NS, id, host, ok)
		}
		ifSeen := map[string]bool{}
		for _, k := range h.Links {
			if len(k.Iface) > maxIfName || ifSeen[k.Iface] {
				t.Errorf("%s: bad or duplicate interface name %q", h.Name, k.Iface)
			}
			ifSeen[k.Iface] = true
			if l.isSwitch(h) {
				if k.Addr4.IsValid() || k.Addr6.IsValid() {
					t.Errorf("switch port %s has addresses", k.Iface)
				}
				continue
			}
			for _, p := range []netip.Prefix{k.Addr4, k.Addr6} {
				if !labRange4.Contains(p.Addr()) && !labRange6.Contains(p.Addr()) {
					t.Errorf("%s %s: %s outside the lab ranges", h.Name, k.Iface, p)
				}
				if other, dup := addrSeen[p.Addr()]; dup {
					t.Errorf("%s: %s also used by %s", h.Name, p.Addr(), other)
				}
				addrSeen[p.Addr()] = h.Name
			}
			// The peer end exists and points back.
			peer := hostByNS(l, k.PeerNS)
			if peer == nil {
				t.Fatalf("%s %s: peer namespace %s unknown", h.Name, k.Iface, k.PeerNS)
			}
			back := false
			for _, pk := range peer.Links {
				back = back || (pk.Iface == k.PeerIface && pk.PeerIface == k.Iface && pk.MTU == k.MTU)
			}
			if !back {
				t.Errorf("%s %s: peer %s %s does not point back", h.Name, k.Iface, k.PeerNS, k.PeerIface)
			}
		}
	}
	// The client reaches the VIP on its own segment (ARP/ND answered by the
	// director), in both families.
	for _, p := range []netip.Prefix{l.Client.Links[0].Addr4, l.Client.Links[0].Addr6} {
		vip := l.VIP4
		if p.Addr().Is6() {
			vip = l.VIP6
		}
		if !p.Masked().Contains(vip) || !l.Director.Links[0].Addr4.Masked().Contains(l.VIP4) {
			t.Errorf("VIP %s not on the client's segment %s", vip, p.Masked())
		}
	}
	if len(l.Switch.Iface) > maxIfName {
		t.Errorf("bridge name %q too long", l.Switch.Iface)
	}
	wantDir := 1
	if l.Mode == NAT {
		wantDir = 2
	}
	if len(l.DirectorIfaces) != wantDir {
		t.Errorf("director interfaces %v, want %d", l.DirectorIfaces, wantDir)
	}
	if len(l.RealIfaces) != len(l.Reals) {
		t.Errorf("real interfaces %v for %d reals", l.RealIfaces, len(l.Reals))
	}
	for i, r := range l.Reals {
		if r.Links[0].MTU != l.Options.RealMTU || r.Iface != l.RealIfaces[i] {
			t.Errorf("%s: mtu %d iface %s", r.Name, r.Links[0].MTU, r.Iface)
		}
		// The client reaches the real directly on DR/TUN only.
		sameSeg := r.Links[0].Addr4.Masked().Contains(l.Client.Addr4)
		if sameSeg != (l.Mode != NAT) {
			t.Errorf("%s %s: on the client's segment = %v in %s", r.Name, r.Links[0].Addr4, sameSeg, l.Mode)
		}
		// NAT reals route through the director's internal address.
		if l.Mode == NAT && !r.Links[0].Addr4.Masked().Contains(l.Gateway4) {
			t.Errorf("%s: gateway %s not on its segment", r.Name, l.Gateway4)
		}
	}
}

func TestRealAddrs(t *testing.T) {
	tests := []struct {
		i      int
		a4, a6 string
	}{
		{1, "198.18.1.1", "2001:db8:0:1::1"},
		{12, "198.18.1.12", "2001:db8:0:1::12"},
		{99, "198.18.1.99", "2001:db8:0:1::99"},
	}
	for _, tc := range tests {
		a4, a6 := realAddrs(tc.i)
		if a4.String() != tc.a4 || a6.String() != tc.a6 {
			t.Errorf("real %d: %s %s, want %s %s", tc.i, a4, a6, tc.a4, tc.a6)
		}
	}
}

func TestParseNSName(t *testing.T) {
	tests := []struct {
		name string
		id   string
		pid  int
		host string
		ok   bool
	}{
		{"xvs9ix01-client", "xvs9ix01", 12345, "client", true},
		{"xvs9ix01-r12", "xvs9ix01", 12345, "r12", true},
		{"xvs2hwcgzz-switch", "xvs2hwcgzz", 4194304, "switch", true},
		{"xvs1-client", "", 0, "", false},        // no pid digits
		{"xvs9ix01", "", 0, "", false},           // no host
		{"xvs9ix01-Client", "", 0, "", false},    // upper case
		{"myxvs9ix01-client", "", 0, "", false},  // prefix
		{"xvs9ix01-client-x", "", 0, "", false},  // extra part
		{"xvs12345678-client", "", 0, "", false}, // pid too long
		{"xvs000001-client", "", 0, "", false},   // pid 0
	}
	for _, tc := range tests {
		id, pid, host, ok := parseNSName(tc.name)
		if id != tc.id || pid != tc.pid || host != tc.host || ok != tc.ok {
			t.Errorf("%s: %q %d %q %v, want %q %d %q %v", tc.name, id, pid, host, ok, tc.id, tc.pid, tc.host, tc.ok)
		}
	}
}

func TestNewIDIsOurs(t *testing.T) {
	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	gotID, pid, _, ok := parseNSName(nsName(id, "client"))
	if !ok || gotID != id || pid != osGetpid() {
		t.Errorf("id %s parses as %s pid %d ok %v", id, gotID, pid, ok)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts    Options
		wantErr bool
		reals   int
		mtu     int
		realMTU int
	}{
		{Options{}, false, DefaultReals, DefaultMTU, DefaultMTU},
		{Options{Mode: TUN, Reals: 5, MTU: 9000}, false, 5, 9000, 9000},
		{Options{MTU: 1500, RealMTU: 1400}, false, DefaultReals, 1500, 1400},
		{Options{Reals: MaxReals + 1}, true, 0, 0, 0},
		{Options{Reals: -1}, true, 0, 0, 0},
		{Options{Mode: Mode(7)}, true, 0, 0, 0},
		{Options{Mode: DR, Directors: 2}, false, DefaultReals, DefaultMTU, DefaultMTU},
		{Options{Mode: DR, Directors: 3}, true, 0, 0, 0},
		{Options{Mode: NAT, Directors: 2}, false, DefaultReals, DefaultMTU, DefaultMTU},
		{Options{MTU: 1000}, true, 0, 0, 0},
		{Options{RealMTU: 70000}, true, 0, 0, 0},
	}
	for _, tc := range tests {
		got, err := tc.opts.withDefaults()
		if tc.wantErr {
			if !errors.Is(err, ErrOptions) {
				t.Errorf("%+v: got %v, want ErrOptions", tc.opts, err)
			}
			continue
		}
		if err != nil || got.Reals != tc.reals || got.MTU != tc.mtu || got.RealMTU != tc.realMTU {
			t.Errorf("%+v: %+v %v", tc.opts, got, err)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{NAT: "nat", DR: "dr", TUN: "tun", Mode(9): "mode(9)"} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", int(m), m.String(), want)
		}
	}
}

func TestHTTPURL(t *testing.T) {
	tests := []struct {
		addr string
		port uint16
		path string
		want string
	}{
		{"198.18.0.10", 80, "/", "http://198.18.0.10:80/"},
		{"2001:db8::10", 8080, "blob?size=1", "http://[2001:db8::10]:8080/blob?size=1"},
	}
	for _, tc := range tests {
		if got := HTTPURL(netip.MustParseAddr(tc.addr), tc.port, tc.path); got != tc.want {
			t.Errorf("%s %d %s: %s, want %s", tc.addr, tc.port, tc.path, got, tc.want)
		}
	}
}

func hostByNS(l *Lab, ns string) *Host {
	for _, h := range l.Hosts() {
		if h.NS == ns {
			return h
		}
	}
	return nil
}
