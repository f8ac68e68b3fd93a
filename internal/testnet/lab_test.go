package testnet

// The topology tests build each lab and check what must work without xvs:
//
//	NAT:   client --- director(ext | int) --- [bridge] --- r1, r2
//	       client <-> director ext, director int <-> each real; the client
//	       cannot reach a real (the director does not forward) unless
//	       Options.Forwarding is set.
//	DR/TUN: client, director, r1, r2 on one [bridge]
//	       client <-> director, director <-> each real, client <-> each real;
//	       the VIP answers ARP/ND from the director only; a real server
//	       accepts traffic for the VIP (held on lo) and answers from it.
//
// In each, labserver serves on every real and is queried over HTTP and UDP,
// IPv4 and IPv6; Close leaves no namespace, marker or root-namespace link.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTopology(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"nat", Options{Mode: NAT, Reals: 2}},
		{"nat-forwarding", Options{Mode: NAT, Reals: 1, Forwarding: true}},
		{"dr", Options{Mode: DR, Reals: 2}},
		{"tun", Options{Mode: TUN, Reals: 2}},
	}
	rootLinks := interfaceNames(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Name = t.Name()
			l := NewT(t, tc.opts)
			BuildLabServer(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			t.Log(l)

			checkReachability(ctx, t, l)
			for _, r := range l.Reals {
				if _, err := r.Serve(ctx, ServeOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			checkServers(ctx, t, l, l.Director)
			if l.Mode != NAT || l.Options.Forwarding {
				checkServers(ctx, t, l, l.Client)
			}
			if l.Mode != NAT {
				checkRealRecipe(ctx, t, l)
				checkVIPNeighbour(ctx, t, l)
				checkVIPOnReal(ctx, t, l)
			}

			ns := l.Namespaces()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				if _, err := os.Stat(filepath.Join(netnsDir, n)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("namespace %s still exists after Close (%v)", n, err)
				}
			}
			if _, err := os.Stat(filepath.Join(markerDir, l.ID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("marker of %s still exists after Close (%v)", l.ID, err)
			}
			if _, err := l.Client.Run(ctx, "true"); !errors.Is(err, ErrClosed) {
				t.Errorf("Run after Close: got %v, want ErrClosed", err)
			}
		})
	}
	t.Cleanup(func() {
		if got := interfaceNames(t); strings.Join(got, ",") != strings.Join(rootLinks, ",") {
			t.Errorf("root namespace links changed: before %v, after %v", rootLinks, got)
		}
	})
}

// interfaceNames lists the interface names of the calling thread's
// namespace: the root one's, unless called inside NetNS.In.
func interfaceNames(t testing.TB) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

// checkReachability pings what must answer, both families, and checks that
// a NAT client cannot reach a real server by itself.
func checkReachability(ctx context.Context, t *testing.T, l *Lab) {
	t.Helper()
	type pair struct {
		from *Host
		to   netip.Addr
	}
	var want []pair
	both := func(from *Host, a4, a6 netip.Addr) { want = append(want, pair{from, a4}, pair{from, a6}) }
	both(l.Client, l.Director.Addr4, l.Director.Addr6)
	both(l.Director, l.Client.Addr4, l.Client.Addr6)
	both(l.Client, l.VIP4, l.VIP6)
	for _, r := range l.Reals {
		both(l.Director, r.Addr4, r.Addr6)
		both(r, l.Director.Links[len(l.Director.Links)-1].Addr4.Addr(), l.Director.Links[len(l.Director.Links)-1].Addr6.Addr())
		if l.Mode != NAT || l.Options.Forwarding {
			both(l.Client, r.Addr4, r.Addr6)
			both(r, l.Client.Addr4, l.Client.Addr6)
		}
	}
	for _, p := range want {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.from.Ping(pctx, p.to)
		cancel()
		if err != nil {
			t.Errorf("%s -> %s: %v", p.from.Name, p.to, err)
		}
	}
	if l.Mode == NAT && !l.Options.Forwarding {
		for _, a := range []netip.Addr{l.Reals[0].Addr4, l.Reals[0].Addr6} {
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := l.Client.Ping(pctx, a)
			cancel()
			if !errors.Is(err, ErrNoReply) {
				t.Errorf("client -> %s without forwarding: got %v, want ErrNoReply", a, err)
			}
		}
	}
}

