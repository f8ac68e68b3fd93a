package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/vrrp"
)

// Helpers of the failover tests: a DR lab with two directors (testnet's
// Options.Directors), one VRRP speaker per director (an xvs daemon, or
// Debian's keepalived with --vrrp), and the probes the tests time a
// takeover with.
//
//	client, director (.0.2), director2 (.0.3), r1..r3 on one bridge;
//	the VIP .0.10 is on whichever director VRRP makes master.

// pairLab is a running two-director lab: its real servers serve HTTP on
// realPort and UDP on :53.
type pairLab struct {
	*testnet.Lab
	ctx context.Context
}

// newPairLab builds a DR pair and starts the real servers; Close runs
// when the test ends.
func newPairLab(t *testing.T) *pairLab { return newPairLabMode(t, testnet.DR) }

// newPairLabMode is newPairLab for a DR or NAT pair (NAT's real servers
// serve on realPort).
func newPairLabMode(t *testing.T, mode testnet.Mode) *pairLab {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	xvsBinary(t) // built before any clock starts
	tl := testnet.NewT(t, testnet.Options{Mode: mode, Directors: 2, Name: t.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, r := range tl.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{HTTP: []string{fmt.Sprintf(":%d", realPort(mode))}, UDP: []string{":53"}}); err != nil {
			t.Fatal(err)
		}
	}
	return &pairLab{Lab: tl, ctx: ctx}
}

// vrrpOpts is one director's vrrp_instance VI_1.
type vrrpOpts struct {
	prio int
	// advert is advert_int as keepalived.conf writes it ("0.1", "1").
	advert string
	// extra lines: "nopreempt", "preempt_delay 2".
	extra []string
	// version is VRRP's (0 means 3).
	version int
}

// advertInterval is advert_int as a duration.
func (o vrrpOpts) advertInterval() time.Duration {
	f, err := strconv.ParseFloat(o.advert, 64)
	if err != nil {
		panic(err)
	}
	return time.Duration(f * float64(time.Second))
}

// masterDown is RFC 5798's Master_Down_Interval of a backup of this
// priority: three intervals and the skew time.
func (o vrrpOpts) masterDown() time.Duration {
	return 3*o.advertInterval() + o.skew()
}

// skew is RFC 5798's Skew_Time: (256 - priority) × interval / 256.
func (o vrrpOpts) skew() time.Duration {
	return time.Duration(256-o.prio) * o.advertInterval() / 256
}

// vrrpBlock is keepalived.conf's vrrp_instance VI_1 on iface (VRRP v3, the
// VIP /32 on iface; every director starts as BACKUP, so priority decides).
func vrrpBlock(l *testnet.Lab, iface string, o vrrpOpts) string {
	return instanceBlock("VI_1", 51, iface, netip.PrefixFrom(l.VIP4, 32), o)
}

// instanceBlock is one vrrp_instance holding addr on iface (VRRP v3 unless
// o says otherwise).
func instanceBlock(name string, vrid int, iface string, addr netip.Prefix, o vrrpOpts) string {
	version := o.version
	if version == 0 {
		version = 3
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_instance %s {\n    state BACKUP\n    interface %s\n    virtual_router_id %d\n"+
		"    priority %d\n    advert_int %s\n    version %d\n", name, iface, vrid, o.prio, o.advert, version)
	for _, e := range o.extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s dev %s\n    }\n}\n", addr, iface)
	return b.String()
}

// pairConf is an xvs director's keepalived.conf: VI_1 on iface (and on
// NAT VI_GW) and the services VIP:80/tcp and VIP:53/udp over every real
// server (no checker: always up).
func pairConf(l *testnet.Lab, iface string, o vrrpOpts) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    vrrp_garp_master_repeat 2\n    vrrp_garp_master_delay 1\n}\n")
	b.WriteString(vrrpBlock(l, iface, o))
	if l.Mode == testnet.NAT {
		// The real servers' gateway moves with the VIP, as keepalived
		// NAT sites run it: a second instance on the internal link.
		b.WriteString(instanceBlock("VI_GW", 52, internalIface(l, iface), netip.PrefixFrom(l.Gateway4, 24), o))
	}
	fmt.Fprintf(&b, "virtual_server %s 80 {\n    lb_algo rr\n    lb_kind %s\n    protocol TCP\n",
		l.VIP4, strings.ToUpper(l.Mode.String()))
	for _, r := range l.Reals {
		fmt.Fprintf(&b, "    real_server %s %d {\n        weight 1\n    }\n", r.Addr4, realPort(l.Mode))
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "virtual_server %s 53 {\n    lb_algo rr\n    lb_kind %s\n    protocol UDP\n",
		l.VIP4, strings.ToUpper(l.Mode.String()))
	for _, r := range l.Reals {
		fmt.Fprintf(&b, "    real_server %s 53 {\n        weight 1\n    }\n", r.Addr4)
	}
	b.WriteString("}\n")
	return b.String()
}

