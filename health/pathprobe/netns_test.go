package pathprobe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/service"
)

// The probe addresses of the tests: free addresses of the lab's DR/TUN
// segment (198.18.0.0/23, 2001:db8::/63).
var (
	probe4 = netip.MustParsePrefix("198.18.0.50/23")
	probe6 = netip.MustParsePrefix("2001:db8::50/63")
)

// openLab opens a Prober on the director of l.
func openLab(t *testing.T, l *testnet.Lab) *Prober {
	t.Helper()
	p, err := Open(Options{Interface: l.DirectorIfaces[0], Addresses: []netip.Prefix{probe4, probe6},
		Netns: "/run/netns/" + l.Director.NS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// check runs c with a deadline.
func check(c health.Checker, d time.Duration) health.Result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Check(ctx)
}

// routed returns a Net routed for r (address a) through vip.
func routed(t *testing.T, p *Prober, vip netip.AddrPort, r service.Real) *health.Net {
	t.Helper()
	n := &health.Net{}
	if err := p.Route(vip, r, n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDR: a DR real server that holds the VIP on lo passes the path-true
// TCP and HTTP checks; one that listens on every address but lacks the VIP
// fails them, while a plain TCP check of RIP:80 from the director passes.
//
//	director ns: ID-d (VIP)            r1: lo VIP, HTTP on :80
//	  └ macvlan → probe ns ── bridge ── r2: no VIP on lo, HTTP on :80
//	    xvsprobe 198.18.0.50, 2001:db8::50
func TestDR(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	l := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Name: t.Name(), Reals: 2})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, r := range l.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{UDP: []string{}}); err != nil {
			t.Fatal(err)
		}
		serveHTTPS(t, r)
	}
	runDaemon(t, l, xvsBinary(t), "xdp", nil)
	r2 := l.Reals[1]
	for _, v := range []netip.Addr{l.VIP4, l.VIP6} {
		if out, err := r2.Run(ctx, "ip", "addr", "del", netip.PrefixFrom(v, v.BitLen()).String(), "dev", "lo"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	// A route of the served interface, to be copied into the probe namespace.
	if out, err := l.Director.Run(ctx, "ip", "route", "add", "203.0.113.0/24", "via", l.Client.Addr4.String(), "dev", l.DirectorIfaces[0]); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	before := links(t, l.Director)
	p := openLab(t, l)
	if rs, err := p.nl.RouteList(nil, netlink.FAMILY_V4); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(fmt.Sprint(rs), "203.0.113.0/24 Src: <nil> Gw: "+l.Client.Addr4.String()) {
		t.Errorf("the interface's route was not copied: %v", rs)
	}
	if after := links(t, l.Director); after != before {
		t.Errorf("Open changed the director's links:\n%s\nnow:\n%s", before, after)
	}
	director := &health.Net{Enter: health.InNetns("/run/netns/" + l.Director.NS)}

	for _, fam := range []struct {
		name     string
		vip      netip.Addr
		rip      func(h *testnet.Host) netip.Addr
		lacksVIP bool
	}{
		{"ipv4", l.VIP4, func(h *testnet.Host) netip.Addr { return h.Addr4 }, false},
		{"ipv6", l.VIP6, func(h *testnet.Host) netip.Addr { return h.Addr6 }, false},
	} {
		t.Run(fam.name, func(t *testing.T) {
			vip := netip.AddrPortFrom(fam.vip, 80)
			for i, h := range l.Reals {
				rip := netip.AddrPortFrom(fam.rip(h), 80)
				n := routed(t, p, vip, service.Real{Addr: rip.Addr(), Method: service.MethodDR})
				tcp := check(&health.TCP{Addr: rip, Net: n}, 2*time.Second)
				http := check(&health.HTTP{Addr: rip, URLs: []health.URL{{Path: "/"}}, Net: n}, 2*time.Second)
				// SSL_GET on another port of the same VIP: a second probe
				// over the path, sharing its route.
				tlsRIP := netip.AddrPortFrom(rip.Addr(), 8443)
				tn := routed(t, p, netip.AddrPortFrom(fam.vip, 8443), service.Real{Addr: rip.Addr(), Method: service.MethodDR})
				https := check(&health.HTTP{Addr: tlsRIP, URLs: []health.URL{{Path: "/"}}, TLS: true, Net: tn}, 2*time.Second)
				plain := check(&health.TCP{Addr: rip, Net: director}, 2*time.Second)
				plainTLS := check(&health.HTTP{Addr: tlsRIP, URLs: []health.URL{{Path: "/"}}, TLS: true, Net: director}, 2*time.Second)
				t.Logf("%s: path-true TCP %+v, HTTP %+v, HTTPS %+v; plain TCP of %s %+v, plain HTTPS %+v",
					h.Name, tcp, http, https, rip, plain, plainTLS)
				if !plainTLS.OK {
					t.Errorf("%s: plain HTTPS check of %s failed: %s", h.Name, tlsRIP, plainTLS.Reason)
				}
				if !plain.OK {
					t.Errorf("%s: plain TCP check of %s failed: %s", h.Name, rip, plain.Reason)
				}
				if i == 0 && (!tcp.OK || !http.OK || !https.OK) {
					t.Errorf("%s holds the VIP but the path-true checks failed: %s / %s / %s", h.Name, tcp.Reason, http.Reason, https.Reason)
				}
				if i == 1 {
					if tcp.OK || http.OK || https.OK {
						t.Errorf("%s lacks the VIP on lo but a path-true check passed", h.Name)
					}
					if !strings.HasPrefix(tcp.Reason, "connect: ") {
						t.Errorf("reason %q, want connect: ...", tcp.Reason)
					}
				}
			}
		})
	}

	// Sync to one probe removes the other's rule and route; Sync(nil) all.
	r1 := service.Real{Addr: l.Reals[0].Addr4, Method: service.MethodDR}
	n := &health.Net{}
	if err := p.Sync([]Probe{{VIP: netip.AddrPortFrom(l.VIP4, 80), Real: r1, Net: n}}); err != nil {
		t.Fatal(err)
	}
	if got := ourRules(t, p); got != 1 {
		t.Errorf("after Sync of one probe: %d rules, want 1", got)
	}
	if r := check(&health.TCP{Addr: netip.AddrPortFrom(r1.Addr, 80), Net: n}, 2*time.Second); !r.OK {
		t.Errorf("after Sync: %+v", r)
	}
	if err := p.Sync(nil); err != nil {
		t.Fatal(err)
	}
	if got := ourRules(t, p); got != 0 {
		t.Errorf("after Sync(nil): %d rules, want 0", got)
	}

	// The probe address answers on the segment until Close, and not after.
	if err := l.Client.Ping(ctx, probe4.Addr()); err != nil {
		t.Errorf("probe address before Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if err := l.Client.Ping(pctx, probe4.Addr()); err == nil {
		t.Error("the probe address still answers after Close")
	}
	if err := p.Route(netip.AddrPortFrom(l.VIP4, 80), r1, &health.Net{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Route after Close: %v", err)
	}
}

// TestManyPaths: a thousand paths (one per real server, the scale of a big
// director) are routed and removed in bounded time, and a probe through
// the thousand rules still answers at once. It logs the figures.
func TestManyPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if testing.Short() {
		t.Skip("builds a lab")
	}
	l := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Name: t.Name(), Reals: 1})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := l.Reals[0].Serve(ctx, testnet.ServeOptions{UDP: []string{}}); err != nil {
		t.Fatal(err)
	}
	p := openLab(t, l)
	vip := netip.AddrPortFrom(l.VIP6, 80)
	var set []Probe
	for i := range 1000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: 1, 14: byte((0x1000 + i) >> 8), 15: byte(0x1000 + i)})
		m := service.MethodDR
		if i%2 == 1 {
			m = service.MethodTUN
		}
		set = append(set, Probe{VIP: vip, Real: service.Real{Addr: a, Method: m}, Net: &health.Net{}})
	}
	r1 := service.Real{Addr: l.Reals[0].Addr6, Method: service.MethodDR}
	n := &health.Net{}
	set = append(set, Probe{VIP: vip, Real: r1, Net: n})
	probe100 := func() time.Duration {
		start := time.Now()
		for range 100 {
			if r := check(&health.TCP{Addr: netip.AddrPortFrom(r1.Addr, 80), Net: n}, 2*time.Second); !r.OK {
				t.Fatalf("probe: %+v", r)
			}
		}
		return time.Since(start) / 100
	}
	if err := p.Route(vip, r1, n); err != nil {
		t.Fatal(err)
	}
	alone := probe100()
	start := time.Now()
	if err := p.Sync(set); err != nil {
		t.Fatal(err)
	}
	synced := time.Since(start)
	if got := ourRules(t, p); got != len(set) {
		t.Fatalf("%d rules, want %d", got, len(set))
	}
	// r1's rule is the first (its path was routed first); the others'
	// are looked at for every packet the probe namespace routes.
	probe := probe100()
	start = time.Now()
	if err := p.Sync(nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d paths: Sync %v, Sync(nil) %v; one TCP probe %v alone, %v beside them",
		len(set), synced, time.Since(start), alone, probe)
}