// checkServers queries every real server from h over HTTP and UDP, both
// families, and downloads a blob from the first.
func checkServers(ctx context.Context, t *testing.T, l *Lab, h *Host) {
	t.Helper()
	const n = 8
	for _, r := range l.Reals {
		for _, a := range []netip.Addr{r.Addr4, r.Addr6} {
			s, err := h.HTTPGet(ctx, GetOptions{URL: HTTPURL(a, 80, "/"), N: n, Parallel: 2})
			if err != nil {
				t.Fatal(err)
			}
			if s.OK != n || s.Failures != 0 || s.PerServer[r.Name] != n || s.P99 <= 0 {
				t.Errorf("%s: http get %s: %+v, want %d answers from %s", h.Name, a, s, n, r.Name)
			}
			u, err := h.UDP(ctx, UDPOptions{Addr: netip.AddrPortFrom(a, 53).String(), N: n, NewSocketEach: true})
			if err != nil {
				t.Fatal(err)
			}
			if u.OK != n || u.PerServer[r.Name] != n {
				t.Errorf("%s: udp %s: %+v, want %d answers from %s", h.Name, a, u, n, r.Name)
			}
		}
	}
	const size = 1 << 20
	b, err := h.Blob(ctx, HTTPURL(l.Reals[0].Addr4, 80, "/blob?size=1048576"))
	if err != nil {
		t.Fatal(err)
	}
	if !b.OK || b.Bytes != size || b.Server != l.Reals[0].Name || b.SHA256 != BlobSHA256(size) {
		t.Errorf("%s: blob: %+v", h.Name, b)
	}
}

// checkRealRecipe reads back the LVS real-server settings of DR/TUN reals.
func checkRealRecipe(ctx context.Context, t *testing.T, l *Lab) {
	t.Helper()
	for _, r := range l.Reals {
		want := map[string]string{
			"net.ipv4.conf.all.arp_ignore":               "1",
			"net.ipv4.conf.all.arp_announce":             "2",
			"net.ipv4.conf." + r.Iface + ".arp_ignore":   "1",
			"net.ipv4.conf." + r.Iface + ".arp_announce": "2",
			"net.ipv4.conf.all.rp_filter":                "0",
			"net.ipv4.conf." + r.Iface + ".rp_filter":    "0",
			"net.ipv6.conf." + r.Iface + ".accept_dad":   "0",
			"net.ipv4.ip_forward":                        "0",
		}
		for k, v := range want {
			out, err := r.Run(ctx, "sysctl", "-n", k)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != v {
				t.Errorf("%s: %s = %s, want %s", r.Name, k, got, v)
			}
		}
		out, err := r.Run(ctx, "ip", "-br", "addr", "show", "dev", "lo")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []netip.Prefix{host32(l.VIP4), host32(l.VIP6)} {
			if !strings.Contains(string(out), p.String()) {
				t.Errorf("%s: lo lacks VIP %s: %s", r.Name, p, out)
			}
		}
	}
}