// pairConf6 is a DR director's keepalived.conf for the IPv6 VIP: VRRP v3
// instance VI_6 holding it on iface (unsolicited NAs on takeover) and the
// service [VIP6]:80 over every real server's IPv6 address.
func pairConf6(l *testnet.Lab, iface string, o vrrpOpts) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    vrrp_garp_master_repeat 2\n    vrrp_garp_master_delay 1\n}\n")
	b.WriteString(instanceBlock("VI_6", 61, iface, netip.PrefixFrom(l.VIP6, 128), o))
	fmt.Fprintf(&b, "virtual_server %s 80 {\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n", l.VIP6)
	for _, r := range l.Reals {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight 1\n    }\n", r.Addr6)
	}
	b.WriteString("}\n")
	return b.String()
}

// internalIface is a NAT pair director's internal link: the other link of
// the director whose external one is ext.
func internalIface(l *testnet.Lab, ext string) string {
	for _, d := range l.Directors {
		if d.Iface == ext {
			return d.Links[1].Iface
		}
	}
	panic("no director with " + ext)
}

// ifaces is every link of director h, for xvs run -i.
func ifaces(h *testnet.Host) string {
	var names []string
	for _, k := range h.Links {
		names = append(names, k.Iface)
	}
	return strings.Join(names, ",")
}

// director is one xvs daemon of a pair.
type director struct {
	h    *testnet.Host
	sock string
	p    *testnet.Proc
	// started is when the daemon said it runs.
	started time.Time
}

// startXVS starts `xvs run` on h with conf as its keepalived.conf, its own
// socket and metrics port; it is stopped (and checked for a clean exit,
// unless killed) when the test ends.
func (pl *pairLab) startXVS(t *testing.T, h *testnet.Host, conf string) *director {
	t.Helper()
	dir, err := os.MkdirTemp("", "xvs-pair-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &director{h: h, sock: filepath.Join(dir, "xvs.sock")}
	d.p = launch(pl.ctx, t, h, "run", "-i", ifaces(h), "--socket", d.sock, "--backend", "xdp",
		"--metrics", "127.0.0.1:9100", "--config", cfg)
	d.started = time.Now()
	t.Cleanup(func() {
		if err := d.p.Stop(); err != nil {
			t.Errorf("xvs on %s exit: %v\n%s", h.Name, err, d.p.Output())
		}
		if t.Failed() {
			t.Logf("xvs on %s output:\n%s", h.Name, d.p.Output())
		}
	})
	return d
}

// kill SIGKILLs the daemon (a crash: no priority-0 advert, the VIP stays
// on its interface) and waits until it is gone.
func (d *director) kill(t *testing.T) {
	t.Helper()
	if err := d.p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.p.Done()
}

// vrrp asks the daemon for its instances over its socket.
func (d *director) vrrp(t *testing.T) []vrrp.Status {
	t.Helper()
	c, err := control.Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.VRRP()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// state is the daemon's VI_1 state.
func (d *director) state(t *testing.T) vrrp.State {
	t.Helper()
	return d.stateOf(t, "VI_1")
}

// stateOf is the state of the daemon's instance name.
func (d *director) stateOf(t *testing.T, name string) vrrp.State {
	t.Helper()
	for _, s := range d.vrrp(t) {
		if s.Name == name {
			return s.State
		}
	}
	t.Fatalf("xvs on %s runs no %s", d.h.Name, name)
	return 0
}

// xvsadmVRRP is `xvsadm --vrrp` against the daemon's socket.
func (d *director) xvsadmVRRP(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(xvsadmBinary(t), "--vrrp")
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+d.sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xvsadm --vrrp: %v\n%s", err, out)
	}
	return string(out)
}

// keepalivedProc is Debian's keepalived running VRRP only on a director.
type keepalivedProc struct {
	p        *testnet.Proc
	dir      string
	started  time.Time
	hostName string
}

// startKeepalived runs `keepalived --vrrp --dont-fork --log-console` on h
// with VI_1 of o; it is stopped when the test ends.
func (pl *pairLab) startKeepalived(t *testing.T, h *testnet.Host, o vrrpOpts) *keepalivedProc {
	t.Helper()
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skipf("keepalived not installed (scripts/deps.sh installs it): %v", err)
	}
	dir, err := os.MkdirTemp("", "xvs-pair-ka-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := "global_defs {\n    router_id xvs_pair\n    vrrp_garp_master_repeat 2\n    vrrp_garp_master_delay 1\n}\n" +
		vrrpBlock(pl.Lab, h.Iface, o)
	cfg := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := h.Start(pl.ctx, bin, "--vrrp", "--dont-fork", "--log-console", "--log-detail",
		"-f", cfg, "--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"))
	if err != nil {
		t.Fatal(err)
	}
	k := &keepalivedProc{p: p, dir: dir, started: time.Now(), hostName: h.Name}
	wctx, cancel := context.WithTimeout(pl.ctx, 10*time.Second)
	defer cancel()
	if err := p.WaitOutput(wctx, "Entering BACKUP STATE"); err != nil {
		t.Fatalf("keepalived did not start: %v\n%s", err, p.Output())
	}
	t.Cleanup(func() {
		k.kill() // the VRRP child too, whatever state the test left
		_ = p.Stop()
		if t.Failed() {
			t.Logf("keepalived on %s output:\n%s", h.Name, p.Output())
		}
	})
	return k
}

