package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// The bench lays out its own topologies instead of internal/testnet's
// labs, and testnet names, builds and removes them: a benchmark wants no
// bridge on the path (a bridge hop costs every scenario a few hundred
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
// real servers apart. Names are testnet's: the namespaces are ID-gen, ID-dir
// and ID-real for a testnet lab ID, with its marker file, so
// testnet.CleanupStale removes a lab whose bench died.

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

// netnsDir is where `ip netns` keeps the namespaces' bind mounts.
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

	topo *testnet.Topology
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
	tp, err := testnet.NewTopology(fmt.Sprintf("bench %d-armed", arms))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := newLab(tp, arms, n)
	if arms == 2 {
		l.planTwoArmed()
	} else {
		l.planOneArmed()
	}
	if err := tp.Build(ctx); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	// Offloads stay at the kernel's defaults (TX checksum offload and TSO on
	// every veth end), as in users' networks: xvs completes partial
	// checksums itself (encap.CompletePartialChecksum).
	if l.Sink, err = AttachSink(l.RealNS, l.Trunk, l.SinkPrefix, probePort); err != nil {
		return nil, err
	}
	return l, nil
}

// newLab names the lab's namespaces, interfaces and MACs in tp; nothing is
// laid out yet.
func newLab(tp *testnet.Topology, arms, n int) *Lab {
	run := byte(os.Getpid())
	mac := func(kind, i byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0x58, 0x42, kind, run, i} }
	l := &Lab{
		ID: tp.ID, Arms: arms, topo: tp,
		GenNS: tp.NS("gen"), DirNS: tp.NS("dir"), RealNS: tp.NS("real"),
		GenIface: tp.Iface("g"), Trunk: tp.Iface("t"),
		GenMAC: mac('G', 1), DirExtMAC: mac('D', 1), DirIntMAC: mac('D', 2),
		GenAddr: genAddr, DirAddr: dirAddr, VIP: labVIP,
		SinkPrefix: [5]byte{0x02, 0x58, 0x42, 'R', run},
	}
	for i := 1; i <= n; i++ {
		l.Reals = append(l.Reals, Real{Iface: tp.Iface(fmt.Sprintf("r%d", i)), Addr: realAddr(i), MAC: mac('R', byte(i))})
	}
	if arms == 2 {
		l.DirExt, l.DirInt = tp.Iface("dx"), tp.Iface("di")
	} else {
		l.DirExt, l.DirInt = tp.Iface("d"), tp.Iface("d")
		l.DirIntMAC = l.DirExtMAC
	}
	return l
}

// nodes adds the three namespaces with their sysctls: no reverse-path
// filtering anywhere (flows come from addresses no route points at), no
// ICMP redirects from a hairpinning director, forwarding off until a
// scenario turns it on, and LVS-style ARP on the real servers (they hold the
// VIP on lo in the one-armed lab).
func (l *Lab) nodes() (gen, dir, real *testnet.Node) {
	common := [][2]string{
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
	}
	gen, dir, real = l.topo.AddNode("gen"), l.topo.AddNode("dir"), l.topo.AddNode("real")
	gen.Sysctls = common
	dir.Sysctls = append([][2]string{
		{"net.ipv4.conf.all.send_redirects", "0"},
		{"net.ipv4.conf.default.send_redirects", "0"},
		{"net.ipv4.ip_forward", "0"},
	}, common...)
	dir.IfSysctls = [][2]string{{"net.ipv4.conf." + l.DirExt + ".rp_filter", "0"}}
	if l.DirInt != l.DirExt {
		dir.IfSysctls = append(dir.IfSysctls, [2]string{"net.ipv4.conf." + l.DirInt + ".rp_filter", "0"})
	}
	real.Sysctls = append([][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"},
		{"net.ipv4.conf.all.arp_announce", "2"},
	}, common...)
	return gen, dir, real
}

// planTwoArmed lays out the two-armed lab (see the picture above).
func (l *Lab) planTwoArmed() {
	gen, dir, real := l.nodes()
	l.topo.Veths = []testnet.Veth{
		{A: testnet.End{NS: gen.NS, Name: l.GenIface, MAC: l.GenMAC}, B: testnet.End{NS: dir.NS, Name: l.DirExt, MAC: l.DirExtMAC}},
		{A: testnet.End{NS: dir.NS, Name: l.DirInt, MAC: l.DirIntMAC}, B: testnet.End{NS: real.NS, Name: l.Trunk, MAC: mac5(l.SinkPrefix, 0)}},
	}
	gen.Ifaces = []testnet.Iface{{Name: l.GenIface, Addrs: addrs(l.GenAddr, 24)}}
	gen.Routes = []testnet.Route{{Dst: netip.MustParsePrefix("198.18.1.0/24"), Via: l.DirAddr}}
	gen.Neighbours = []testnet.Neighbour{perm(l.DirAddr, l.DirExtMAC, l.GenIface), perm(l.VIP, l.DirExtMAC, l.GenIface)}

	dir.Ifaces = []testnet.Iface{
		{Name: l.DirExt, Addrs: append(addrs(l.DirAddr, 24), testnet.AddrOf(l.VIP))},
		{Name: l.DirInt, Addrs: addrs(dirIntAddr, 24)},
	}
	dir.Neighbours = []testnet.Neighbour{perm(l.GenAddr, l.GenMAC, l.DirExt)}
	dir.Routes = []testnet.Route{{Dst: netip.PrefixFrom(flowSrcBase, 16), Via: l.GenAddr}}

	real.Ifaces = []testnet.Iface{{Name: l.Trunk}}
	for _, r := range l.Reals {
		dir.Neighbours = append(dir.Neighbours, perm(r.Addr, r.MAC, l.DirInt))
		l.topo.Macvlans = append(l.topo.Macvlans, testnet.Macvlan{Name: r.Iface, MAC: r.MAC, ParentNS: real.NS, Parent: l.Trunk})
		real.Ifaces = append(real.Ifaces, testnet.Iface{Name: r.Iface, Addrs: addrs(r.Addr, 24)})
		real.Neighbours = append(real.Neighbours, perm(dirIntAddr, l.DirIntMAC, r.Iface))
	}
	real.Routes = []testnet.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: dirIntAddr, Dev: l.Reals[0].Iface}}
}

