package testnet

import (
	"context"
	"fmt"
	"strings"
)

// A split brain, on demand: the link between a pair's directors fails
// while each still reaches the client and the real servers.

// splitTable is the nftables table (bridge family) CutDirectors adds to
// each bridge of the lab.
const splitTable = "xvs_split"

// CutDirectors cuts a two-director lab's directors off from each other:
// every bridge with two directors' ports drops what it would forward from
// one of them to another (VRRP adverts, sync messages, ARP, all of it),
// with an nftables bridge-family rule in the bridge's namespace. The
// client and the real servers still reach both, so both become VRRP
// master. HealDirectors removes the rules.
func (l *Lab) CutDirectors(ctx context.Context) error {
	for _, sw := range l.pairBridges() {
		ports := l.directorPorts(sw)
		set := `{ "` + strings.Join(ports, `", "`) + `" }`
		for _, cmd := range [][]string{
			{"add", "table", "bridge", splitTable},
			{"add", "chain", "bridge", splitTable, "cut", "{ type filter hook forward priority 0 ; policy accept ; }"},
			{"add", "rule", "bridge", splitTable, "cut", "iifname", set, "oifname", set, "drop"},
		} {
			if _, err := sw.Run(ctx, "nft", cmd...); err != nil {
				return fmt.Errorf("cutting the directors apart on %s: %w", sw.Name, err)
			}
		}
	}
	return nil
}

// HealDirectors undoes CutDirectors.
func (l *Lab) HealDirectors(ctx context.Context) error {
	for _, sw := range l.pairBridges() {
		if _, err := sw.Run(ctx, "nft", "delete", "table", "bridge", splitTable); err != nil {
			return fmt.Errorf("healing the directors' link on %s: %w", sw.Name, err)
		}
	}
	return nil
}

// pairBridges are the lab's bridges that two directors are ports of.
func (l *Lab) pairBridges() []*Host {
	var out []*Host
	for _, sw := range []*Host{l.Switch, l.ClientSwitch} {
		if sw != nil && len(l.directorPorts(sw)) > 1 {
			out = append(out, sw)
		}
	}
	return out
}

// directorPorts are the ports of bridge sw that lead to a director.
func (l *Lab) directorPorts(sw *Host) []string {
	var ports []string
	for _, d := range l.Directors {
		for _, k := range d.Links {
			if k.PeerNS == sw.NS {
				ports = append(ports, k.PeerIface)
			}
		}
	}
	return ports
}