// kill SIGKILLs keepalived's VRRP child and its parent (a crash of the
// whole director: no priority-0 advert), and waits for the parent.
func (k *keepalivedProc) kill() {
	for _, f := range []string{"v.pid", "k.pid"} {
		b, err := os.ReadFile(filepath.Join(k.dir, f))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-k.p.Done():
	case <-time.After(5 * time.Second):
	}
}

// hasVIP reports whether h holds the VIP on its interface.
func hasVIP(t *testing.T, h *testnet.Host, vip netip.Addr) bool {
	t.Helper()
	return hasAddr(t, h, h.Iface, vip)
}

// hasAddr reports whether h holds addr on iface.
func hasAddr(t *testing.T, h *testnet.Host, iface string, addr netip.Addr) bool {
	t.Helper()
	found := false
	err := h.Do(func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == addr {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// waitVIP polls every 5 ms until h holds the VIP or within passes, and
// returns when it first did.
func waitVIP(t *testing.T, h *testnet.Host, vip netip.Addr, within time.Duration) time.Time {
	t.Helper()
	return waitVIPFrom(t, h, vip, time.Now(), within)
}

// waitVIPFrom is waitVIP with the bound counted from from (the moment a
// master was killed, not when the kill was reaped).
func waitVIPFrom(t *testing.T, h *testnet.Host, vip netip.Addr, from time.Time, within time.Duration) time.Time {
	t.Helper()
	end := from.Add(within)
	for {
		now := time.Now()
		if hasVIP(t, h, vip) {
			return now
		}
		if now.After(end) {
			t.Fatalf("%s did not take the VIP %s within %v", h.Name, vip, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// macOf is the hardware address of h's interface.
func macOf(t *testing.T, h *testnet.Host) string {
	t.Helper()
	return macOfIface(t, h, h.Iface)
}

// macOfIface is the hardware address of h's iface.
func macOfIface(t *testing.T, h *testnet.Host, iface string) string {
	t.Helper()
	var mac string
	if err := h.Do(func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		mac = ifc.HardwareAddr.String()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// clientNeighMAC is the client's neighbour entry for the VIP: the MAC it
// sends VIP traffic to ("" when it has none).
func (pl *pairLab) clientNeighMAC(t *testing.T) string {
	t.Helper()
	return pl.neighMAC(t, pl.Client, pl.VIP4)
}

// neighMAC is h's neighbour entry for addr on its interface ("" when it
// has none).
func (pl *pairLab) neighMAC(t *testing.T, h *testnet.Host, addr netip.Addr) string {
	t.Helper()
	out, err := h.Run(pl.ctx, "ip", "neigh", "show", addr.String(), "dev", h.Iface)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// waitClientMAC waits until the client's neighbour entry for the VIP is
// h's MAC: it followed the new master's gratuitous ARP.
func (pl *pairLab) waitClientMAC(t *testing.T, h *testnet.Host, within time.Duration) {
	t.Helper()
	want := macOf(t, h)
	end := time.Now().Add(within)
	for {
		got := pl.clientNeighMAC(t)
		if got == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("client's neighbour entry for %s is %q, want %s's %s", pl.VIP4, got, h.Name, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkVIPServes makes n new connections to the VIP from the client; every
// one must be answered (by the real servers, through the master).
func (pl *pairLab) checkVIPServes(t *testing.T, n int) {
	t.Helper()
	pl.checkServes(t, pl.VIP4, n)
}

// checkServes is checkVIPServes for vip (the IPv4 or the IPv6 VIP).
func (pl *pairLab) checkServes(t *testing.T, vip netip.Addr, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(pl.ctx, 30*time.Second)
	defer cancel()
	sum, err := pl.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(vip, 80, "/"), N: n, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != n {
		t.Fatalf("%d of %d requests to the VIP answered: %v", sum.OK, n, sum.Errors)
	}
	if len(sum.PerServer) != len(pl.Reals) {
		t.Errorf("answered by %v, want all %d real servers", sum.PerServer, len(pl.Reals))
	}
}
