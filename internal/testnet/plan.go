package testnet

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Mode is the forwarding method a lab is wired for. NAT is the zero value.
type Mode int

// Forwarding methods, as in ipvsadm's -m (masquerading), -g (gatewaying) and
// -i (ipip).
const (
	NAT Mode = iota
	DR
	TUN
)

// String returns "nat", "dr" or "tun".
func (m Mode) String() string {
	switch m {
	case NAT:
		return "nat"
	case DR:
		return "dr"
	case TUN:
		return "tun"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Limits and defaults of Options.
const (
	DefaultReals = 3
	// MaxReals keeps real-server names, interface names (15 bytes) and the
	// address plan (198.18.1.1-99) simple.
	MaxReals = 99
	// MaxDirectors is the most directors a lab has: an active/standby pair.
	MaxDirectors = 2
	DefaultMTU   = 1500
	// MinMTU is IPv6's minimum link MTU: every lab is dual-stack, and the
	// kernel drops IPv6 from a link whose MTU is lower.
	MinMTU = 1280
	MaxMTU = 65535
)

// Options describe a lab. The zero value is a NAT lab with three real servers.
type Options struct {
	// Mode picks the topology: NAT is two-armed, DR and TUN are one-armed.
	Mode Mode
	// Reals is the number of real servers, 1..MaxReals (0 means DefaultReals).
	Reals int
	// Directors is the number of directors, 1..MaxDirectors (0 means 1).
	// Two make an active/standby pair, "director" and "director2", that
	// hold neither the VIP nor (NAT) the real servers' gateway: VRRP owns
	// those. DR/TUN: director2 is 198.18.0.3 and 2001:db8::3 on the one
	// segment. NAT: the client side is a bridge too (ClientSwitch); the
	// directors are .0.2/.0.3 outside and .1.252/.1.253 inside, the
	// gateway .1.254 (IPv6 alike).
	Directors int
	// ECMP puts the directors (1..MaxECMPDirectors, DR only) behind a
	// router that spreads the VIP over them by ECMP (see ecmp.go and the
	// package doc): client — router — directors — bridge — real servers.
	ECMP bool
	// NoStaticECMP leaves an ECMP lab's router without the static
	// multipath route to the VIP, for a test whose routing daemon (BIRD)
	// installs it from BGP.
	NoStaticECMP bool
	// Name is a free label kept in the marker file and shown by Lab.String.
	Name string
	// MTU of the client's link and the director's client-facing link
	// (0 means DefaultMTU).
	MTU int
	// RealMTU is the MTU of the real servers' links and, on NAT, of the
	// director's internal link (0 means MTU). On DR/TUN the bridge silently
	// drops frames larger than a real server's link, as a switch with
	// mismatched MTUs does.
	RealMTU int
	// Forwarding turns the director kernel's IPv4 and IPv6 forwarding on.
	// Off by default so that only xvs can carry client traffic to real servers.
	Forwarding bool
	// TxChecksumOff turns TX checksum offload (and with it TSO) off on every
	// veth end. Labs keep the kernel's defaults otherwise, as users' networks
	// do; only tests about offloads set it (see the package doc).
	TxChecksumOff bool
	// SetupReal, if set, runs for every real server once the lab is wired,
	// for instance to start `xvs decap -i` on h.Iface for TUN. Processes it
	// starts with h.Start are stopped by Close. An error fails New.
	SetupReal func(h *Host) error
	// LabServer is the path of a built labserver binary. Empty: the first
	// Host method that needs it builds it once per process (LabServerPath).
	LabServer string
	// NoSignalHandler keeps New from installing its SIGINT/SIGTERM handler;
	// the caller then must make sure Close runs.
	NoSignalHandler bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Mode < NAT || o.Mode > TUN {
		return o, fmt.Errorf("%w: unknown mode %d", ErrOptions, int(o.Mode))
	}
	if o.Reals == 0 {
		o.Reals = DefaultReals
	}
	if o.Reals < 1 || o.Reals > MaxReals {
		return o, fmt.Errorf("%w: reals %d not in 1..%d", ErrOptions, o.Reals, MaxReals)
	}
	if o.Directors == 0 {
		o.Directors = 1
	}
	maxDirectors := MaxDirectors
	if o.ECMP {
		if o.Mode != DR {
			return o, fmt.Errorf("%w: an ECMP lab is DR, not %s", ErrOptions, o.Mode)
		}
		maxDirectors = MaxECMPDirectors
	}
	if o.Directors < 1 || o.Directors > maxDirectors {
		return o, fmt.Errorf("%w: directors %d not in 1..%d", ErrOptions, o.Directors, maxDirectors)
	}
	if o.MTU == 0 {
		o.MTU = DefaultMTU
	}
	if o.RealMTU == 0 {
		o.RealMTU = o.MTU
	}
	for _, m := range []int{o.MTU, o.RealMTU} {
		if m < MinMTU || m > MaxMTU {
			return o, fmt.Errorf("%w: mtu %d not in %d..%d", ErrOptions, m, MinMTU, MaxMTU)
		}
	}
	return o, nil
}

// Fixed addresses of the plan (see the package doc).
var (
	clientAddr4   = netip.MustParseAddr("198.18.0.1")
	clientAddr6   = netip.MustParseAddr("2001:db8::1")
	directorAddr4 = netip.MustParseAddr("198.18.0.2")
	directorAddr6 = netip.MustParseAddr("2001:db8::2")
	// the second director of a two-director lab.
	director2Addr4 = netip.MustParseAddr("198.18.0.3")
	director2Addr6 = netip.MustParseAddr("2001:db8::3")
	// a NAT pair's external and internal addresses, in Directors' order;
	// the gateway internalAddr4/6 is VRRP's.
	pairExt4 = []netip.Addr{directorAddr4, director2Addr4}
	pairExt6 = []netip.Addr{directorAddr6, director2Addr6}
	pairInt4 = []netip.Addr{netip.MustParseAddr("198.18.1.252"), netip.MustParseAddr("198.18.1.253")}
	pairInt6 = []netip.Addr{netip.MustParseAddr("2001:db8:0:1::252"), netip.MustParseAddr("2001:db8:0:1::253")}
	vip4     = netip.MustParseAddr("198.18.0.10")
	vip6     = netip.MustParseAddr("2001:db8::10")
	// gateway of the NAT real-server segment: the director's internal side.
	internalAddr4 = netip.MustParseAddr("198.18.1.254")
	internalAddr6 = netip.MustParseAddr("2001:db8:0:1::254")
	// NAT segments.
	clientNet4 = netip.MustParsePrefix("198.18.0.0/24")
	clientNet6 = netip.MustParsePrefix("2001:db8::/64")
	realNet4   = netip.MustParsePrefix("198.18.1.0/24")
	realNet6   = netip.MustParsePrefix("2001:db8:0:1::/64")
	// DR/TUN: one segment covering both halves of the plan.
	flatNet4 = netip.MustParsePrefix("198.18.0.0/23")
	flatNet6 = netip.MustParsePrefix("2001:db8::/63")
	// Everything a lab may use.
	labRange4 = netip.MustParsePrefix("198.18.0.0/15")
	labRange6 = netip.MustParsePrefix("2001:db8::/32")
)

// realAddrs returns real server i's addresses (1-based): 198.18.1.i and
// 2001:db8:0:1::i with i's decimal digits read as hex, so both read alike.
func realAddrs(i int) (netip.Addr, netip.Addr) {
	a4 := netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
	a6 := netip.MustParseAddr("2001:db8:0:1::" + strconv.Itoa(i))
	return a4, a6
}

// realName returns real server i's host name, "r1".."r99".
func realName(i int) string { return "r" + strconv.Itoa(i) }

// pfx pairs an address with the prefix length of its segment.
func pfx(a netip.Addr, seg netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(a, seg.Bits())
}

// host32 returns a as a single-address prefix (/32 or /128).
func host32(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