// checkVIPNeighbour checks that the client resolved the VIP (pinged in
// checkReachability) to the director's MAC: the real servers kept quiet.
func checkVIPNeighbour(ctx context.Context, t *testing.T, l *Lab) {
	t.Helper()
	var mac string
	if err := l.Director.Do(func() error {
		ifc, err := net.InterfaceByName(l.Director.Iface)
		if err == nil {
			mac = ifc.HardwareAddr.String()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		out, err := l.Client.Run(ctx, "ip", "neigh", "show", vip.String())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "lladdr "+mac) {
			t.Errorf("client's neighbour entry for %s is %q, want the director's %s", vip, out, mac)
		}
	}
}

// checkVIPOnReal sends the client's VIP traffic straight to r1 (a host
// route via r1, as a DR director would forward it) and expects r1 to answer
// from the VIP: over TCP, and over UDP from a wildcard-bound socket.
func checkVIPOnReal(ctx context.Context, t *testing.T, l *Lab) {
	t.Helper()
	r := l.Reals[0]
	for _, p := range []struct{ vip, via netip.Addr }{{l.VIP4, r.Addr4}, {l.VIP6, r.Addr6}} {
		if _, err := l.Client.Run(ctx, "ip", "route", "add", host32(p.vip).String(), "via", p.via.String()); err != nil {
			t.Fatal(err)
		}
		s, err := l.Client.HTTPGet(ctx, GetOptions{URL: HTTPURL(p.vip, 80, "/"), N: 4})
		if err != nil {
			t.Fatal(err)
		}
		if s.PerServer[r.Name] != 4 {
			t.Errorf("client -> VIP %s routed via %s: %+v, want 4 answers from %s", p.vip, r.Name, s, r.Name)
		}
		u, err := l.Client.UDP(ctx, UDPOptions{Addr: netip.AddrPortFrom(p.vip, 53).String(), N: 4})
		if err != nil {
			t.Fatal(err)
		}
		if u.PerServer[r.Name] != 4 {
			t.Errorf("client -> VIP %s:53 routed via %s: %+v, want 4 answers from %s (from the VIP)", p.vip, r.Name, u, r.Name)
		}
		if _, err := l.Client.Run(ctx, "ip", "route", "del", host32(p.vip).String()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMTU(t *testing.T) {
	l := NewT(t, Options{Mode: TUN, Reals: 1, MTU: 1500, RealMTU: 1400})
	checkMTU := func(h *Host, iface string, want int) {
		t.Helper()
		got, err := h.MTU(iface)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s %s: mtu %d, want %d", h.Name, iface, got, want)
		}
	}
	r := l.Reals[0]
	checkMTU(l.Client, l.Client.Iface, 1500)
	checkMTU(l.Director, l.Director.Iface, 1500)
	checkMTU(r, r.Iface, 1400)
	checkMTU(l.Switch, r.Links[0].PeerIface, 1400)

	if err := r.SetMTU(t.Context(), r.Iface, 1300); err != nil {
		t.Fatal(err)
	}
	checkMTU(r, r.Iface, 1300)
	checkMTU(l.Switch, r.Links[0].PeerIface, 1300)
	if err := r.SetMTU(t.Context(), r.Iface, 100); !errors.Is(err, ErrOptions) {
		t.Errorf("SetMTU 100: got %v, want ErrOptions", err)
	}
	if err := r.SetMTU(t.Context(), "eth0", 1400); !errors.Is(err, ErrOptions) {
		t.Errorf("SetMTU of a link the host lacks: got %v, want ErrOptions", err)
	}
}

func TestDo(t *testing.T) {
	l := NewT(t, Options{Reals: 1})
	r := l.Reals[0]
	var ln net.Listener
	err := r.Do(func() error {
		if _, err := net.InterfaceByName(r.Iface); err != nil {
			return err
		}
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(r.Addr4, 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := net.InterfaceByName(r.Iface); err == nil {
		t.Fatalf("%s is visible outside Do", r.Iface)
	}
	// The listener lives in r1's namespace: the director reaches it.
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("hi"))
			_ = c.Close()
		}
	}()
	var got []byte
	err = l.Director.Do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		got = make([]byte, 2)
		_, err = c.Read(got)
		return err
	})
	if err != nil || string(got) != "hi" {
		t.Fatalf("director -> listener made in r1's Do: %q, %v", got, err)
	}

	sentinel := errors.New("fn failed")
	if err := r.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want fn's panic", v)
			}
		}()
		_ = r.Do(func() error { panic("boom") })
	}()
	if _, err := net.InterfaceByName(r.Iface); err == nil {
		t.Errorf("%s is visible after a panicking Do", r.Iface)
	}
}

func TestStartStop(t *testing.T) {
	l := NewT(t, Options{Reals: 1})
	r := l.Reals[0]
	p, err := r.Start(t.Context(), "sh", "-c", `echo started; ip -br link show dev lo; exec sleep 60`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "lo"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Output(), "started\n") {
		t.Errorf("output %q", p.Output())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Stop")
	}

	q, err := r.Start(t.Context(), "sh", "-c", "echo bye; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.WaitOutput(ctx, "never printed"); !errors.Is(err, ErrNotReady) {
		t.Errorf("WaitOutput on an exited program: %v, want ErrNotReady", err)
	}
	if err := q.Stop(); err == nil {
		t.Error("Stop of a program that exited 3 returned nil")
	}

	// Close stops what is still running.
	s, err := r.Start(t.Context(), "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Error("Close left a started program running")
	}
}

