package forwarder

import (
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// standbyConfig is the gate tests' configuration: TCP :80 and UDP :53 on
// vip4 (a VRRP instance's address in the tests), TCP :80 on vipOther and
// on vip6 (no instance's), TCP :80 on vip6b (an IPv6 instance's), and a service group over vipGroup's /28, all DR
// to three real servers.
var (
	vipOther = netip.MustParseAddr("198.18.0.11")
	vipGroup = netip.MustParsePrefix("198.18.0.32/28")
	vip6b    = netip.MustParseAddr("2001:db8::11")
)

func standbyConfig() *service.Config {
	reals := func(fam int) []service.Real {
		var rs []service.Real
		for i := 1; i <= 3; i++ {
			rs = append(rs, service.Real{Addr: realAddr(fam, i), Weight: 1, Method: service.MethodDR})
		}
		return rs
	}
	return &service.Config{Services: []service.Service{
		{Proto: service.TCP, Addr: vip4, Port: 80, Scheduler: "rr", Reals: reals(4)},
		{Proto: service.UDP, Addr: vip4, Port: 53, Scheduler: "rr", Reals: reals(4)},
		{Proto: service.TCP, Addr: vipOther, Port: 80, Scheduler: "rr", Reals: reals(4)},
		{Proto: service.TCP, Addr: vip6, Port: 80, Scheduler: "rr", Reals: reals(6)},
		{Proto: service.TCP, Addr: vip6b, Port: 80, Scheduler: "rr", Reals: reals(6)},
		{Group: "g", Matches: []service.Match{{Proto: service.TCP, Prefix: vipGroup, PortLo: 80, PortHi: 80}},
			Scheduler: "rr", Reals: reals(4)},
	}}
}

// TestStandbyGate: with the gate on for an address (its VRRP instance not
// master), a packet that would make a new connection for a service on it
// is dropped as "standby", while the connections in the table, the
// director's own from before and those a sync master sent, still
// forward; services on other addresses are never gated, a service group
// is when one of its matches holds the address, and clearing the gate
// opens the services again.
func TestStandbyGate(t *testing.T) {
	e, mem := newTestEngine(t, standbyConfig())
	groupVIP := vipGroup.Addr().Next()
	own := pkt{src: client4, dst: vip4, sport: 1001, dport: 80, syn: true}
	if len(run(e, mem, buildFrame(t, own))) != 1 {
		t.Fatal("the connection made before the gate was not forwarded")
	}
	synced := connsync.Conn{Proto: 6, State: 1, Timeout: 900, Flags: connsync.FwdDRoute,
		Client:  netip.AddrPortFrom(client4, 1002),
		Virtual: netip.AddrPortFrom(vip4, 80),
		Dest:    netip.AddrPortFrom(realAddr(4, 2), 80)}
	e.InstallSync(&synced)

	e.SetStandby([]netip.Addr{vip4, groupVIP, vip6b})
	ack := func(p pkt) pkt { p.syn, p.ack = false, true; return p }
	rows := []struct {
		name    string
		p       pkt
		forward bool
	}{
		{"new SYN to a standby VIP", pkt{src: client4, dst: vip4, sport: 2001, dport: 80, syn: true}, false},
		{"new UDP to a standby VIP", pkt{src: client4, dst: vip4, sport: 2002, dport: 53, udp: true}, false},
		{"own connection from before", ack(own), true},
		{"connection a master synced", pkt{src: client4, dst: vip4, sport: 1002, dport: 80, ack: true}, true},
		{"new SYN to a group holding the VIP", pkt{src: client4, dst: groupVIP, sport: 2003, dport: 80, syn: true}, false},
		{"new SYN to the group's other address", pkt{src: client4, dst: groupVIP.Next(), sport: 2004, dport: 80, syn: true}, false},
		{"new SYN to a VIP in no instance", pkt{src: client4, dst: vipOther, sport: 2005, dport: 80, syn: true}, true},
		{"new SYN to an IPv6 VIP in no instance", pkt{src: client6, dst: vip6, sport: 2006, dport: 80, syn: true}, true},
		{"new SYN to a standby IPv6 VIP", pkt{src: client6, dst: vip6b, sport: 2007, dport: 80, syn: true}, false},
	}
	for _, row := range rows {
		before := drops(e, DropStandby)
		sent := run(e, mem, buildFrame(t, row.p))
		gated := drops(e, DropStandby) - before
		if got := len(sent) == 1; got != row.forward || gated != map[bool]uint64{true: 0, false: 1}[row.forward] {
			t.Errorf("%s: forwarded %v (want %v), %d standby drops", row.name, got, row.forward, gated)
		}
	}
	gated := func(vip netip.Addr) bool {
		a := flow.Addr16(vip)
		s := e.snap.Load()
		return s.standby(s.lookupService(6, &a, 80))
	}
	if !gated(vip4) || gated(vipOther) {
		t.Errorf("the snapshot's flags: vip4:80 %v, other:80 %v", gated(vip4), gated(vipOther))
	}

	// A configuration change keeps the gate, for new services too.
	if err := e.Apply(func(c *service.Config) error {
		c.Services = append(c.Services, service.Service{Proto: service.TCP, Addr: vip4, Port: 443, Scheduler: "rr",
			Reals: []service.Real{{Addr: realAddr(4, 1), Weight: 1, Method: service.MethodDR}}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, port := range []uint16{80, 443} {
		if len(run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 3000 + port, dport: port, syn: true}))) != 0 {
			t.Errorf("after a configuration change, a new SYN to :%d was forwarded", port)
		}
	}

	e.SetStandby(nil)
	if len(run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 4001, dport: 80, syn: true}))) != 1 {
		t.Error("with the gate cleared, a new SYN was not forwarded")
	}
}

// TestStandbyGateZeroAllocs: the gate costs the packet path no allocation,
// neither for a gated packet nor for a known flow of a gated service.
func TestStandbyGateZeroAllocs(t *testing.T) {
	e, mem := newTestEngine(t, standbyConfig())
	known := pkt{src: client4, dst: vip4, sport: 1001, dport: 80, syn: true}
	run(e, mem, buildFrame(t, known))
	e.SetStandby([]netip.Addr{vip4})
	known.syn, known.ack = false, true
	frames := [][]byte{
		buildFrame(t, pkt{src: client4, dst: vip4, sport: 2001, dport: 80, syn: true}),
		buildFrame(t, known),
	}
	w := e.workers[0]
	w.p.snap = w.snap.Load()
	var f link.Frame
	for i, fr := range frames {
		buf := make([]byte, linktest.Headroom+len(fr))
		a := testing.AllocsPerRun(100, func() {
			copy(buf[linktest.Headroom:], fr)
			f = link.Frame{Buf: buf, Off: linktest.Headroom, Len: len(fr), Ifindex: ifExt}
			w.p.process(&f)
		})
		if a != 0 {
			t.Errorf("frame %d: %.1f allocations", i, a)
		}
	}
	if drops(e, DropStandby) < 100 {
		t.Errorf("only %d standby drops", drops(e, DropStandby))
	}
}
