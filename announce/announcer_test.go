package announce

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// router is a GoBGP speaker standing in for the site's router: it listens
// on 127.0.0.1 and records, in order, the announcements and withdrawals
// the UPDATEs it receives carry (not the routes a closed session
// flushes) and its session's falls.
type router struct {
	s    *server.BgpServer
	port int

	mu     sync.Mutex
	events []string // "+198.19.0.10/32", "-198.19.0.10/32" (from UPDATEs), "down"
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRouter(t *testing.T) *router { return startRouterFor(t, 65001, 0) }

// startRouterFor starts a router that expects the announcer's AS to be
// peerAS and, if dialPort is not 0, opens the session itself to the
// announcer listening on 127.0.0.1:dialPort.
func startRouterFor(t *testing.T, peerAS uint32, dialPort int) *router {
	t.Helper()
	r := &router{s: server.NewBgpServer(), port: freePort(t)}
	go r.s.Serve()
	ctx := context.Background()
	if err := r.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 65000, RouterId: "198.18.0.1",
		ListenPort: int32(r.port), ListenAddresses: []string{"127.0.0.1"}}}); err != nil {
		t.Fatal(err)
	}
	err := r.s.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnPathUpdate: func(ps []*apiutil.Path, _ time.Time) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, p := range ps {
				sign := "+"
				if p.Withdrawal {
					sign = "-"
				}
				r.events = append(r.events, sign+p.Nlri.String())
			}
		},
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE && ev.Peer.State.SessionState != bgp.BGP_FSM_ESTABLISHED {
				r.mu.Lock()
				r.events = append(r.events, "down")
				r.mu.Unlock()
			}
		},
	}, server.WatchUpdate(false, "", ""), server.WatchPeer())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: peerAS},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 3, KeepaliveInterval: 1, ConnectRetry: 1}},
		Transport: &api.Transport{PassiveMode: dialPort == 0, RemotePort: uint32(dialPort)},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.s.StopBgp(context.Background(), &api.StopBgpRequest{})
		r.s.Stop()
	})
	return r
}

