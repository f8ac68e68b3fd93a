package main

import (
	"context"
	"fmt"
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

// Helpers of the failover tests (failover_*_e2e_test.go): a lab with two
// directors (testnet's Options.Directors) and one xvs daemon per director
// with its own keepalived.conf, socket and metrics port; keepalived as a
// director is in pair_keepalived_e2e_test.go, the probes that time a
// takeover in pair_probe_e2e_test.go.
//
//	DR:  client, director (.0.2), director2 (.0.3), r1..r3 on one bridge;
//	     the VIP .0.10 is on whichever director VRRP makes master.
//	NAT: client and both directors' external links on cswitch, their
//	     internal links and r1..r3 on switch; VI_1 holds the VIP outside,
//	     VI_GW the real servers' gateway .1.254 inside.

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
