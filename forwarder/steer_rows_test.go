package forwarder

import (
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/internal/packettest"
	"github.com/xvs-project/xvs/service"
)

// steerRowsConfig is the service configuration packettest.SteerRules
// describes: its VIPs, group and any-port service, and NAT real servers
// behind the reply prefixes (the reply rows' 198.18.20.5 and
// 2001:db8:20::5, the latter on port 0: any source port, behind a VIP of
// its own family that no row is sent to).
func steerRowsConfig() *service.Config {
	nat := func(a string, port uint16) []service.Real {
		return []service.Real{{Addr: netip.MustParseAddr(a), Port: port, Weight: 1, Method: service.MethodNAT}}
	}
	dr := func(a string) []service.Real {
		return []service.Real{{Addr: netip.MustParseAddr(a), Port: 0, Weight: 1, Method: service.MethodDR}}
	}
	vip := netip.MustParseAddr("198.18.10.1")
	persist := &service.Persistence{Timeout: service.DefaultPersistTimeout}
	return &service.Config{Services: []service.Service{
		{Proto: service.TCP, Addr: vip, Port: 80, Scheduler: "rr", Reals: nat("198.18.20.5", 80)},
		{Proto: service.UDP, Addr: vip, Port: 53, Scheduler: "rr", Reals: dr("198.18.1.1")},
		{Proto: service.TCP, Addr: netip.MustParseAddr("2001:db8:10::1"), Port: 443, Scheduler: "rr", Reals: dr("2001:db8:1::1")},
		{Group: "g", Matches: []service.Match{{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.11.0/24"), PortLo: 8000, PortHi: 8010}},
			Scheduler: "rr", Reals: dr("198.18.1.2")},
		{Proto: service.UDP, Addr: netip.MustParseAddr("198.18.12.1"), Port: 0, Scheduler: "rr", Reals: dr("198.18.1.3"),
			Persistence: persist}, // port 0 needs it
		// A VIP no row is sent to, for the IPv6 NAT real server.
		{Proto: service.UDP, Addr: netip.MustParseAddr("2001:db8:10::99"), Port: 0, Scheduler: "rr",
			Reals: nat("2001:db8:20::5", 0), Persistence: persist},
	}}
}

// TestSteerRows replays the steering fixtures against the rules the engine
// derives from the equivalent configuration (the director's addresses
// taken from the fixtures: the engine learns its own from the interfaces)
// and against the snapshot's service lookup, which must find a service for
// exactly the rows steered as service traffic.
func TestSteerRows(t *testing.T) {
	e, mem := newTestEngine(t, steerRowsConfig())
	rs := mem.Rules()
	rs.Local = packettest.SteerRules.Local
	snap := e.snap.Load()
	looked := 0
	for _, r := range packettest.SteerRows {
		f := r.Frame(packettest.Tagged)
		if got := packettest.Steer(rs, f, packettest.Tagged); got != r.Want {
			t.Errorf("%s: the engine's rules give %s, row %s", r.Name, got, r.Want)
		}
		p := r.Packet
		if r.Edit != nil || (p.Proto != 6 && p.Proto != 17) || r.Want == packettest.SteerFragment ||
			r.Want == packettest.PassOther || r.Want == packettest.PassShort {
			continue // the lookup needs a whole TCP/UDP header
		}
		dst := p.Dst.As16() // IPv4 v4-mapped, as the snapshot keys it
		looked++
		found := snap.lookupService(p.Proto, &dst, p.Dport) != nil
		if found != (r.Want == packettest.SteerService) {
			t.Errorf("%s: snapshot lookup finds a service %v, row %s", r.Name, found, r.Want)
		}
	}
	if looked < 30 {
		t.Errorf("only %d rows reached the lookup", looked)
	}
}
