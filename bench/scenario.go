package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Ports of the lab's services: bulk UDP, the UDP echo probe, and TCP for the
// SYN (new connection) load.
const (
	bulkPort  = 5001
	probePort = 7007
	synPort   = 80
)

// Scenario names. Baselines run on the same lab and in the same run as the
// xvs scenarios they are compared with.
const (
	ScKernelFwd = "kernel-fwd"  // plain kernel IP forwarding, straight to the real servers
	ScNftDNAT   = "nft-dnat"    // kernel forwarding + nftables DNAT of the VIP, round robin
	ScBounce2   = "bounce"      // bare AF_XDP bounce, two-armed (one copy between UMEMs)
	ScXVSNAT    = "xvs-nat"     // bin/xvs, masquerading
	ScBounce1   = "bounce-1arm" // bare AF_XDP bounce, one-armed (in place)
	ScXVSDR     = "xvs-dr"      // bin/xvs, direct routing
	ScXVSTUN    = "xvs-tun"     // bin/xvs, IPIP tunnelling
	// The generator's own cost: frames dropped by an XDP program on the
	// director's port, nothing else. It calibrates the CPU split (see
	// attributeCPU) and shows the generator's ceiling.
	ScGenOnly  = "gen-only"
	ScGenOnly1 = "gen-only-1arm"
)

// scenarioArms says which lab a scenario runs in.
func scenarioArms(name string) int {
	switch name {
	case ScBounce1, ScXVSDR, ScXVSTUN, ScGenOnly1:
		return 1
	}
	return 2
}

// isGenOnly reports whether s is a calibration scenario.
func isGenOnly(s string) bool { return s == ScGenOnly || s == ScGenOnly1 }

// isXVS reports whether a scenario runs bin/xvs.
func isXVS(name string) bool { return strings.HasPrefix(name, "xvs-") }

// Director runs the director side of one scenario for the length of a trial.
type Director interface {
	// Stop tears the scenario down; an error means it misbehaved (for
	// xvs: the daemon died or did not exit cleanly).
	Stop() error
}

// startDirector sets the director up for scenario name in lab.
func (r *runner) startDirector(ctx context.Context, lab *Lab, name string) (Director, error) {
	switch name {
	case ScKernelFwd:
		if err := lab.SetForwarding(true); err != nil {
			return nil, err
		}
		return funcDirector(func() error { return lab.SetForwarding(false) }), nil
	case ScNftDNAT:
		return startNft(ctx, lab, r.opts.NftPath)
	case ScBounce2, ScBounce1:
		var macs []string
		for _, re := range lab.Reals {
			macs = append(macs, re.MAC.String())
		}
		p, err := startChild(ctx, lab.DirNS, r.dirCPU(), childBounce, BounceConfig{In: lab.DirExt, Out: lab.DirInt, DstMACs: macs})
		if err != nil {
			return nil, err
		}
		return funcDirector(func() error { return p.stop(3 * time.Second) }), nil
	case ScXVSNAT, ScXVSDR, ScXVSTUN:
		return r.startXVS(ctx, lab, strings.TrimPrefix(name, "xvs-"))
	case ScGenOnly, ScGenOnly1:
		// The sink program counts and drops the frames (slot 0: not a real
		// server's MAC) right at the director's port.
		s, err := AttachSink(lab.DirNS, lab.DirExt, lab.SinkPrefix, probePort)
		if err != nil {
			return nil, err
		}
		r.portSink = s
		return funcDirector(func() error { r.portSink = nil; return s.Close() }), nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// genDsts returns the generator's destinations for a scenario: the real
// servers themselves for plain forwarding (nothing balances), else the VIP.
func genDsts(lab *Lab, name string) []netip.Addr {
	if name == ScKernelFwd {
		return lab.RealAddrs()
	}
	return []netip.Addr{lab.VIP}
}

// probeTarget is where the latency probe sends: like genDsts.
func probeTarget(lab *Lab, name string) netip.AddrPort {
	return netip.AddrPortFrom(genDsts(lab, name)[0], probePort)
}

type funcDirector func() error

func (f funcDirector) Stop() error { return f() }

// nftTable is the bench's nftables table in the director namespace.
const nftTable = "xvsbench"

// nftRuleset DNATs the VIP's bulk, probe and SYN ports to the real servers
// in turn (numgen inc: a new real server per connection, like rr).
func nftRuleset(vip netip.Addr, reals []netip.Addr) string {
	var m []string
	for i, a := range reals {
		m = append(m, fmt.Sprintf("%d : %s", i, a))
	}
	pick := fmt.Sprintf("numgen inc mod %d map { %s }", len(reals), strings.Join(m, ", "))
	return fmt.Sprintf(`table ip %s {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %s udp dport { %d, %d } dnat to %s
		ip daddr %s tcp dport %d dnat to %s
	}
}
`, nftTable, vip, bulkPort, probePort, pick, vip, synPort, pick)
}

func startNft(ctx context.Context, lab *Lab, nft string) (Director, error) {
	if nft == "" {
		var err error
		if nft, err = exec.LookPath("nft"); err != nil {
			return nil, fmt.Errorf("nft not found (install Debian's nftables: bash bench/deps.sh): %w", err)
		}
	}
	cmd := Command(ctx, lab.DirNS, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(nftRuleset(lab.VIP, lab.RealAddrs()))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft ruleset: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := lab.SetForwarding(true); err != nil {
		return nil, err
	}
	return funcDirector(func() error {
		var errs []string
		if out, err := Command(context.Background(), lab.DirNS, nft, "delete", "table", "ip", nftTable).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("nft delete table: %v: %s", err, out))
		}
		// Forget the connections, so every trial starts from an empty table.
		if err := flushConntrack(lab.DirNS); err != nil {
			errs = append(errs, err.Error())
		}
		if err := lab.SetForwarding(false); err != nil {
			errs = append(errs, err.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("nft teardown: %s", strings.Join(errs, "; "))
		}
		return nil
	}), nil
}

// flushConntrack empties the kernel connection table of namespace ns.
func flushConntrack(ns string) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("conntrack flush: %w", err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("conntrack flush: %w", err)
	}
	defer nh.Close()
	if err := nh.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("conntrack flush: %w", err)
	}
	return nil
}

// conntrackMax reads nf_conntrack_max as the director sees it (for the
// report: a full kernel table changes the nftables figures).
func conntrackMax(ns string) string {
	var v string
	_ = inNS(ns, func() error {
		b, err := readFileTrim("/proc/sys/net/netfilter/nf_conntrack_max")
		v = b
		return err
	})
	return v
}