// links lists h's interfaces by name.
func links(t *testing.T, h *testnet.Host) string {
	t.Helper()
	out, err := h.Run(context.Background(), "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	return strings.Join(names, " ")
}

// ourRules counts the probe namespace's fwmark rules of both families.
func ourRules(t *testing.T, p *Prober) int {
	t.Helper()
	n := 0
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := p.nl.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Table >= tableBase {
				n++
			}
		}
	}
	return n
}

// TestTUN: TUN real servers running xvs's XDP decapsulator pass path-true
// checks through each tunnel type (IPIP and IPv6-in-IPv6, GUE with its
// checksum, GRE with its checksum); once the decapsulator is removed the
// same server fails, while a plain check of RIP:80 still passes.
//
//	probe ns: socket → table → xvstun (TAP) → reader: encap → raw socket
//	  → xvsprobe (macvlan on ID-d) ── bridge ── rN: xvs decap on ID-rN, lo VIP
func TestTUN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	bin := xvsBinary(t)
	l := testnet.NewT(t, testnet.Options{Mode: testnet.TUN, Name: t.Name(), Reals: 3})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, r := range l.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{UDP: []string{}}); err != nil {
			t.Fatal(err)
		}
		if out, err := r.Run(ctx, bin, "decap", "-i", r.Iface, "--gue-port", "6080"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	tunnels := []service.Tunnel{
		{Type: service.TunIPIP},
		{Type: service.TunGUE, Port: 6080, Csum: service.TunCsum},
		{Type: service.TunGRE, Csum: service.TunCsum},
	}
	runDaemon(t, l, bin, "afpacket", tunnels)
	p := openLab(t, l)
	director := &health.Net{Enter: health.InNetns("/run/netns/" + l.Director.NS)}
	for i, h := range l.Reals {
		for _, a := range [][2]netip.Addr{{l.VIP4, h.Addr4}, {l.VIP6, h.Addr6}} {
			vip, rip := netip.AddrPortFrom(a[0], 80), netip.AddrPortFrom(a[1], 80)
			n := routed(t, p, vip, service.Real{Addr: rip.Addr(), Method: service.MethodTUN, Tunnel: tunnels[i]})
			tcp := check(&health.TCP{Addr: rip, Net: n}, 2*time.Second)
			http := check(&health.HTTP{Addr: rip, URLs: []health.URL{{Path: "/"}}, Net: n}, 2*time.Second)
			t.Logf("%s %s %s: path-true TCP %+v, HTTP %+v", h.Name, tunnels[i].Type, rip, tcp, http)
			if !tcp.OK || !http.OK {
				t.Errorf("%s %s through %s: path-true check failed: %s / %s", h.Name, rip, tunnels[i].Type, tcp.Reason, http.Reason)
			}
		}
	}
	st := p.Stats()
	t.Logf("hop: %+v", st)
	if st.Sent == 0 || st.Dropped != 0 || st.SendErrors != 0 {
		t.Errorf("hop counters %+v: want packets sent, none dropped", st)
	}

	r1 := l.Reals[0]
	if out, err := r1.Run(ctx, bin, "decap", "-i", r1.Iface, "--remove"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	rip := netip.AddrPortFrom(r1.Addr4, 80)
	n := routed(t, p, netip.AddrPortFrom(l.VIP4, 80), service.Real{Addr: rip.Addr(), Method: service.MethodTUN})
	tcp := check(&health.TCP{Addr: rip, Net: n}, time.Second)
	plain := check(&health.TCP{Addr: rip, Net: director}, 2*time.Second)
	t.Logf("r1 without decap: path-true TCP %+v; plain TCP %+v", tcp, plain)
	if tcp.OK || !strings.HasPrefix(tcp.Reason, "connect: ") {
		t.Errorf("r1 without decapsulation: path-true %+v, want down with connect: ...", tcp)
	}
	if !plain.OK {
		t.Errorf("r1: plain TCP check failed: %s", plain.Reason)
		for _, h := range []*testnet.Host{r1, l.Director} {
			out, _ := h.Run(ctx, "nstat", "-az", "TcpOutRsts", "TcpAttemptFails", "IcmpInDestUnreachs", "IcmpOutDestUnreachs", "TcpExtListenDrops")
			t.Logf("%s's counters: %s", h.Name, out)
		}
		t.Logf("again: %+v", check(&health.TCP{Addr: rip, Net: director}, 2*time.Second))
	}
}

// runDaemon runs `xvs run` on the director with a service on each VIP's
// port 80 balancing over the lab's real servers (DR, or TUN through
// tunnels[i]), so the probes run beside the forwarder serving the same
// interface with its steering in place; it stops in t.Cleanup.
func runDaemon(t *testing.T, l *testnet.Lab, bin, backend string, tunnels []service.Tunnel) {
	t.Helper()
	var b strings.Builder
	b.WriteString("services:\n")
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		fmt.Fprintf(&b, "  - proto: tcp\n    vip: %s\n    port: 80\n    scheduler: rr\n    reals:\n", vip)
		for i, r := range l.Reals {
			addr := r.Addr4
			if vip.Is6() {
				addr = r.Addr6
			}
			if tunnels == nil {
				fmt.Fprintf(&b, "      - {address: %s, port: 80, method: dr}\n", addr)
				continue
			}
			tn := tunnels[i]
			fmt.Fprintf(&b, "      - {address: %s, port: 80, method: tun, tun-type: %s", addr, tn.Type)
			if tn.Port != 0 {
				fmt.Fprintf(&b, ", tun-port: %d", tn.Port)
			}
			fmt.Fprintf(&b, ", tun-csum: %s}\n", tn.Csum)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "xvs.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := l.Director.Start(ctx, bin, "run", "-i", l.DirectorIfaces[0], "--backend", backend,
		"--socket", filepath.Join(dir, "xvs.sock"), "--config", cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("xvs run: %v\n%s", err, p.Output())
		}
		cancel()
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := p.WaitOutput(wctx, "xvs running"); err != nil {
		t.Fatalf("xvs run did not start: %v\n%s\n%s", err, p.Output(), b.String())
	}
}

// xvsBinary builds cmd/xvs once per test process, for `xvs decap` on the
// real servers and `xvs run` on the director.
func xvsBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build xvs")
	}
	xvsBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "xvs-pathprobe-")
		if err != nil {
			xvsBuild.err = err
			return
		}
		xvsBuild.dir = dir
		xvsBuild.bin = filepath.Join(dir, "xvs")
		if out, err := exec.Command("go", "build", "-o", xvsBuild.bin, "github.com/xvs-project/xvs/cmd/xvs").CombinedOutput(); err != nil {
			xvsBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if xvsBuild.err != nil {
		t.Fatal(xvsBuild.err)
	}
	return xvsBuild.bin
}