// routes is what the router's table holds now, with each route's
// attributes.
func (r *router) routes(t *testing.T) map[string][]bgp.PathAttributeInterface {
	t.Helper()
	out := map[string][]bgp.PathAttributeInterface{}
	for _, fam := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		err := r.s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam},
			func(prefix bgp.NLRI, paths []*apiutil.Path) {
				for _, p := range paths {
					out[prefix.String()] = p.Attrs
				}
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (r *router) wait(t *testing.T, what string, within time.Duration, ok func(map[string][]bgp.PathAttributeInterface) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rs := r.routes(t)
		if ok(rs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; the router has %v", what, within, rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestAnnouncer: the announcer peers with a GoBGP router and announces
// the VIP of a healthy service with next hop self, its MED and
// communities; withdraws it when the service's quorum goes, and on drain;
// and on Stop the router sees the withdrawal before the session ends.
func TestAnnouncer(t *testing.T) {
	r := startRouter(t)
	med := uint32(7)
	cfg := &control.BGPConfig{ASN: 65001, RouterID: netip.MustParseAddr("198.18.0.2"), MED: &med,
		Communities: []uint32{65000<<16 | 100},
		Neighbors: []control.BGPNeighbor{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000,
			HoldTime: 3 * time.Second, Port: uint16(r.port)}}}
	a, err := Start(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			a.Stop(0)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for a.Status().Peers[0].State != "established" {
		if time.Now().After(deadline) {
			t.Fatalf("no session: %+v", a.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}

	vip := netip.MustParseAddr("198.19.0.10")
	web := service.Service{Proto: service.TCP, Addr: vip, Port: 80,
		Reals: []service.Real{{Addr: netip.MustParseAddr("198.18.2.2"), Port: 80, Weight: 1, Method: service.MethodDR}}}
	installed := &service.Config{Services: []service.Service{web}}
	checked := []health.Service{{Key: web.Key(), Name: web.Key().String()}}
	decide := func(up bool) {
		t.Helper()
		st := []health.ServiceStatus{{Name: web.Key().String(), QuorumUp: up}}
		if err := a.Set(Wanted(installed, checked, st)); err != nil {
			t.Fatal(err)
		}
	}
	const key = "198.19.0.10/32"
	has := func(rs map[string][]bgp.PathAttributeInterface) bool { return rs[key] != nil }
	hasNot := func(rs map[string][]bgp.PathAttributeInterface) bool { return rs[key] == nil }

	decide(true)
	r.wait(t, "announce", time.Second, has)
	var gotNH netip.Addr
	var gotMED uint32
	var gotComm []uint32
	for _, at := range r.routes(t)[key] {
		switch v := at.(type) {
		case *bgp.PathAttributeNextHop:
			gotNH = v.Value
		case *bgp.PathAttributeMultiExitDisc:
			gotMED = v.Value
		case *bgp.PathAttributeCommunities:
			gotComm = v.Value
		}
	}
	if gotNH != netip.MustParseAddr("127.0.0.1") || gotMED != 7 || len(gotComm) != 1 || gotComm[0] != 65000<<16|100 {
		t.Fatalf("route attributes: next hop %v, MED %d, communities %v", gotNH, gotMED, gotComm)
	}
	st := a.Status()
	if len(st.Announced) != 1 || st.Announced[0].String() != key || st.Peers[0].PrefixesSent != 1 || st.Peers[0].UpdatesSent == 0 {
		t.Fatalf("status after announce: %+v", st)
	}

	decide(false)
	r.wait(t, "withdraw on quorum loss", time.Second, hasNot)
	decide(true)
	r.wait(t, "announce again", time.Second, has)

	if err := a.Drain(true); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "drain", time.Second, hasNot)
	decide(true) // health goes on deciding while drained
	if st := a.Status(); !st.Drained || len(st.Announced) != 0 || len(st.Healthy) != 1 {
		t.Fatalf("status while drained: %+v", st)
	}
	time.Sleep(200 * time.Millisecond)
	r.wait(t, "still drained", 0, hasNot)
	if err := a.Drain(false); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "undrain", time.Second, has)

	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
	a.Stop(time.Second)
	stopped = true
	r.wait(t, "gone after Stop", time.Second, hasNot)
	deadline = time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		ev := append([]string(nil), r.events...)
		r.mu.Unlock()
		if len(ev) >= 2 {
			if ev[0] != "-"+key || ev[1] != "down" {
				t.Fatalf("router saw %v on Stop, want the withdrawal, then the session end", ev)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router saw %v on Stop", ev)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReconfigure: neighbors are added and removed in place; any other
// change asks for a restart.
func TestReconfigure(t *testing.T) {
	nb := func(a string) control.BGPNeighbor {
		return control.BGPNeighbor{Address: netip.MustParseAddr(a), ASN: 65000, HoldTime: 3 * time.Second, Port: 1, Passive: true}
	}
	cfg := &control.BGPConfig{ASN: 65001, RouterID: netip.MustParseAddr("198.18.0.2"), Neighbors: []control.BGPNeighbor{nb("127.0.0.10")}}
	a, err := Start(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(0)
	next := *cfg
	next.Neighbors = []control.BGPNeighbor{nb("127.0.0.11"), nb("127.0.0.12")}
	if restart, err := a.Reconfigure(&next); restart || err != nil {
		t.Fatalf("neighbor change: restart %v, err %v", restart, err)
	}
	peers := a.Status().Peers
	if len(peers) != 2 || peers[0].Address.String() != "127.0.0.11" || peers[1].Address.String() != "127.0.0.12" {
		t.Fatalf("peers after reconfigure: %+v", peers)
	}
	other := next
	other.ASN = 65002
	if restart, _ := a.Reconfigure(&other); !restart {
		t.Fatal("an AS change did not ask for a restart")
	}
	if restart, _ := a.Reconfigure(nil); !restart {
		t.Fatal("removing the bgp: block did not ask for a restart")
	}
}

// records keeps the log records of the announcer.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// count is how many records of level carry msg.
func (r *records) count(level slog.Level, msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level && rec.Message == msg {
			n++
		}
	}
	return n
}

// TestWrongAS: a router that refuses the announcer's AS keeps the
// session down; the announcer logs that once however often it retries,
// and its status says why.
func TestWrongAS(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two connection retries")
	}
	r := startRouterFor(t, 65009, 0)
	rec := &records{}
	cfg := &control.BGPConfig{ASN: 65001, RouterID: netip.MustParseAddr("198.18.0.2"),
		Neighbors: []control.BGPNeighbor{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000,
			HoldTime: 3 * time.Second, Port: uint16(r.port)}}}
	a, err := Start(cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(0)
	if err := a.Set([]netip.Prefix{netip.MustParsePrefix("198.19.0.10/32")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rec.count(slog.LevelDebug, "bgp session state") < 2 || a.Status().Peers[0].LastError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no refused retries seen: %+v", a.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Two refusals at least: wait for one more to be sure it repeats.
	n := rec.count(slog.LevelDebug, "bgp session state")
	for rec.count(slog.LevelDebug, "bgp session state") == n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := rec.count(slog.LevelWarn, "bgp session down"); got != 1 {
		t.Errorf("%d \"bgp session down\" lines, want 1 however often the router refuses", got)
	}
	st := a.Status()
	t.Logf("peer: %+v", st.Peers[0])
	if p := st.Peers[0]; p.State == "established" || p.PrefixesSent != 0 || p.LastError == "" {
		t.Errorf("peer status with a wrong AS: %+v", p)
	}
	if len(st.Announced) != 1 {
		t.Errorf("announced = %v: the prefix stays in the table for when the session comes up", st.Announced)
	}
	if rs := r.routes(t); len(rs) != 0 {
		t.Errorf("the router learnt %v", rs)
	}
}

// TestPassiveIPv6: with listen-port the announcer takes a session the
// router opens (a passive neighbor), and announces an IPv6 VIP over that
// IPv4 session with the configured IPv6 next hop.
func TestPassiveIPv6(t *testing.T) {
	port := freePort(t)
	cfg := &control.BGPConfig{ASN: 65001, RouterID: netip.MustParseAddr("198.18.0.2"), ListenPort: uint16(port),
		NextHop6: netip.MustParseAddr("2001:db8::2"),
		Neighbors: []control.BGPNeighbor{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000,
			HoldTime: 3 * time.Second, Passive: true, Port: 179}}}
	a, err := Start(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(0)
	r := startRouterFor(t, 65001, port)
	vip6 := netip.MustParsePrefix("2001:db8::10/128")
	if err := a.Set([]netip.Prefix{vip6, netip.MustParsePrefix("198.19.0.10/32")}); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "IPv6 VIP learnt", 10*time.Second, func(rs map[string][]bgp.PathAttributeInterface) bool {
		return rs[vip6.String()] != nil && rs["198.19.0.10/32"] != nil
	})
	var nh netip.Addr
	for _, at := range r.routes(t)[vip6.String()] {
		if mp, ok := at.(*bgp.PathAttributeMpReachNLRI); ok {
			nh = mp.Nexthop
		}
	}
	if nh != cfg.NextHop6 {
		t.Errorf("IPv6 VIP next hop %v, want %v", nh, cfg.NextHop6)
	}
}
