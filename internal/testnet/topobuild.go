package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
)

// Build makes the topology (see build); on failure nothing of it is left.
func (tp *Topology) Build(ctx context.Context) error {
	if err := tp.build(ctx); err != nil {
		return errors.Join(fmt.Errorf("build %s: %w", tp.ID, err), tp.Close())
	}
	return nil
}

// build writes the marker, then makes the namespaces, sets their sysctls,
// creates the veth pairs and macvlans, configures every node, sets the
// per-interface sysctls, runs finish, and waits until every link has carrier
// and every bridge port forwards. It leaves what it made on failure.
func (tp *Topology) build(ctx context.Context) error {
	if err := tp.Validate(); err != nil {
		return err
	}
	bins := []string{"ip"}
	for _, n := range tp.Nodes {
		if n.Bridge != "" {
			bins = append(bins, "bridge") // the readiness wait asks it
			break
		}
	}
	if reason := unavailable(bins...); reason != "" {
		return fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	// The marker goes first so a crash at any later point leaves namespaces
	// that CleanupStale recognises.
	if err := writeMarker(tp.ID, tp.Name); err != nil {
		return err
	}
	var adds []string
	for _, n := range tp.Nodes {
		adds = append(adds, "netns add "+n.NS)
	}
	if err := ipBatch(ctx, "", adds); err != nil {
		return err
	}
	// Namespace-wide sysctls go first: interfaces created later inherit the
	// "default" ones (no DAD, so IPv6 addresses work at once).
	if err := tp.forEach(func(n *Node) error { return writeSysctls(n.NS, n.Sysctls) }); err != nil {
		return err
	}
	// Links are made from inside a lab namespace, their other end placed
	// straight into another: nothing ever exists in the root namespace.
	if err := tp.forEach(func(n *Node) error { return ipBatch(ctx, n.NS, tp.vethLines(n.NS)) }); err != nil {
		return err
	}
	if err := tp.forEach(func(n *Node) error { return ipBatch(ctx, n.NS, tp.macvlanLines(n.NS)) }); err != nil {
		return err
	}
	if err := tp.forEach(func(n *Node) error { return ipBatch(ctx, n.NS, n.configLines()) }); err != nil {
		return err
	}
	if err := tp.forEach(func(n *Node) error { return writeSysctls(n.NS, n.IfSysctls) }); err != nil {
		return err
	}
	if tp.finish != nil {
		if err := tp.forEach(tp.finish); err != nil {
			return err
		}
	}
	return tp.waitReady(ctx)
}

// Close kills every process still inside the topology's namespaces, deletes
// them and then the marker (which stays if a namespace could not be deleted,
// so CleanupStale retries later). Calling it again does nothing.
func (tp *Topology) Close() error {
	err := deleteNamespaces(tp.Namespaces())
	if err == nil {
		err = removeMarker(tp.ID)
	}
	if err != nil {
		return fmt.Errorf("close lab %s: %w", tp.ID, err)
	}
	return nil
}

// forEach runs fn for every node concurrently and joins the errors.
func (tp *Topology) forEach(fn func(*Node) error) error {
	errs := make([]error, len(tp.Nodes))
	var wg sync.WaitGroup
	for i, n := range tp.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(n) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// firstCreatorIndex is the ifindex of the first veth end a namespace creates.
const firstCreatorIndex = 100

// vethLines creates the veth pairs whose A end is in ns.
func (tp *Topology) vethLines(ns string) []string {
	var lines []string
	for _, v := range tp.Veths {
		if v.A.NS != ns {
			continue
		}
		// The creating end gets an ifindex from 100 up, so it never equals
		// its peer's (2, 3 ... in the peer's namespace). With equal
		// indexes the kernel's link watcher treats the carrier change as
		// not urgent and applies it up to a second later.
		lines = append(lines, fmt.Sprintf("link add %s%s index %d type veth peer name %s%s netns %s",
			v.A.Name, macArg(v.A.MAC), firstCreatorIndex+len(lines), v.B.Name, macArg(v.B.MAC), v.B.NS))
	}
	return lines
}

// macvlanLines creates the macvlans whose parent is in ns and moves those
// that belong elsewhere.
func (tp *Topology) macvlanLines(ns string) []string {
	var lines []string
	for _, m := range tp.Macvlans {
		if m.ParentNS != ns {
			continue
		}
		lines = append(lines, fmt.Sprintf("link add link %s name %s%s type macvlan mode bridge", m.Parent, m.Name, macArg(m.MAC)))
		if m.ns() != ns {
			lines = append(lines, "link set "+m.Name+" netns "+m.ns())
		}
	}
	return lines
}

// macArg is ip's " address MAC", or nothing for the kernel's choice.
func macArg(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return ""
	}
	return " address " + mac.String()
}

// configLines sets the node's interfaces up with their MTU, bridge and
// addresses, then writes its neighbours and routes.
func (n *Node) configLines() []string {
	lines := []string{"link set lo up"}
	if n.Bridge != "" {
		lines = append(lines, fmt.Sprintf("link add %s type bridge mcast_snooping 0 stp_state 0", n.Bridge),
			"link set "+n.Bridge+" up")
	}
	for _, k := range n.Ifaces {
		if k.Name != "lo" || k.MTU != 0 { // lo is up already
			l := "link set " + k.Name
			if k.MTU != 0 {
				l += fmt.Sprintf(" mtu %d", k.MTU)
			}
			if k.Master != "" {
				l += " master " + k.Master
			}
			lines = append(lines, l+" up")
		}
		for _, a := range k.Addrs {
			l := fmt.Sprintf("addr add %s dev %s", a.Prefix, k.Name)
			if a.Addr().Is6() {
				l += " nodad"
				if a.Deprecated {
					l += " preferred_lft 0"
				}
			}
			lines = append(lines, l)
		}
	}
	for _, e := range n.Neighbours {
		lines = append(lines, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", e.Addr, e.MAC, e.Dev))
	}
	for _, r := range n.Routes {
		if len(r.Multipath) > 0 {
			lines = append(lines, multipathLine("add", r.Dst, r.Multipath))
			continue
		}
		l := "route add " + r.Dst.String()
		if r.Via.IsValid() {
			l += " via " + r.Via.String()
		}
		if r.Dev != "" {
			l += " dev " + r.Dev
		}
		lines = append(lines, l)
	}
	return lines
}

// writeSysctls writes sysctls in one trip into namespace ns.
func writeSysctls(ns string, kvs [][2]string) error {
	if len(kvs) == 0 {
		return nil
	}
	return DoIn(ns, func() error {
		for _, kv := range kvs {
			p := "/proc/sys/" + strings.ReplaceAll(kv[0], ".", "/")
			if err := os.WriteFile(p, []byte(kv[1]), 0); err != nil {
				return fmt.Errorf("%s: sysctl %s=%s: %w", ns, kv[0], kv[1], err)
			}
		}
		return nil
	})
}
