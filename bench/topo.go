package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// The bench builds its own labs instead of internal/testnet's: a benchmark
// wants no bridge on the path (a bridge hop costs every scenario a few hundred
// nanoseconds of the same core and flattens the ratios), one link where the
// counting sink sees every real server's frames, and a generator it can
// address at L2 with pre-built frames.
//
// Two-armed lab (NAT, kernel forwarding, nftables DNAT, two-armed bounce):
//
//	gen ns              dir ns                               real ns
//	ID-g ───── veth ─── ID-dx  198.18.0.2/24, VIP/32
//	198.18.0.1/24       ID-di  198.18.1.254/24 ─── veth ──── ID-t   (sink XDP)
//	                                                          ├ ID-r1 macvlan 198.18.1.1/24
//	                                                          └ ID-rN macvlan 198.18.1.N/24
//	                                                          default via 198.18.1.254
//
// One-armed lab (DR, TUN, one-armed bounce): the generator is one more
// macvlan on the real servers' trunk, moved into its own namespace, so
// client, director and real servers share one segment, 198.18.0.0/23, and
// the real servers answer the client directly:
//
//	gen ns: ID-g (macvlan on ID-t) 198.18.0.1/23
//	dir ns: ID-d 198.18.0.2/23, VIP/32 ─── veth ─── real ns: ID-t (sink XDP)
//	                                                  ├ ID-r1 .. ID-rN 198.18.1.i/23
//	                                                  └ lo: VIP/32, arp_ignore=1, arp_announce=2
//
// Every neighbour entry is static (nud permanent): no ARP on the measured path.
// Real server i's MAC is the sink prefix + i, which is how the sink tells
// real servers apart.

// Addresses of the plan. Generator flows come from SrcBase upwards
// (198.19.0.0/16), which no interface holds.
var (
	genAddr     = netip.MustParseAddr("198.18.0.1")
	dirAddr     = netip.MustParseAddr("198.18.0.2")
	labVIP      = netip.MustParseAddr("198.18.0.10")
	dirIntAddr  = netip.MustParseAddr("198.18.1.254")
	flowSrcBase = netip.MustParseAddr("198.19.0.0")
)

func realAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}) }

// Lab name pattern: "xb" + pid (base 36) + "a" + arms, then "-" + role.
var labNSRE = regexp.MustCompile(`^xb([0-9a-z]+)a([12])-(gen|dir|real)$`)

const netnsDir = "/run/netns"

// MaxReals bounds real servers per lab (one sink slot each, names short).
const MaxReals = 16

// Real is one real server of a lab.
type Real struct {
	Iface string
	Addr  netip.Addr
	MAC   net.HardwareAddr
}

// Lab is a built topology. Fields are read-only after NewLab.
type Lab struct {
	ID   string
	Arms int // 1 or 2
	// Namespaces.
	GenNS, DirNS, RealNS string
	// GenIface is the generator's interface; DirExt faces the generator,
	// DirInt the real servers (both the same on a one-armed lab); Trunk is
	// the real servers' link end carrying the sink.
	GenIface, DirExt, DirInt, Trunk string
	GenMAC, DirExtMAC, DirIntMAC    net.HardwareAddr
	GenAddr, DirAddr, VIP           netip.Addr
	Reals                           []Real
	SinkPrefix                      [5]byte
	Sink                            *Sink
}