// planOneArmed lays out the one-armed lab (see the picture above).
func (l *Lab) planOneArmed() {
	gen, dir, real := l.nodes()
	l.topo.Veths = []testnet.Veth{
		{A: testnet.End{NS: dir.NS, Name: l.DirExt, MAC: l.DirExtMAC}, B: testnet.End{NS: real.NS, Name: l.Trunk, MAC: mac5(l.SinkPrefix, 0)}},
	}
	dir.Ifaces = []testnet.Iface{{Name: l.DirExt, Addrs: append(addrs(l.DirAddr, 23), testnet.AddrOf(l.VIP))}}
	dir.Neighbours = []testnet.Neighbour{perm(l.GenAddr, l.GenMAC, l.DirExt)}
	dir.Routes = []testnet.Route{{Dst: netip.PrefixFrom(flowSrcBase, 16), Via: l.GenAddr}}

	// The generator is one more macvlan on the trunk, in its own namespace.
	l.topo.Macvlans = []testnet.Macvlan{{Name: l.GenIface, MAC: l.GenMAC, ParentNS: real.NS, Parent: l.Trunk, NS: gen.NS}}
	gen.Ifaces = []testnet.Iface{{Name: l.GenIface, Addrs: addrs(l.GenAddr, 23)}}
	gen.Neighbours = []testnet.Neighbour{perm(l.DirAddr, l.DirExtMAC, l.GenIface), perm(l.VIP, l.DirExtMAC, l.GenIface)}

	real.Ifaces = []testnet.Iface{{Name: l.Trunk}, {Name: "lo", Addrs: []testnet.Addr{testnet.AddrOf(l.VIP)}}}
	for _, r := range l.Reals {
		dir.Neighbours = append(dir.Neighbours, perm(r.Addr, r.MAC, l.DirExt))
		gen.Neighbours = append(gen.Neighbours, perm(r.Addr, r.MAC, l.GenIface))
		l.topo.Macvlans = append(l.topo.Macvlans, testnet.Macvlan{Name: r.Iface, MAC: r.MAC, ParentNS: real.NS, Parent: l.Trunk})
		real.Ifaces = append(real.Ifaces, testnet.Iface{Name: r.Iface, Addrs: addrs(r.Addr, 23)})
		real.Neighbours = append(real.Neighbours, perm(l.DirAddr, l.DirExtMAC, r.Iface), perm(l.GenAddr, l.GenMAC, r.Iface))
	}
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

// SteerRPS sets the RPS CPU mask of every receive queue of the director's
// interfaces (0: RPS off, the kernel's default), which moves the kernel's
// forwarding of what they receive to the CPUs of mask. `ip netns exec`
// mounts the namespace's own sysfs, where those queues are.
func (l *Lab) SteerRPS(ctx context.Context, mask int) error {
	ifs := []string{l.DirExt}
	if l.DirInt != l.DirExt {
		ifs = append(ifs, l.DirInt)
	}
	for _, ifc := range ifs {
		script := fmt.Sprintf("for q in /sys/class/net/%s/queues/rx-*/rps_cpus; do echo %x > $q || exit 1; done", ifc, mask)
		if out, err := Command(ctx, l.DirNS, "sh", "-c", script).CombinedOutput(); err != nil {
			return fmt.Errorf("rps_cpus %x on %s: %w: %s", mask, ifc, err, out)
		}
	}
	return nil
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

// Close removes the lab: the sink, then (testnet) every process left in its
// namespaces and the namespaces (their interfaces go with them).
func (l *Lab) Close() error {
	var errs []error
	if l.Sink != nil {
		errs = append(errs, l.Sink.Close())
		l.Sink = nil
	}
	if l.topo != nil {
		errs = append(errs, l.topo.Close())
	}
	return errors.Join(errs...)
}

// addrs returns a as the one address of a /bits segment.
func addrs(a netip.Addr, bits int) []testnet.Addr {
	return []testnet.Addr{{Prefix: netip.PrefixFrom(a, bits)}}
}

func perm(a netip.Addr, mac net.HardwareAddr, dev string) testnet.Neighbour {
	return testnet.Neighbour{Addr: a, MAC: mac, Dev: dev}
}

func mac5(p [5]byte, last byte) net.HardwareAddr {
	return net.HardwareAddr{p[0], p[1], p[2], p[3], p[4], last}
}
