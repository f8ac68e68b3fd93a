// Package testnet builds and tears down the network-namespace labs that xvs's
// end-to-end tests, `make demo` and `make bench` run in: a client, a director
// and N real servers, wired with veth pairs and one Linux bridge, plus the
// labserver program (HTTP/UDP real servers and clients) and a Go API to drive it;
// the Topology those labs are built from, which the benchmark harness lays out
// in its own shapes; and NewNetNS, the one namespace helper for tests.
//
// # What a lab touches
//
// Only namespaces it creates. Every veth pair is created inside a lab namespace
// with its peer placed directly in another one (`ip -n NS link add ... peer name
// X netns NS2`), and a macvlan inside its parent's lab namespace, moved from there
// to another lab namespace, so nothing is ever configured in the root namespace: its eth0,
// addresses and routes are never looked at. The root namespace only sees the
// names under /run/netns and a marker file under /run/xvs-testnet/.
//
// # Names
//
// A lab's ID is "xvs" + the creator's pid in base 36 + a two-character per-process
// sequence, e.g. "xvs9ix01". Namespaces are ID + "-" + host name ("xvs9ix01-client",
// "-director", "-switch", "-r1" ... "-r99"); interfaces are ID + "-" + a short tag
// ("xvs9ix01-c", "-d", "-dx", "-di", "-r1"; the switch-side ends add "s": "-sc",
// "-sr1"; the bridge is "-br"), at most 15 characters. The benchmark's labs are
// "ID-gen", "-dir" and "-real"; a NewNetNS namespace is "ID-ns", each with its own
// ID. Because the pid is in the name, CleanupStale (called once per process by
// New, NewTopology and NewNetNS) recognises labs whose
// creator died and deletes them together with any process still inside; the
// marker file (/run/xvs-testnet/ID) holds the creator's start time, so a reused
// pid is not mistaken for the creator, and proves the namespaces are this
// package's: where there is no marker, nothing is removed.
//
// # Topologies and address plan
//
// Both address families are always configured; tests pick per family. IPv4 lives
// in 198.18.0.0/15, IPv6 in 2001:db8::/32, and the last IPv4 octet is written as
// the last IPv6 group ("r12" is 198.18.1.12 and 2001:db8:0:1::12).
//
//	                     IPv4              IPv6
//	client               198.18.0.1        2001:db8::1
//	director (ext)       198.18.0.2        2001:db8::2
//	VIP                  198.18.0.10       2001:db8::10
//	director (int, NAT)  198.18.1.254      2001:db8:0:1::254
//	real server i        198.18.1.i        2001:db8:0:1::i      (i = 1..99)
//
// NAT (two-armed, as LVS-NAT): the client segment is 198.18.0.0/24 and
// 2001:db8::/64, the real-server segment 198.18.1.0/24 and 2001:db8:0:1::/64.
// The VIP is a /32 (/128) on the director's external interface. Real servers'
// default route points at the director's internal address, so replies come back
// through the director. The client has a route to the real-server segment via the
// director, but the director's kernel forwarding is off (Options.Forwarding turns
// it on), so nothing reaches a real server unless xvs forwards it.
//
//	 client ns               director ns                  switch ns           r1..rN ns
//	+-----------+  veth  +-----------------+          +-------------+  veth  +-----------+
//	| ID-c      |--------| ID-dx  external |          |             |--------| ID-r1     |
//	| .0.1/24   |        | .0.2/24         |   veth   |  bridge     |        | .1.1/24   |
//	+-----------+        | VIP .0.10/32    |          |  ID-br      |  ...   | gw .1.254 |
//	                     | ID-di  internal |----------|             |--------| ID-rN     |
//	                     | .1.254/24       |          +-------------+        +-----------+
//	                     +-----------------+
//
// DR and TUN (one-armed): client, director and real servers share one bridged
// segment, 198.18.0.0/23 and 2001:db8::/63, so the client reaches the real
// servers directly (DR needs L2 adjacency; real servers answer the client
// directly). The director has one interface holding its address and the VIP
// (it answers ARP/ND for the VIP). Real servers hold the VIP on lo (/32, /128
// nodad) with arp_ignore=1 and arp_announce=2 (all and the interface), as an LVS
// operator sets them up; TUN real servers also get rp_filter=0 (all and the
// interface). The kernels here have no ipip driver: a TUN test runs xvs's own XDP
// decapsulator on each real server's interface (Host.Iface, Lab.RealIfaces),
// from Options.SetupReal or after New.
//
//	                       switch ns: bridge ID-br
//	     +-------------+---------------+--------------+-----   -----+
//	     |             |               |              |             |
//	client ns     director ns        r1 ns          r2 ns   ...    rN ns
//	ID-c          ID-d               ID-r1          ID-r2          ID-rN
//	.0.1/23       .0.2/23            .1.1/23        .1.2/23        .1.N/23
//	              VIP .0.10/32       lo: VIP/32     lo: VIP/32     lo: VIP/32
//
// Options.Directors = 2 adds an active/standby pair, "director" and
// "director2", neither of which holds the VIP: the VRRP speaker (xvs's or
// keepalived's) of whichever is master adds it to its interface. On DR/TUN
// director2 (ID-d2, 198.18.0.3/23 and 2001:db8::3/63) sits on the same
// bridge. On NAT the client side gets a bridge of its own ("cswitch", ID-cbr)
// that the client (ID-c) and both directors' external links (ID-dx, ID-dx2:
// .0.2 and .0.3) are ports of; the internal links (ID-di, ID-di2: 198.18.1.252
// and .253, 2001:db8:0:1::252 and ::253) are ports of the real servers'
// bridge, and the real servers' gateway .1.254 (::254) is a second VRRP
// instance's address, as keepalived sites run it. The client routes the
// real-server segment via the VIP.
//
// Options.ECMP (DR only) puts Options.Directors directors (up to
// MaxECMPDirectors) behind a router that spreads the VIPs over them by
// ECMP, as sites scale out with several active directors. The router
// ("router") forwards with net.ipv4/ipv6.fib_multipath_hash_policy=1 (the
// 5-tuple), set in its own namespace as a router's configuration, and
// holds one multipath route per VIP over every director (Lab.DropNexthop
// and RestoreNexthop take one out and put it back; Options.NoStaticECMP
// leaves the route to a routing daemon). It is also the real servers'
// gateway, so DR answers go straight back to the client through it. Each
// director has a point-to-point link to the router (its Host.Iface, ID-dx,
// -dx2 ...; the router's end is its BGP neighbour, Lab.RouterAddr) and a
// port on the real servers' bridge (ID-di, -di2 ...); none holds the VIP.
//
//	client ns          router ns                 director ns        switch ns     r1..rN ns
//	ID-c               ID-rc  .2.254/24          ID-dx  .11.2/24                  ID-rN .1.N/24
//	.2.1/24  -------   ID-rd1 .11.1/24 --------  ID-di  .1.241/24 -- bridge ----  lo: VIP/32
//	gw .2.254          ID-rd2 .12.1/24 ... director2 (.12.2, .1.242)  ID-br       gw .1.254
//	                   ID-rtr .1.254/24 ---------------------------------- (port)
//	                   VIP/32 nexthop via .11.2 nexthop via .12.2 ...
//
// (IPv6 alike: 2001:db8:0:2::/64 for the client, 2001:db8:0:1i::/64 for
// director i's link, 2001:db8:0:1::/64 for the real servers.)
//
// # Topologies of one's own
//
// A lab is built from a Topology: namespaces (Node) with their sysctls,
// veth pairs, macvlans on a trunk, at most one bridge per namespace,
// addresses, static neighbours and routes. New lays one out from Options;
// a caller with another shape (the benchmark harness: no bridge on the
// measured path, real servers as macvlans on one trunk) gets an empty one
// from NewTopology, names its namespaces and interfaces with NS and Iface,
// and calls Build and Close, which keep the rules above: names, markers,
// nothing in the root namespace, and nothing left behind on failure.
//
// A test that needs only a namespace or two takes NewNetNS: a fresh one with
// lo up and a lab's name and marker, deleted in t.Cleanup, with IP, Do, In
// and Command to work inside it.
//
// # Checksums and offloads
//
// A veth with TX checksum offload on (the kernel's default) hands its peer
// CHECKSUM_PARTIAL packets whose L4 checksum holds only the pseudo-header sum,
// and with TSO on, TCP super-packets far above the MTU; an XDP program or a
// raw socket sees them like that. Labs keep those defaults, because every
// container and VM network has them and the product must work there.
// Options.TxChecksumOff turns TX checksum offload off on every veth end (which
// also turns TSO off, so the stack segments and checksums in software) with
// the SIOCETHTOOL ioctl from Go, for tests about offloads only;
// Host.SetOffload changes single features (GRO, for instance).
// TestOffloadChecksums proves both with a packet capture.
//
// # Requirements
//
// Root (CAP_SYS_ADMIN) and iproute2's ip and bridge; Unavailable says what is
// missing and NewT skips with that reason. deps.sh beside this file installs
// iproute2, curl, nftables and ethtool from Debian when missing (quietly,
// idempotently). labserver is built with the go command on first use.
//
// # Life cycle
//
// New builds a lab; Close kills the processes started in it, then every other
// process still inside its namespaces, and deletes the namespaces. NewT adds a
// t.Cleanup and skips the test with the reason when the machine cannot build
// labs. New also installs a SIGINT/SIGTERM handler (unless
// Options.NoSignalHandler) that closes every open lab before the process dies.
// Processes started with Host.Start die with their creator (PR_SET_PDEATHSIG).
package testnet