func TestSetupReal(t *testing.T) {
	var seen []string
	l := NewT(t, Options{Mode: TUN, Reals: 2, SetupReal: func(h *Host) error {
		// What a TUN test does: run the decapsulator on the real's interface.
		if _, err := h.Start(context.Background(), "sh", "-c", "echo decap -i "+h.Iface+"; exec sleep 60"); err != nil {
			return err
		}
		seen = append(seen, h.Name+" "+h.Iface)
		return nil
	}})
	if want := l.Reals[0].Name + " " + l.RealIfaces[0] + "," + l.Reals[1].Name + " " + l.RealIfaces[1]; strings.Join(seen, ",") != want {
		t.Errorf("SetupReal saw %v, want %s", seen, want)
	}

	// A failing hook fails New and leaves nothing behind.
	var failedID string
	_, err := New(Options{Reals: 2, SetupReal: func(h *Host) error {
		failedID = h.Lab().ID
		return errors.New("decap failed")
	}})
	if err == nil || !strings.Contains(err.Error(), "decap failed") {
		t.Fatalf("New with a failing hook: %v", err)
	}
	if ns := labNamespaces(failedID); len(ns) != 0 {
		t.Errorf("failed New left %v", ns)
	}
}

func TestServeOptions(t *testing.T) {
	l := NewT(t, Options{Mode: DR, Reals: 1})
	r := l.Reals[0]
	ctx := t.Context()
	if _, err := r.Serve(ctx, ServeOptions{Name: "alpha", HTTP: []string{":8080", ":8081"}, UDP: []string{":5353"}}); err != nil {
		t.Fatal(err)
	}
	for _, port := range []uint16{8080, 8081} {
		s, err := l.Client.HTTPGet(ctx, GetOptions{URL: HTTPURL(r.Addr6, port, "/"), N: 3, Parallel: 1, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if s.PerServer["alpha"] != 3 {
			t.Errorf("port %d: %+v", port, s)
		}
	}
	u, err := l.Client.UDP(ctx, UDPOptions{Addr: netip.AddrPortFrom(r.Addr4, 5353).String(), N: 3, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if u.PerServer["alpha"] != 3 {
		t.Errorf("udp 5353: %+v", u)
	}
	// Nothing on :80 this time: every request fails, and says so.
	s, err := l.Client.HTTPGet(ctx, GetOptions{URL: HTTPURL(r.Addr4, 80, "/"), N: 2, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failures != 2 || len(s.Errors) == 0 {
		t.Errorf("port 80 without a server: %+v", s)
	}
	// A second server on the same port cannot start.
	if _, err := r.Serve(ctx, ServeOptions{HTTP: []string{":8080"}, UDP: []string{}}); !errors.Is(err, ErrNotReady) {
		t.Errorf("second server on :8080: %v, want ErrNotReady", err)
	}
}

func TestRunAndSysctl(t *testing.T) {
	l := NewT(t, Options{Reals: 1})
	r := l.Reals[0]
	ctx := t.Context()
	_, err := r.Run(ctx, "sh", "-c", "echo oops >&2; exit 4")
	var ce *CmdError
	if !errors.As(err, &ce) || ce.NS != r.NS || ce.Output != "oops" {
		t.Errorf("failing Run: %#v", err)
	}
	if err := r.Sysctl("net.ipv4.conf.all.rp_filter", "2"); err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(ctx, "cat", "/proc/sys/net/ipv4/conf/all/rp_filter")
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Errorf("rp_filter after Sysctl: %q %v", out, err)
	}
	// The root namespace's value is untouched by a lab's Sysctl.
	root, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter")
	if err != nil {
		t.Fatal(err)
	}
	out, err = l.Director.Run(ctx, "cat", "/proc/sys/net/ipv4/conf/all/rp_filter")
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("director's rp_filter: %q %v (root has %s)", out, err, root)
	}
	if err := r.Sysctl("net.ipv4.no_such_knob", "1"); err == nil {
		t.Error("Sysctl of a missing key succeeded")
	}
	// Lab commands never see a proxy.
	t.Setenv("http_proxy", "http://198.18.255.1:3128")
	out, err = r.Run(ctx, "sh", "-c", "echo ${http_proxy:-none}")
	if err != nil || strings.TrimSpace(string(out)) != "none" {
		t.Errorf("http_proxy inside the lab: %q %v", out, err)
	}
}
