package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/link/afpacket"
)

// Two parties put nftables tables into the director namespace: the
// nft-dnat baseline (table ip xvsbench, made and deleted by the bench) and
// bin/xvs's AF_PACKET backend (table netdev xvs_afpacket_<pid>_<n>, made by
// the daemon, deleted by it on exit and by the kernel if it dies, since the
// table is bound to the daemon's netlink socket). Their names and families
// differ, so neither teardown touches the other's table; the bench only
// deletes its own by name, and the lab's teardown deletes the namespace,
// which takes any table with it. What would hurt is an AF_PACKET table
// outliving its daemon: its netdev ingress chain drops the steered traffic,
// so the next baseline in the same namespace would measure a blackhole.
// Every AF_PACKET trial therefore checks that the table appeared while the
// daemon ran and is gone after it stopped.

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

func startNft(ctx context.Context, lab *Lab, nftPath string) (Director, error) {
	return startNftRules(ctx, lab, nftPath, nftRuleset(lab.VIP, lab.RealAddrs()))
}

// startNftRules loads ruleset (which makes table ip nftTable) into lab's
// director and turns forwarding on; Stop deletes the table, flushes
// conntrack and turns forwarding off again.
func startNftRules(ctx context.Context, lab *Lab, nftPath, ruleset string) (Director, error) {
	nft, err := nftBinary(nftPath)
	if err != nil {
		return nil, err
	}
	cmd := Command(ctx, lab.DirNS, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
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
	_ = testnet.DoIn(ns, func() error {
		b, err := readFileTrim("/proc/sys/net/netfilter/nf_conntrack_max")
		v = b
		return err
	})
	return v
}

// nftBinary returns the nft to run: path if set, else nft from PATH.
func nftBinary(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		return "", fmt.Errorf("nft not found (install Debian's nftables: bash bench/deps.sh): %w", err)
	}
	return nft, nil
}

// afpTables lists the AF_PACKET backend's tables in namespace ns as
// "family name".
func afpTables(ctx context.Context, ns, nftPath string) ([]string, error) {
	nft, err := nftBinary(nftPath)
	if err != nil {
		return nil, err
	}
	out, err := Command(ctx, ns, nft, "list", "tables").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return parseAFPTables(string(out)), nil
}

// parseAFPTables picks the AF_PACKET backend's tables out of `nft list
// tables` ("table FAMILY NAME" per line).
func parseAFPTables(list string) []string {
	var out []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "table" && strings.HasPrefix(f[2], afpacket.TablePrefix) {
			out = append(out, f[1]+" "+f[2])
		}
	}
	return out
}

// errTableLeft says an AF_PACKET daemon's nftables table outlived it.
var errTableLeft = errors.New("nftables table left behind")

// removeAFPTables checks, after an AF_PACKET daemon exited, that its table
// went with it; a table left is deleted (so later trials measure what they
// claim) and reported.
func removeAFPTables(ns, nftPath string) error {
	ctx := context.Background()
	left, err := afpTables(ctx, ns, nftPath)
	if err == nil && len(left) > 0 {
		// The kernel drops an owned table when the owner's socket is
		// released; give a just-killed process's socket a moment.
		time.Sleep(100 * time.Millisecond)
		left, err = afpTables(ctx, ns, nftPath)
	}
	if err != nil || len(left) == 0 {
		return err
	}
	nft, _ := nftBinary(nftPath)
	for _, t := range left {
		family, name, _ := strings.Cut(t, " ")
		_ = Command(ctx, ns, nft, "delete", "table", family, name).Run()
	}
	return fmt.Errorf("bin/xvs --backend afpacket: %w: %s (deleted by the bench)", errTableLeft, strings.Join(left, ", "))
}
