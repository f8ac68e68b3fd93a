package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"time"
)

// readyPoll is the gap between readiness checks while a new lab settles.
const readyPoll = 10 * time.Millisecond

// waitReady waits until every veth end and macvlan has carrier (the
// kernel's link watcher turns carrier on asynchronously, and until then a
// veth drops what it is given) and every bridge port forwards.
func (tp *Topology) waitReady(ctx context.Context) error {
	for {
		err := tp.notReady(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab not ready: %w: %w", err, ctx.Err())
		case <-time.After(readyPoll):
		}
	}
}

// links returns the interfaces the topology creates in each namespace,
// bridges aside.
func (tp *Topology) links() map[string][]string {
	m := map[string][]string{}
	for _, v := range tp.Veths {
		m[v.A.NS] = append(m[v.A.NS], v.A.Name)
		m[v.B.NS] = append(m[v.B.NS], v.B.Name)
	}
	for _, mv := range tp.Macvlans {
		m[mv.ns()] = append(m[mv.ns()], mv.Name)
	}
	return m
}

// notReady returns what is not ready yet, or nil.
func (tp *Topology) notReady(ctx context.Context) error {
	links := tp.links()
	for _, n := range tp.Nodes {
		if err := DoIn(n.NS, func() error {
			for _, name := range links[n.NS] {
				ifc, err := net.InterfaceByName(name)
				if err != nil {
					return err
				}
				if ifc.Flags&net.FlagRunning == 0 {
					return fmt.Errorf("%s: %s has no carrier", n.Name, name)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if n.Bridge != "" {
			if err := n.bridgeNotReady(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// bridgeNotReady says which port of the node's bridge does not forward yet.
func (n *Node) bridgeNotReady(ctx context.Context) error {
	want := 0
	for _, k := range n.Ifaces {
		if k.Master == n.Bridge {
			want++
		}
	}
	out, err := exec.CommandContext(ctx, "bridge", "-n", n.NS, "-j", "link", "show").Output()
	if err != nil {
		return fmt.Errorf("bridge link show: %w", err)
	}
	var ports []struct {
		Ifname string `json:"ifname"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal(out, &ports); err != nil {
		return fmt.Errorf("bridge link show: %w", err)
	}
	if len(ports) != want {
		return fmt.Errorf("bridge has %d ports, want %d", len(ports), want)
	}
	for _, p := range ports {
		if p.State != "forwarding" {
			return fmt.Errorf("bridge port %s is %s", p.Ifname, p.State)
		}
	}
	return nil
}
