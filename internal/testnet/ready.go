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

// waitReady waits until every veth end has carrier (the kernel's link watcher
// turns carrier on asynchronously, and until then a veth drops what it is
// given) and every bridge port forwards.
func (l *Lab) waitReady(ctx context.Context) error {
	for {
		err := l.notReady(ctx)
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

// notReady returns what is not ready yet, or nil.
func (l *Lab) notReady(ctx context.Context) error {
	for _, h := range l.Hosts() {
		if err := h.Do(func() error {
			for _, k := range h.Links {
				ifc, err := net.InterfaceByName(k.Iface)
				if err != nil {
					return err
				}
				if ifc.Flags&net.FlagRunning == 0 {
					return fmt.Errorf("%s: %s has no carrier", h.Name, k.Iface)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	out, err := exec.CommandContext(ctx, "bridge", "-n", l.Switch.NS, "-j", "link", "show").Output()
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
	if len(ports) != len(l.Switch.Links) {
		return fmt.Errorf("bridge has %d ports, want %d", len(ports), len(l.Switch.Links))
	}
	for _, p := range ports {
		if p.State != "forwarding" {
			return fmt.Errorf("bridge port %s is %s", p.Ifname, p.State)
		}
	}
	return nil
}
