package testnet

import (
	"fmt"
	"net"
	"net/netip"
)

// Topology is a set of namespaces and their wiring, laid out before anything
// exists: veth pairs, macvlans, at most one bridge per namespace, addresses,
// routes, static neighbours and sysctls. New lays one out for a lab from
// Options (client, director, switch with a bridge, real servers); the
// benchmark harness lays out its own, which carry no bridge on the measured
// path and put the real servers on a macvlan trunk. Build makes it, Close
// removes it, and both keep the package's rules: every name starts with the
// topology's ID, nothing is created in the root namespace, a marker file
// comes first so a crash leaves something CleanupStale removes.
type Topology struct {
	// ID starts every namespace and interface name; NewTopology sets it.
	// Use NS and Iface to make the names.
	ID string
	// Name is a free label kept in the marker file.
	Name string
	// Nodes are the namespaces, configured concurrently once every link
	// exists.
	Nodes []*Node
	// Veths are the veth pairs. Each is created from its A end's namespace
	// with the B end placed straight into B's.
	Veths []Veth
	// Macvlans are created on their parent, in the parent's namespace, after
	// the veths, then moved to their own namespace if that is another.
	Macvlans []Macvlan

	// finish, if set, runs for every node once it is configured and before
	// the readiness wait (a lab's offload settings).
	finish func(*Node) error
}

// Node is one namespace of a topology. Its lines run in this order: lo up,
// the bridge, Ifaces, Neighbours, Routes.
type Node struct {
	// Name is the host's role ("client", "gen", "r1"); the namespace is
	// ID + "-" + Name.
	Name string
	// NS is the namespace's name (under /run/netns).
	NS string
	// Sysctls are set right after the namespace is made, before any of its
	// interfaces exists, so that "default" keys reach every interface (keys
	// use dots or slashes, e.g. "net.ipv4.conf.default.rp_filter").
	Sysctls [][2]string
	// IfSysctls are set once the interfaces exist: keys naming one.
	IfSysctls [][2]string
	// Bridge, if set, is a bridge made in this namespace (no STP, no
	// multicast snooping); Ifaces with Master set to it are its ports.
	Bridge string
	// Ifaces are set up in order: MTU, master, up, then addresses. Veth
	// ends and macvlans are created by the Topology; "lo" may be listed to
	// hold addresses.
	Ifaces     []Iface
	Neighbours []Neighbour
	Routes     []Route
}

// Iface is the configuration of one interface of a node.
type Iface struct {
	Name string
	// MTU is set when non-zero; zero keeps the kernel's.
	MTU int
	// Master names the node's bridge this interface is a port of.
	Master string
	Addrs  []Addr
}

// Addr is an address with its prefix length. IPv6 addresses skip duplicate
// address detection (nodad), so they work at once.
type Addr struct {
	netip.Prefix
	// Deprecated gives an IPv6 address preferred_lft 0: it still takes
	// traffic but is never picked as the source of the host's own packets
	// (a VIP on a host that also has addresses of its own).
	Deprecated bool
}

// Veth is a veth pair; A's namespace creates it.
type Veth struct {
	A, B End
}

// End is one end of a veth pair.
type End struct {
	NS, Name string
	// MAC is the end's address; nil leaves the kernel's random one.
	MAC net.HardwareAddr
}

// Macvlan is a macvlan interface in bridge mode on a parent interface.
type Macvlan struct {
	Name string
	MAC  net.HardwareAddr // nil: the kernel's random one
	// Parent is the lower interface, in namespace ParentNS.
	ParentNS, Parent string
	// NS is where the macvlan ends up (empty: ParentNS).
	NS string
}

// Route is a static route; Via and Dev are optional. With Multipath it is
// one ECMP route over those gateways instead (Via and Dev unused).
type Route struct {
	Dst       netip.Prefix
	Via       netip.Addr
	Dev       string
	Multipath []netip.Addr
}

// Neighbour is a static (permanent) neighbour entry: nothing on the path
// then waits for ARP or ND.
type Neighbour struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
	Dev  string
}