// NewLab builds a lab with arms 1 or 2 and n real servers and attaches the
// sink (which passes UDP to probePort). On error everything built is removed.
func NewLab(ctx context.Context, arms, n int, probePort uint16) (_ *Lab, err error) {
	if arms != 1 && arms != 2 {
		return nil, fmt.Errorf("lab: %d arms: want 1 or 2", arms)
	}
	if n < 1 || n > MaxReals {
		return nil, fmt.Errorf("lab: %d reals not in 1..%d", n, MaxReals)
	}
	pid := os.Getpid()
	id := "xb" + strconv.FormatInt(int64(pid), 36) + "a" + strconv.Itoa(arms)
	run := byte(pid)
	mac := func(kind, i byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0x58, 0x42, kind, run, i} }
	l := &Lab{
		ID: id, Arms: arms,
		GenNS: id + "-gen", DirNS: id + "-dir", RealNS: id + "-real",
		GenIface: id + "-g", Trunk: id + "-t",
		GenMAC: mac('G', 1), DirExtMAC: mac('D', 1), DirIntMAC: mac('D', 2),
		GenAddr: genAddr, DirAddr: dirAddr, VIP: labVIP,
		SinkPrefix: [5]byte{0x02, 0x58, 0x42, 'R', run},
	}
	for i := 1; i <= n; i++ {
		l.Reals = append(l.Reals, Real{Iface: id + "-r" + strconv.Itoa(i), Addr: realAddr(i), MAC: mac('R', byte(i))})
	}
	if arms == 2 {
		l.DirExt, l.DirInt = id+"-dx", id+"-di"
	} else {
		l.DirExt, l.DirInt = id+"-d", id+"-d"
		l.DirIntMAC = l.DirExtMAC
	}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	for _, ns := range []string{l.GenNS, l.DirNS, l.RealNS} {
		if _, statErr := os.Stat(netnsDir + "/" + ns); statErr == nil {
			_ = deleteNS(ns) // a leftover of this pid: a crash of an earlier process with the same pid
		}
		if err = ipBatch(ctx, "", []string{"netns add " + ns}); err != nil {
			return nil, err
		}
	}
	if arms == 2 {
		err = l.wireTwoArmed(ctx)
	} else {
		err = l.wireOneArmed(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err = l.sysctls(); err != nil {
		return nil, err
	}
	// Offloads stay at the kernel's defaults (TX checksum offload and TSO on
	// every veth end), as in users' networks: xvs completes partial
	// checksums itself (encap.CompletePartialChecksum).
	if l.Sink, err = AttachSink(l.RealNS, l.Trunk, l.SinkPrefix, probePort); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) wireTwoArmed(ctx context.Context) error {
	gen := []string{
		fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %s", l.GenIface, l.GenMAC, l.DirExt, l.DirExtMAC, l.DirNS),
		"link set lo up",
		"link set " + l.GenIface + " up",
		"addr add " + l.GenAddr.String() + "/24 dev " + l.GenIface,
		"route add 198.18.1.0/24 via " + l.DirAddr.String(),
		perm(l.DirAddr, l.DirExtMAC, l.GenIface),
		perm(l.VIP, l.DirExtMAC, l.GenIface),
	}
	dir := []string{
		fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %s", l.DirInt, l.DirIntMAC, l.Trunk, mac5(l.SinkPrefix, 0), l.RealNS),
		"link set lo up",
		"link set " + l.DirExt + " up",
		"link set " + l.DirInt + " up",
		"addr add " + l.DirAddr.String() + "/24 dev " + l.DirExt,
		"addr add " + l.VIP.String() + "/32 dev " + l.DirExt,
		"addr add " + dirIntAddr.String() + "/24 dev " + l.DirInt,
		perm(l.GenAddr, l.GenMAC, l.DirExt),
		"route add " + flowSrcBase.String() + "/16 via " + l.GenAddr.String(),
	}
	for _, r := range l.Reals {
		dir = append(dir, perm(r.Addr, r.MAC, l.DirInt))
	}
	real := []string{"link set lo up", "link set " + l.Trunk + " up"}
	for _, r := range l.Reals {
		real = append(real,
			fmt.Sprintf("link add link %s name %s address %s type macvlan mode bridge", l.Trunk, r.Iface, r.MAC),
			"link set "+r.Iface+" up",
			"addr add "+r.Addr.String()+"/24 dev "+r.Iface,
			perm(dirIntAddr, l.DirIntMAC, r.Iface),
		)
	}
	real = append(real, "route add default via "+dirIntAddr.String()+" dev "+l.Reals[0].Iface)
	// Order matters: the generator creates the first veth pair, whose peer
	// lands in the director namespace, which creates the second.
	for _, step := range []struct {
		ns    string
		lines []string
	}{{l.GenNS, gen}, {l.DirNS, dir}, {l.RealNS, real}} {
		if err := ipBatch(ctx, step.ns, step.lines); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) wireOneArmed(ctx context.Context) error {
	dir := []string{
		fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %s", l.DirExt, l.DirExtMAC, l.Trunk, mac5(l.SinkPrefix, 0), l.RealNS),
		"link set lo up",
		"link set " + l.DirExt + " up",
		"addr add " + l.DirAddr.String() + "/23 dev " + l.DirExt,
		"addr add " + l.VIP.String() + "/32 dev " + l.DirExt,
		perm(l.GenAddr, l.GenMAC, l.DirExt),
		"route add " + flowSrcBase.String() + "/16 via " + l.GenAddr.String(),
	}
	for _, r := range l.Reals {
		dir = append(dir, perm(r.Addr, r.MAC, l.DirExt))
	}
	real := []string{
		"link set lo up",
		"link set " + l.Trunk + " up",
		"addr add " + l.VIP.String() + "/32 dev lo",
		fmt.Sprintf("link add link %s name %s address %s type macvlan mode bridge", l.Trunk, l.GenIface, l.GenMAC),
		"link set " + l.GenIface + " netns " + l.GenNS,
	}
	for _, r := range l.Reals {
		real = append(real,
			fmt.Sprintf("link add link %s name %s address %s type macvlan mode bridge", l.Trunk, r.Iface, r.MAC),
			"link set "+r.Iface+" up",
			"addr add "+r.Addr.String()+"/23 dev "+r.Iface,
			perm(l.DirAddr, l.DirExtMAC, r.Iface),
			perm(l.GenAddr, l.GenMAC, r.Iface),
		)
	}
	gen := []string{
		"link set lo up",
		"link set " + l.GenIface + " up",
		"addr add " + l.GenAddr.String() + "/23 dev " + l.GenIface,
		perm(l.DirAddr, l.DirExtMAC, l.GenIface),
		perm(l.VIP, l.DirExtMAC, l.GenIface),
	}
	for _, r := range l.Reals {
		gen = append(gen, perm(r.Addr, r.MAC, l.GenIface))
	}
	for _, step := range []struct {
		ns    string
		lines []string
	}{{l.DirNS, dir}, {l.RealNS, real}, {l.GenNS, gen}} {
		if err := ipBatch(ctx, step.ns, step.lines); err != nil {
			return err
		}
	}
	return nil
}

// sysctls: no reverse-path filtering anywhere (flows come from addresses no
// route points at), no ICMP redirects from a hairpinning director,
// forwarding off until a scenario turns it on, and LVS-style ARP on the
// real servers (they hold the VIP on lo in the one-armed lab).
func (l *Lab) sysctls() error {
	common := map[string]string{
		"net/ipv4/conf/all/rp_filter":     "0",
		"net/ipv4/conf/default/rp_filter": "0",
	}
	set := func(ns string, kv map[string]string) error {
		return testnet.DoIn(ns, func() error {
			for k, v := range kv {
				if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0); err != nil {
					return fmt.Errorf("%s: sysctl %s=%s: %w", ns, k, v, err)
				}
			}
			return nil
		})
	}
	dir := map[string]string{
		"net/ipv4/conf/all/send_redirects":         "0",
		"net/ipv4/conf/default/send_redirects":     "0",
		"net/ipv4/ip_forward":                      "0",
		"net/ipv4/conf/" + l.DirExt + "/rp_filter": "0",
		"net/ipv4/conf/" + l.DirInt + "/rp_filter": "0",
	}
	real := map[string]string{
		"net/ipv4/conf/all/arp_ignore":   "1",
		"net/ipv4/conf/all/arp_announce": "2",
	}
	for k, v := range common {
		dir[k], real[k] = v, v
	}
	for _, s := range []struct {
		ns string
		kv map[string]string
	}{{l.GenNS, common}, {l.DirNS, dir}, {l.RealNS, real}} {
		if err := set(s.ns, s.kv); err != nil {
			return err
		}
	}
	return nil
}

// SetForwarding turns the director kernel's IPv4 forwarding on or off.
func (l *Lab) SetForwarding(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return testnet.DoIn(l.DirNS, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(v), 0)
	})
}

