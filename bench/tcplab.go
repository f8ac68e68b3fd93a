package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// The TCP-load phase's labs (tcpload.go): a testnet lab with nginx on
// every real server and iperf3's server on r1, and the director's set-ups
// of the phase's scenarios.

// tcpLab is one lab of the phase.
type tcpLab struct {
	lab *testnet.Lab
	// method is the xvs forwarding method the lab is for: nat or dr.
	method string
	// dir is the director's part of a bench Lab (its namespace,
	// interfaces and the VIP), which is what execXVS, startNftRules and
	// SetForwarding read.
	dir *Lab
	// dirMAC is the director's client-facing MAC.
	dirMAC net.HardwareAddr
}

// xvsScenario and baseScenario are the lab's two scenarios.
func (tl *tcpLab) xvsScenario() string {
	if tl.method == "dr" {
		return ScXVSDR
	}
	return ScXVSNAT
}

func (tl *tcpLab) baseScenario() string {
	if tl.method == "dr" {
		return ScKernelECMP
	}
	return ScNftDNAT
}

// reals are the real servers' addresses; bulkReal the one of the bulk load.
func (tl *tcpLab) reals() []netip.Addr {
	out := make([]netip.Addr, len(tl.lab.Reals))
	for i, h := range tl.lab.Reals {
		out[i] = h.Addr4
	}
	return out
}

func (tl *tcpLab) bulkReal() netip.Addr { return tl.lab.Reals[0].Addr4 }

// newTCPLab builds a testnet lab for method (nat or dr) with n real
// servers, kernel default offloads, and starts nginx on every real server
// and iperf3's server on r1, pinned to cpu (-1: not pinned). www is the
// directory nginx serves, tmp where each server keeps its files.
func newTCPLab(ctx context.Context, method string, n, cpu int, www, tmp string) (_ *tcpLab, err error) {
	mode := testnet.NAT
	if method == "dr" {
		mode = testnet.DR
	}
	// The bench's context and deferred Close remove the lab on SIGINT and
	// SIGTERM, as for its own labs.
	l, err := testnet.New(testnet.Options{Mode: mode, Reals: n, Name: "bench tcpload " + method, NoSignalHandler: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	ifs := l.DirectorIfaces
	tl := &tcpLab{lab: l, method: method, dir: &Lab{ID: l.ID, DirNS: l.Director.NS, DirExt: ifs[0], DirInt: ifs[len(ifs)-1], VIP: l.VIP4}}
	if err := l.Director.Do(func() error {
		ifc, err := net.InterfaceByName(tl.dir.DirExt)
		if err == nil {
			tl.dirMAC = ifc.HardwareAddr
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("director's MAC: %w", err)
	}
	if method == "dr" {
		// kernel-ecmp takes the VIP off the director, which then no
		// longer answers ARP for it; the client's entry stays.
		if _, err := l.Client.Run(ctx, "ip", "neigh", "replace", l.VIP4.String(), "lladdr", tl.dirMAC.String(),
			"dev", l.Client.Iface, "nud", "permanent"); err != nil {
			return nil, err
		}
	}
	nginx := make([]*testnet.Proc, len(l.Reals))
	for i, h := range l.Reals {
		if nginx[i], err = startNginx(ctx, h, cpu, www, filepath.Join(tmp, h.Name)); err != nil {
			return nil, err
		}
	}
	r1 := l.Reals[0]
	name, args := pinned(cpu, "iperf3", "-s", "-p", strconv.Itoa(iperfPort))
	iperf, err := r1.Start(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	for i, h := range l.Reals {
		if err := waitListen(ctx, h, httpPort, nginx[i]); err != nil {
			return nil, err
		}
	}
	if err := waitListen(ctx, r1, iperfPort, iperf); err != nil {
		return nil, err
	}
	return tl, nil
}

// pinned prefixes argv with taskset for cpu (-1: returns argv).
func pinned(cpu int, argv ...string) (string, []string) {
	if cpu < 0 {
		return argv[0], argv[1:]
	}
	return "taskset", append([]string{"-c", strconv.Itoa(cpu)}, argv...)
}

// nginxConfig is one real server's nginx.conf: one worker in the
// foreground, no access log, the static files of www on port 80, every
// path nginx writes under dir.
func nginxConfig(www, dir string) string {
	return fmt.Sprintf(`daemon off;
user root;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen %[3]d;
		root %[1]s;
	}
}
`, www, dir, httpPort)
}

// startNginx starts nginx on real server h, serving www.
func startNginx(ctx context.Context, h *testnet.Host, cpu int, www, dir string) (*testnet.Proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(www, dir)), 0o644); err != nil {
		return nil, err
	}
	name, args := pinned(cpu, "nginx", "-c", conf, "-p", dir)
	return h.Start(ctx, name, args...)
}

// writeWWW writes the file nginx serves into dir.
func writeWWW(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, httpFile), []byte(strings.Repeat("x", httpFileSize-1)+"\n"), 0o644)
}

// waitListen waits up to five seconds until something listens on TCP
// port in h's namespace (ss; a test connection would start an iperf3
// test); the error carries what p, the server, printed.
func waitListen(ctx context.Context, h *testnet.Host, port int, p *testnet.Proc) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := h.Run(ctx, "ss", "-Hltn", "sport = :"+strconv.Itoa(port))
		if err == nil && strings.TrimSpace(string(out)) != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on TCP port %d after 5s (%v): %q printed: %s", h, port, err, p.Cmd.Args, lastLines(p.Output(), 3))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tl *tcpLab) Close() error { return tl.lab.Close() }

// nsInodes returns the inodes of the lab's namespaces, for scanCPU.
func (tl *tcpLab) nsInodes() map[uint64]bool {
	m := map[uint64]bool{}
	for _, ns := range tl.lab.Namespaces() {
		if fi, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				m[st.Ino] = true
			}
		}
	}
	return m
}