// NewTopology returns an empty topology with a fresh ID, for a caller that
// lays out namespaces of its own (the benchmark harness). The first call of
// a process removes the labs of dead processes (CleanupStale), as New does.
func NewTopology(name string) (*Topology, error) {
	if err := cleanupStaleOnce(); err != nil {
		return nil, fmt.Errorf("clean up stale labs: %w", err)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	return &Topology{ID: id, Name: name}, nil
}

// NS returns the namespace name of host in this topology.
func (tp *Topology) NS(host string) string { return nsName(tp.ID, host) }

// Iface returns the interface name for tag in this topology. It panics when
// the name is longer than the kernel allows (15 bytes), which only a change
// to a plan can cause.
func (tp *Topology) Iface(tag string) string { return ifName(tp.ID, tag) }

// AddNode adds the namespace of host and returns it for its configuration.
func (tp *Topology) AddNode(host string) *Node {
	n := &Node{Name: host, NS: tp.NS(host)}
	tp.Nodes = append(tp.Nodes, n)
	return n
}

// Node returns the node called host, or nil.
func (tp *Topology) Node(host string) *Node {
	for _, n := range tp.Nodes {
		if n.Name == host {
			return n
		}
	}
	return nil
}

// Namespaces returns the names of the topology's namespaces.
func (tp *Topology) Namespaces() []string {
	ns := make([]string, len(tp.Nodes))
	for i, n := range tp.Nodes {
		ns[i] = n.NS
	}
	return ns
}

// AddrOf returns a single-address prefix (/32 or /128) for a.
func AddrOf(a netip.Addr) Addr { return Addr{Prefix: host32(a)} }

// Validate checks what Build relies on without touching the system: names
// are this package's and fit the kernel, every link's namespace is a node,
// no interface name is made twice in a namespace.
func (tp *Topology) Validate() error {
	nodes := map[string]*Node{}
	for _, n := range tp.Nodes {
		if id, _, host, ok := parseNSName(n.NS); !ok || id != tp.ID || host != n.Name {
			return fmt.Errorf("%w: node %q: namespace %q is not %s-%s", ErrOptions, n.Name, n.NS, tp.ID, n.Name)
		}
		if nodes[n.NS] != nil {
			return fmt.Errorf("%w: namespace %s twice", ErrOptions, n.NS)
		}
		nodes[n.NS] = n
	}
	made := map[[2]string]bool{} // {ns, iface} of every interface the topology creates
	mk := func(ns, name string) error {
		if nodes[ns] == nil {
			return fmt.Errorf("%w: interface %s in %s: no such node", ErrOptions, name, ns)
		}
		if len(name) > maxIfName || name == "" {
			return fmt.Errorf("%w: interface name %q", ErrOptions, name)
		}
		if made[[2]string{ns, name}] {
			return fmt.Errorf("%w: interface %s twice in %s", ErrOptions, name, ns)
		}
		made[[2]string{ns, name}] = true
		return nil
	}
	for _, v := range tp.Veths {
		if err := mk(v.A.NS, v.A.Name); err != nil {
			return err
		}
		if err := mk(v.B.NS, v.B.Name); err != nil {
			return err
		}
	}
	for _, n := range tp.Nodes {
		if n.Bridge != "" {
			if err := mk(n.NS, n.Bridge); err != nil {
				return err
			}
		}
	}
	for _, m := range tp.Macvlans {
		if !made[[2]string{m.ParentNS, m.Parent}] {
			return fmt.Errorf("%w: macvlan %s: parent %s is not a veth end in %s", ErrOptions, m.Name, m.Parent, m.ParentNS)
		}
		if err := mk(m.ns(), m.Name); err != nil {
			return err
		}
	}
	for _, n := range tp.Nodes {
		for _, k := range n.Ifaces {
			if k.Name != "lo" && !made[[2]string{n.NS, k.Name}] {
				return fmt.Errorf("%w: %s: interface %s is not created by the topology", ErrOptions, n.Name, k.Name)
			}
			if k.Master != "" && k.Master != n.Bridge {
				return fmt.Errorf("%w: %s: %s's master %s is not the node's bridge", ErrOptions, n.Name, k.Name, k.Master)
			}
		}
	}
	return nil
}

// ns is the namespace the macvlan ends up in.
func (m Macvlan) ns() string {
	if m.NS == "" {
		return m.ParentNS
	}
	return m.NS
}