var xvsBuild struct {
	once     sync.Once
	dir, bin string
	err      error
}

// TestMain removes the xvs build.
func TestMain(m *testing.M) {
	code := m.Run()
	if xvsBuild.dir != "" {
		os.RemoveAll(xvsBuild.dir)
	}
	os.Exit(code)
}

// TestOpenErrors: the error names the interface and the step.
func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{Interface: "eth0"}); err == nil || !strings.Contains(err.Error(), "eth0: options: no probe address") {
		t.Errorf("no address: %v", err)
	}
	if _, err := Open(Options{Interface: "eth0", Addresses: []netip.Prefix{probe4, netip.MustParsePrefix("10.0.0.1/8")}}); err == nil ||
		!strings.Contains(err.Error(), "two probe addresses of one family") {
		t.Errorf("two IPv4 addresses: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the rest")
	}
	ns := testnet.NewNetNS(t)
	_, err := Open(Options{Interface: "nosuch0", Addresses: []netip.Prefix{probe4}, Netns: "/run/netns/" + ns.Name()})
	if err == nil || !strings.Contains(err.Error(), "path-true probes on nosuch0: find the interface") {
		t.Errorf("missing interface: %v", err)
	}
	// lo cannot carry a macvlan: the error says so and nothing is left.
	_, err = Open(Options{Interface: "lo", Addresses: []netip.Prefix{probe4}, Netns: "/run/netns/" + ns.Name()})
	if err == nil || !strings.Contains(err.Error(), "path-true probes on lo: add a macvlan") {
		t.Errorf("macvlan on lo: %v", err)
	}
	t.Logf("errors read: %v", err)
}