// tcpLoadConfig is the daemon's YAML for the phase: the VIP's HTTP port
// over every real server (rr) and iperf3's port to the bulk real server.
func tcpLoadConfig(vip netip.Addr, reals []netip.Addr, bulk netip.Addr, method string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, s := range []struct {
		port  int
		reals []netip.Addr
	}{{httpPort, reals}, {iperfPort, []netip.Addr{bulk}}} {
		fmt.Fprintf(&b, "  - proto: tcp\n    vip: %s\n    port: %d\n    scheduler: rr\n    reals:\n", vip, s.port)
		for _, a := range s.reals {
			fmt.Fprintf(&b, "      - {address: %s, port: %d, weight: 1, method: %s}\n", a, s.port, method)
		}
	}
	return b.String()
}

// tcpNftRuleset DNATs the VIP's HTTP port to the real servers in turn
// (numgen inc, like rr) and iperf3's port to the bulk real server.
func tcpNftRuleset(vip netip.Addr, reals []netip.Addr, bulk netip.Addr) string {
	var m []string
	for i, a := range reals {
		m = append(m, fmt.Sprintf("%d : %s", i, a))
	}
	return fmt.Sprintf(`table ip %s {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %s tcp dport %d dnat to numgen inc mod %d map { %s }
		ip daddr %s tcp dport %d dnat to %s
	}
}
`, nftTable, vip, httpPort, len(reals), strings.Join(m, ", "), vip, iperfPort, bulk)
}

// ecmpRoute is the kernel-ecmp route of the VIP over the real servers
// (`ip route` arguments): a multipath route, or a plain one for one real
// server.
func ecmpRoute(vip netip.Addr, reals []netip.Addr, dev string) []string {
	args := []string{"route", "replace", netip.PrefixFrom(vip, 32).String()}
	if len(reals) == 1 {
		return append(args, "via", reals[0].String(), "dev", dev)
	}
	for _, a := range reals {
		args = append(args, "nexthop", "via", a.String(), "dev", dev)
	}
	return args
}

// multipathHashKey picks what the kernel hashes a flow on to choose a
// multipath route's next hop; its default (0) is the addresses alone,
// which sends every connection of the one client to the same real
// server. kernel-ecmp sets 1 (addresses, protocol and ports, the
// five-tuple xvs's connection table is keyed on) for its trials and puts
// the old value back after.
const multipathHashKey = "net.ipv4.fib_multipath_hash_policy"

// startKernelECMP sets kernel-ecmp up on the DR lab's director for load:
// forwarding on, the VIP off its interface, the VIP routed over the real
// servers (http) or to the bulk one (bulk) with the five-tuple hash.
func startKernelECMP(ctx context.Context, tl *tcpLab, load string) (_ Director, err error) {
	d := tl.lab.Director
	reals := tl.reals()
	if load == LoadBulk {
		reals = []netip.Addr{tl.bulkReal()}
	}
	var undo []func() error
	stop := func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, stop())
		}
	}()
	var old string
	if err := d.Do(func() error {
		var err error
		old, err = readFileTrim(sysctlPath(multipathHashKey))
		return err
	}); err != nil {
		return nil, err
	}
	if err := d.Sysctl(multipathHashKey, "1"); err != nil {
		return nil, err
	}
	undo = append(undo, func() error { return d.Sysctl(multipathHashKey, old) })
	vip := netip.PrefixFrom(tl.lab.VIP4, 32).String()
	if _, err := d.Run(ctx, "ip", "addr", "del", vip, "dev", tl.dir.DirExt); err != nil {
		return nil, err
	}
	undo = append(undo, func() error {
		_, err := d.Run(context.Background(), "ip", "addr", "add", vip, "dev", tl.dir.DirExt)
		return err
	})
	if _, err := d.Run(ctx, "ip", ecmpRoute(tl.lab.VIP4, reals, tl.dir.DirExt)...); err != nil {
		return nil, err
	}
	undo = append(undo, func() error {
		_, err := d.Run(context.Background(), "ip", "route", "del", vip)
		return err
	})
	if err := tl.dir.SetForwarding(true); err != nil {
		return nil, err
	}
	undo = append(undo, func() error { return tl.dir.SetForwarding(false) })
	return funcDirector(stop), nil
}

// sysctlPath is key's file under /proc/sys.
func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }
