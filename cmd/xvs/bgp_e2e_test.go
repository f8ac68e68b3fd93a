package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/internal/testnet"
)

// BGP tests: testnet's ECMP lab without its static route, Debian's BIRD 2
// in the router namespace as the site's router (BGP to every director,
// hold time 3 s, `merge paths on`), each director's xvs announcing the VIP
// from its bgp: block:
//
//	client ── router (BIRD) ──┬── director  ──┐
//	                          └── director2 ──┴── bridge ── r1.. (VIP on lo)
//
// The router's kernel table holds the VIP only while BIRD has it from a
// director, so the client's connections prove the route as well.

// bgpLab is a running BGP lab.
type bgpLab struct {
	*testnet.Lab
	ctx  context.Context
	bird *testnet.BIRD
	// vip and vip6 are the VIPs' host prefixes.
	vip, vip6 netip.Prefix
}

// newBGPLab builds an ECMP lab of n directors and reals real servers
// (serving HTTP on :80) and starts BIRD on its router.
func newBGPLab(t *testing.T, n, reals int) *bgpLab {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	xvsBinary(t)
	tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, ECMP: true, NoStaticECMP: true, Directors: n, Reals: reals, Name: t.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var nbs []testnet.BIRDNeighbor
	for i, d := range tl.Directors {
		nbs = append(nbs, testnet.BIRDNeighbor{Name: fmt.Sprintf("d%d", i+1), Address: d.Addr4, ASN: 65001})
	}
	bird, err := testnet.RunBIRD(ctx, tl.Router, testnet.BIRDOptions{RouterID: tl.Router.Addr4, ASN: 65000,
		HoldTime: 3 * time.Second, Neighbors: nbs, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err) // BIRD missing? scripts/deps.sh installs bird2
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bird output:\n%s", bird.Proc.Output())
		}
	})
	return &bgpLab{Lab: tl, ctx: ctx, bird: bird, vip: netip.PrefixFrom(tl.VIP4, 32), vip6: netip.PrefixFrom(tl.VIP6, 128)}
}