// RealAddrs returns the real servers' addresses.
func (l *Lab) RealAddrs() []netip.Addr {
	out := make([]netip.Addr, len(l.Reals))
	for i, r := range l.Reals {
		out[i] = r.Addr
	}
	return out
}

// Command returns `ip netns exec ns name args...`, killed with ctx and when
// the bench dies (PR_SET_PDEATHSIG).
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", ns, name}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Close removes the lab: the sink, every process left in its namespaces and
// the namespaces (their interfaces go with them).
func (l *Lab) Close() error {
	var errs []error
	if l.Sink != nil {
		errs = append(errs, l.Sink.Close())
		l.Sink = nil
	}
	for _, ns := range []string{l.GenNS, l.DirNS, l.RealNS} {
		if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
			errs = append(errs, deleteNS(ns))
		}
	}
	return errors.Join(errs...)
}

// deleteNS kills whatever still runs in ns and deletes it.
func deleteNS(ns string) error {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	var err error
	for range 20 { // a process just killed may hold the namespace a moment longer
		if err = ipBatch(context.Background(), "", []string{"netns del " + ns}); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// CleanupStale deletes the namespaces of bench labs whose creator is gone
// (killed hard, so its own cleanup never ran). Labs of a live xvs-bench
// process are left alone.
func CleanupStale() error {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		m := labNSRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.ParseInt(m[1], 36, 32)
		if err != nil || int(pid) == os.Getpid() || benchAlive(int(pid)) {
			continue // not ours to judge, ours (NewLab replaces it), or a live run's
		}
		errs = append(errs, deleteNS(e.Name()))
	}
	return errors.Join(errs...)
}

// benchAlive reports whether pid is a running xvs-bench or test binary
// (this package's tests build labs too).
func benchAlive(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	c := strings.TrimSpace(string(comm))
	return err == nil && (c == "xvs-bench" || strings.HasSuffix(c, ".test"))
}

func perm(a netip.Addr, mac net.HardwareAddr, dev string) string {
	return fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", a, mac, dev)
}

func mac5(p [5]byte, last byte) net.HardwareAddr {
	return net.HardwareAddr{p[0], p[1], p[2], p[3], p[4], last}
}

// ipBatch runs `ip [-n ns] -batch -` with lines.
func ipBatch(ctx context.Context, ns string, lines []string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