// serve starts HTTP on r's :80; it ends with the test (or Stop).
func (l *bgpLab) serve(t *testing.T, r *testnet.Host) *testnet.Proc {
	t.Helper()
	p, err := r.Serve(l.ctx, testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// conf is director d's YAML: a bgp: block peering with the router over
// IPv4 (and the extra neighbor lines), the IPv6 next hop its address on
// the router link, and VIP:80/tcp of both families over every real
// server, each checked by TCP_CHECK every second.
func (l *bgpLab) conf(d *testnet.Host, extraNeighbors string) string {
	return l.confWith(d, "mh", "", extraNeighbors)
}

// confWith is conf with another scheduler and its flags (e.g. "mh-port",
// so one client's connections spread over the real servers).
func (l *bgpLab) confWith(d *testnet.Host, scheduler, flags, extraNeighbors string) string {
	rtr, _ := l.RouterAddr(d)
	var b strings.Builder
	fmt.Fprintf(&b, "bgp:\n  asn: 65001\n  router-id: %s\n  next-hop: '%s'\n  neighbors:\n    - {address: %s, asn: 65000, hold-time: 3}\n%s",
		d.Addr4, d.Addr6, rtr, extraNeighbors)
	b.WriteString("services:\n")
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		fl := ""
		if flags != "" {
			fl = "    flags: [" + flags + "]\n"
		}
		fmt.Fprintf(&b, "  - proto: tcp\n    vip: '%s'\n    port: 80\n    scheduler: %s\n%s"+
			"    check: {delay_loop: 1, connect_timeout: 1, retry: 0, TCP_CHECK: {}}\n    reals:\n", vip, scheduler, fl)
		for _, r := range l.Reals {
			fmt.Fprintf(&b, "      - {address: '%s', port: 80, method: dr}\n", realAddr(r, vip))
		}
	}
	return b.String()
}

// start launches xvs on d with the YAML file cfg.
func (l *bgpLab) start(t *testing.T, d *testnet.Host, cfg, sock string, args ...string) *testnet.Proc {
	t.Helper()
	return launch(l.ctx, t, d, append([]string{"run", "-i", ifaces(d), "--socket", sock, "--backend", "xdp",
		"--pin-dir", "", "--config", cfg}, args...)...)
}

// nexthops is the router's kernel route for the IPv4 VIP as its next
// hops, sorted; none when it has no route.
func (l *bgpLab) nexthops(t *testing.T) []string { return l.nexthopsOf(t, l.vip) }

func (l *bgpLab) nexthopsOf(t *testing.T, p netip.Prefix) []string {
	t.Helper()
	out, err := l.bird.KernelRoute(l.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var via []string
	fs := strings.Fields(out)
	for i, f := range fs {
		if f == "via" && i+1 < len(fs) {
			via = append(via, fs[i+1])
		}
	}
	slices.Sort(via)
	return via
}

// via waits until the router's route for the VIP goes over exactly
// directors and returns when it saw it.
func (l *bgpLab) via(t *testing.T, within time.Duration, what string, directors ...*testnet.Host) time.Time {
	t.Helper()
	var want []string
	for _, d := range directors {
		want = append(want, d.Addr4.String())
	}
	slices.Sort(want)
	return waitFor(t, within, what, func() bool { return slices.Equal(l.nexthops(t), want) })
}

// get fetches / from the IPv4 VIP through the router and returns the
// answering real server's name.
func (l *bgpLab) get() (string, error) { return l.getFrom(l.VIP4) }

func (l *bgpLab) getFrom(vip netip.Addr) (string, error) {
	hc, err := dial(l.Client, netip.Addr{}, netip.AddrPortFrom(vip, 80))
	if err != nil {
		return "", err
	}
	defer hc.c.Close()
	return hc.get()
}

// TestBGPAnnounceBIRD: one director behind BIRD. The director announces
// the VIP of its healthy service; BIRD installs it and the client's
// connections go through the router and the director to the real server.
// All reals down → the route goes within 1 s of the quorum loss; back →
// it returns; a drained director withdraws and still forwards; SIGKILL →
// the route goes within the hold time + 1 s; SIGTERM → BIRD gets the
// withdrawal (an UPDATE) before the session closes, and the route goes
// before the daemon exits. An unreachable second neighbor leaves the
// daemon serving, its peer down in the status and the metrics; reloads
// drop it in place and answer a med change with "restart needed".
func TestBGPAnnounceBIRD(t *testing.T) {
	l := newBGPLab(t, 1, 1)
	d, r := l.Director, l.Reals[0]
	srv := l.serve(t, r)
	dir := t.TempDir()
	cfg, sock := filepath.Join(dir, "xvs.yaml"), filepath.Join(dir, "xvs.sock")
	// 198.18.11.99 is nobody: the daemon serves on with that peer down.
	const unreachable = "198.18.11.99"
	const unreachableLine = "    - {address: " + unreachable + ", asn: 65000, hold-time: 3}\n"
	yml := l.conf(d, unreachableLine)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	xvs := l.start(t, d, cfg, sock, "--metrics", "127.0.0.1:9100")
	defer func() {
		_ = xvs.Stop()
		if t.Failed() {
			t.Logf("xvs output:\n%s", xvs.Output())
		}
	}()
	routed := func() bool { return slices.Equal(l.nexthops(t), []string{d.Addr4.String()}) }
	gone := func() bool { return len(l.nexthops(t)) == 0 }
	l.via(t, 15*time.Second, "BIRD installs the VIP route", d)
	if out, _ := l.bird.Routes(l.ctx, l.vip); !strings.Contains(out, "BGP.as_path: 65001") {
		t.Errorf("birdc show route: want the path from AS 65001:\n%s", out)
	}
	if name, err := l.get(); err != nil || name != r.Name {
		t.Fatalf("client -> VIP through the router and the director: %q, %v; want %s", name, err, r.Name)
	}
	// The /128 goes over the IPv4 session with the configured IPv6 next hop.
	waitFor(t, 5*time.Second, "BIRD installs the IPv6 VIP route", func() bool {
		return slices.Equal(l.nexthopsOf(t, l.vip6), []string{d.Addr6.String()})
	})
	if name, err := l.getFrom(l.VIP6); err != nil || name != r.Name {
		t.Fatalf("client -> [VIP6] through the router and the director: %q, %v; want %s", name, err, r.Name)
	}
	adm := &lab{Lab: l.Lab, sock: sock}
	listing := adm.xvsadm(t, "-L", "--bgp")
	for _, want := range []string{"BGP AS 65001 router-id " + d.Addr4.String(), "established", unreachable,
		"Announced: " + l.vip.String() + " " + l.vip6.String()} {
		if !strings.Contains(listing, want) {
			t.Errorf("xvsadm -L --bgp lacks %q:\n%s", want, listing)
		}
	}
	c, err := control.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bst, err := c.BGP()
	if err != nil || len(bst.Announced) != 2 || len(bst.Peers) != 2 || bst.Peers[0].State != "established" ||
		bst.Peers[1].State == "established" || bst.Peers[0].PrefixesSent != 2 {
		t.Fatalf("bgp status: %+v, %v", bst, err)
	}
	rtr, _ := l.RouterAddr(d)
	m := (&lab{Lab: l.Lab}).metrics(t)
	for _, want := range []string{`xvs_bgp_peer_up{peer="` + rtr.String() + `"} 1`,
		`xvs_bgp_peer_up{peer="` + unreachable + `"} 0`, "xvs_bgp_prefixes_announced 2"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A reload drops the unreachable neighbor in place; a change of the
	// rest asks for a restart and changes nothing; a bad bgp: block is
	// refused at its line and changes nothing either.
	reload := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	yml = strings.Replace(yml, unreachableLine, "", 1)
	reload(yml)
	if bst, err = c.BGP(); err != nil || len(bst.Peers) != 1 || bst.Peers[0].State != "established" {
		t.Fatalf("bgp status after dropping a neighbor: %+v, %v", bst, err)
	}
	reload(strings.Replace(yml, "  asn: 65001\n", "  asn: 65001\n  med: 5\n", 1))
	wctx, wcancel := context.WithTimeout(l.ctx, 2*time.Second)
	if err := xvs.WaitOutput(wctx, "restart needed"); err != nil {
		t.Errorf("a reload changing med did not say a restart is needed: %v", err)
	}
	wcancel()
	reload(yml)
	if err := os.WriteFile(cfg, []byte(strings.Replace(yml, "hold-time: 3", "hold-time: 1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "xvs.yaml:6: bgp.neighbors[0].hold-time") {
		t.Errorf("a bad bgp: block reloaded: %v", err)
	}
	reload(yml)
	if !routed() {
		t.Fatal("the reloads withdrew the VIP")
	}
	if bst, err = c.BGP(); err != nil || len(bst.Peers) != 1 || bst.Peers[0].State != "established" || bst.Peers[0].Flops != 0 {
		t.Fatalf("bgp status after the reloads: %+v, %v", bst, err)
	}

	// All reals down: quorum lost → withdrawn within 1 s.
	_ = srv.Stop()
	quorum := func(up bool) func() bool {
		return func() bool {
			rep, err := c.Checks()
			if err != nil || len(rep.Services) != 2 {
				return false
			}
			for _, s := range rep.Services {
				if s.QuorumUp != up {
					return false
				}
			}
			return true
		}
	}
	lost := waitFor(t, 10*time.Second, "quorum lost", quorum(false))
	if at := waitFor(t, 3*time.Second, "route withdrawn", gone); at.Sub(lost) > time.Second {
		t.Errorf("route withdrawn %v after the quorum loss, want ≤ 1 s", at.Sub(lost))
	}
	l.serve(t, r)
	back := waitFor(t, 10*time.Second, "quorum back", quorum(true))
	if at := waitFor(t, 3*time.Second, "route announced again", routed); at.Sub(back) > time.Second {
		t.Errorf("route back %v after the quorum, want ≤ 1 s", at.Sub(back))
	}

	// Drain withdraws and keeps forwarding; undrain announces again.
	adm.xvsadm(t, "--drain")
	waitFor(t, time.Second, "route withdrawn on drain", gone)
	// A router that still sends (here a static route) is served.
	static := []string{l.vip.String(), "via", d.Addr4.String()}
	if _, err := l.Router.Run(l.ctx, "ip", append([]string{"route", "add"}, static...)...); err != nil {
		t.Fatal(err)
	}
	if name, err := l.get(); err != nil || name != r.Name {
		t.Errorf("drained director does not forward: %q, %v", name, err)
	}
	if _, err := l.Router.Run(l.ctx, "ip", append([]string{"route", "del"}, static...)...); err != nil {
		t.Fatal(err)
	}
	adm.xvsadm(t, "--undrain")
	waitFor(t, 2*time.Second, "route back on undrain", routed)

	// SIGKILL: nothing is withdrawn; BIRD drops the path after the hold time.
	c.Close()
	killed := time.Now()
	_ = xvs.Cmd.Process.Signal(syscall.SIGKILL)
	<-xvs.Done()
	if at := waitFor(t, 6*time.Second, "route gone after SIGKILL", gone); at.Sub(killed) > 4*time.Second {
		t.Errorf("route gone %v after SIGKILL, want ≤ hold time + 1 s", at.Sub(killed))
	}

	// SIGTERM: the route goes before the daemon exits.
	xvs = l.start(t, d, cfg, sock)
	waitFor(t, 15*time.Second, "route back after restart", routed)
	birdMark := len(l.bird.Proc.Output())
	_ = xvs.Cmd.Process.Signal(syscall.SIGTERM)
	for !gone() {
		select {
		case <-xvs.Done():
			t.Fatalf("xvs exited with the route still in the router's table\n%s", xvs.Output())
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-xvs.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("xvs did not exit after SIGTERM")
	}
	// BIRD traces an UPDATE's withdrawal as "removed"; the routes a closed
	// session flushes are not traced so.
	bo := l.bird.Proc.Output()[birdMark:]
	rm, closed := strings.Index(bo, "removed [sole] "+l.vip.String()), strings.Index(bo, "BGP session closed")
	if rm < 0 || closed < 0 || rm > closed {
		t.Errorf("BIRD after SIGTERM: want the VIP's withdrawal before the session closed:\n%s", bo)
	}
	out := xvs.Output()
	w, s := strings.Index(out, "bgp withdraw"), strings.Index(out, "xvs stopped")
	if w < 0 || s < 0 || w > s {
		t.Errorf("xvs log: want the withdrawal before the stop:\n%s", out)
	}
}

// TestBGPMultipath: three directors announce the VIP; BIRD learns three
// paths and installs one multipath route over all of them, and new
// connections are served. A drained director's path goes (within 1 s)
// and the others keep serving; undrained it comes back; a director
// stopped by SIGTERM leaves the route before it exits, and no new
// connection fails meanwhile.
func TestBGPMultipath(t *testing.T) {
	l := newBGPLab(t, 3, 3)
	for _, r := range l.Reals {
		l.serve(t, r)
	}
	var procs []*testnet.Proc
	var socks []string
	for i, d := range l.Directors {
		dir := t.TempDir()
		cfg, sock := filepath.Join(dir, "xvs.yaml"), filepath.Join(dir, "xvs.sock")
		if err := os.WriteFile(cfg, []byte(l.conf(d, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		p := l.start(t, d, cfg, sock, "--ecmp")
		procs, socks = append(procs, p), append(socks, sock)
		t.Cleanup(func() {
			_ = p.Stop()
			if t.Failed() {
				t.Logf("xvs on director %d output:\n%s", i+1, p.Output())
			}
		})
	}
	d1, d2, d3 := l.Directors[0], l.Directors[1], l.Directors[2]
	l.via(t, 15*time.Second, "one route over three paths", d1, d2, d3)
	if out, _ := l.bird.Routes(l.ctx, l.vip); strings.Count(out, "BGP.as_path: 65001") != 3 {
		t.Errorf("birdc show route: want three paths:\n%s", out)
	}
	getN := func(what string, n int) {
		t.Helper()
		for i := range n {
			if _, err := l.get(); err != nil {
				t.Fatalf("%s: connection %d: %v", what, i, err)
			}
		}
	}
	getN("three paths", 30)

	c2, err := control.Dial(socks[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	drained := time.Now()
	if _, err := c2.Drain(true); err != nil {
		t.Fatal(err)
	}
	if at := l.via(t, 2*time.Second, "director2's path withdrawn on drain", d1, d3); at.Sub(drained) > time.Second {
		t.Errorf("path withdrawn %v after the drain, want ≤ 1 s", at.Sub(drained))
	}
	getN("director2 drained", 30)
	if _, err := c2.Drain(false); err != nil {
		t.Fatal(err)
	}
	l.via(t, 2*time.Second, "director2's path back", d1, d2, d3)

	// SIGTERM on director3 while the client keeps connecting.
	stop := make(chan struct{})
	fails := make(chan error, 1)
	go func() {
		defer close(fails)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.get(); err != nil {
				fails <- err
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	_ = procs[2].Cmd.Process.Signal(syscall.SIGTERM)
	want := []string{d1.Addr4.String(), d2.Addr4.String()}
	slices.Sort(want)
	deadline := time.Now().Add(3 * time.Second)
	for !slices.Equal(l.nexthops(t), want) {
		select {
		case <-procs[2].Done():
			t.Fatalf("director3 exited with its path still in the route: %v", l.nexthops(t))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("director3's path not withdrawn on SIGTERM: %v", l.nexthops(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-procs[2].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("director3 did not exit after SIGTERM")
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	if err := <-fails; err != nil {
		t.Errorf("a new connection failed while director3 stopped: %v", err)
	}
}

// TestBGPDirectorLoss: issue 15's flow survival with BIRD as the router.
// 100 long transfers spread by the router over three directors; one
// director dies (its network goes silent and its daemon is SIGKILLed):
// BIRD drops its path when the hold time (3 s) runs out, and the router
// moves its flows to the two others, which never saw them. With mh (--ecmp) they adopt each flow on the real server the
// shared Maglev table gives, and every transfer completes with the right
// sha256 and no reset; with rr (--ecmp --sloppy) some break, so the test
// can fail. Graceful: a drained director's path goes within a second, it
// keeps forwarding what still reaches it, then it stops on SIGTERM, and
// no transfer breaks.
func TestBGPDirectorLoss(t *testing.T) {
	t.Run("mh", func(t *testing.T) {
		failed, moved := bgpLoss(t, "mh", false) // ECMP mode: on with bgp:
		if failed != 0 {
			t.Errorf("%d of %d transfers broke with mh", failed, ecmpFlows)
		}
		if moved == 0 {
			t.Errorf("no flow moved to another director: the test proved nothing")
		}
	})
	t.Run("rr", func(t *testing.T) {
		failed, moved := bgpLoss(t, "rr", false, "--sloppy")
		if failed == 0 {
			t.Errorf("no transfer broke with rr (%d flows moved): the mh run proves nothing", moved)
		}
	})
	t.Run("drain", func(t *testing.T) {
		failed, moved := bgpLoss(t, "mh", true, "--ecmp")
		if failed != 0 {
			t.Errorf("%d of %d transfers broke across a drain and SIGTERM", failed, ecmpFlows)
		}
		if moved == 0 {
			t.Errorf("no flow moved to another director: the test proved nothing")
		}
	})
}

// bgpLoss runs transfersAcrossLoss through three announcing directors on
// scheduler (mh with mh-port) and args; director2 dies (silenced, then
// SIGKILLed), or (graceful) is drained and, once its path is gone,
// stopped by SIGTERM.
func bgpLoss(t *testing.T, scheduler string, graceful bool, args ...string) (failed, moved int) {
	l := newBGPLab(t, 3, 3)
	for _, r := range l.Reals {
		l.serve(t, r)
	}
	ds := l.startDirectors(t, scheduler, args...)
	victim := ds[1]
	others := []*testnet.Host{l.Directors[0], l.Directors[2]}
	return transfersAcrossLoss(t, l.ctx, l.Lab, scheduler, ds, victim, func() {
		gone := time.Now()
		if !graceful {
			// The director dies as a box does: its namespace stops
			// sending and receiving first, so the kernel's reset of the
			// killed daemon's BGP session never reaches BIRD, which
			// learns of the loss only when the hold time runs out.
			if _, err := victim.h.Run(l.ctx, "nft", "add table inet xvs_dead; add chain inet xvs_dead in { type filter hook input priority -300; policy drop; }; "+
				"add chain inet xvs_dead out { type filter hook output priority -300; policy drop; }"); err != nil {
				t.Fatal(err)
			}
			victim.kill(t)
			at := l.via(t, 6*time.Second, "the dead director's path dropped by BIRD", others...)
			t.Logf("director2 dead: BIRD dropped its path after %v (hold time 3 s)", at.Sub(gone).Round(time.Millisecond))
			if d := at.Sub(gone); d > 4*time.Second || d < 500*time.Millisecond {
				t.Errorf("path dropped %v after the director died, want the hold time's expiry (at most 3 s after the last keepalive, so ≤ 4 s, and not at once)", d)
			}
			return
		}
		if _, err := victim.control(t).Drain(true); err != nil {
			t.Fatal(err)
		}
		at := l.via(t, 2*time.Second, "the drained director's path withdrawn", others...)
		t.Logf("drain: path withdrawn after %v", at.Sub(gone).Round(time.Millisecond))
		time.Sleep(time.Second) // what the router had in flight still reaches it
		if err := victim.p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-victim.p.Done()
	})
}

// startDirectors starts xvs on every director with scheduler (mh with
// mh-port) and args, and waits until BIRD routes the VIP over all of them.
// The daemons stop (unless the test killed them) when the test ends.
func (l *bgpLab) startDirectors(t *testing.T, scheduler string, args ...string) []*director {
	t.Helper()
	flags := ""
	if scheduler == "mh" {
		flags = "mh-port"
	}
	var ds []*director
	for _, h := range l.Directors {
		dir := t.TempDir()
		d := &director{h: h, sock: filepath.Join(dir, "xvs.sock")}
		cfg := filepath.Join(dir, "xvs.yaml")
		if err := os.WriteFile(cfg, []byte(l.confWith(h, scheduler, flags, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		d.p = l.start(t, h, cfg, d.sock, args...)
		t.Cleanup(func() {
			select {
			case <-d.p.Done():
			default:
				_ = d.p.Stop()
			}
			if t.Failed() {
				t.Logf("xvs on %s output:\n%s", h.Name, d.p.Output())
			}
		})
		ds = append(ds, d)
	}
	l.via(t, 15*time.Second, "one route over every director", l.Directors...)
	return ds
}

// TestBGPSpread: TestECMPSpread with BIRD as the router: three directors
// announce the VIPs, BIRD installs one multipath route per family, and 300
// new connections per family reach all three directors, each on the real
// server the Maglev table gives, the three digests equal.
func TestBGPSpread(t *testing.T) {
	l := newBGPLab(t, 3, 3)
	for _, r := range l.Reals {
		l.serve(t, r)
	}
	el := &ecmpLab{Lab: l.Lab, ctx: l.ctx, directors: l.startDirectors(t, "mh")}
	waitFor(t, 15*time.Second, "the IPv6 route over every director", func() bool { return len(l.nexthopsOf(t, l.vip6)) == len(l.Directors) })
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		t.Run(famName(vip), func(t *testing.T) { ecmpSpread(t, el, vip) })
	}
}
