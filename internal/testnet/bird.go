package testnet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BIRDNeighbor is one BGP session of a BIRD router: a director that
// announces VIPs to it.
type BIRDNeighbor struct {
	Name    string // the protocol's name in bird.conf
	Address netip.Addr
	ASN     uint32
}

// BIRDOptions configure RunBIRD.
type BIRDOptions struct {
	// RouterID and ASN are the router's own.
	RouterID netip.Addr
	ASN      uint32
	// HoldTime is every session's hold time (BIRD's minimum is 3 s).
	HoldTime  time.Duration
	Neighbors []BIRDNeighbor
	// Dir holds bird.conf and the control socket.
	Dir string
}

// BIRD is Debian's BIRD 2 running in a namespace as the site's router:
// it learns the VIPs over BGP and, with `merge paths on`, writes one
// (multipath) route per prefix into the namespace's kernel table.
type BIRD struct {
	Proc *Proc
	Sock string
	host *Host
}

// BIRDConfig is the bird.conf RunBIRD writes: a device protocol, kernel
// protocols exporting every learnt IPv4 and IPv6 route (ECMP merged), and
// one eBGP session per neighbor (both families over it) that imports
// everything and exports nothing, its
// states and routes traced to stderr (Proc.Output) so a test can tell a
// withdrawal from a session's end.
func BIRDConfig(o BIRDOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "log stderr all;\nrouter id %s;\n", o.RouterID)
	b.WriteString("protocol device { scan time 1; }\n")
	b.WriteString("protocol kernel { ipv4 { import none; export all; }; merge paths on; }\n")
	b.WriteString("protocol kernel { ipv6 { import none; export all; }; merge paths on; }\n")
	hold := int(o.HoldTime / time.Second)
	for _, n := range o.Neighbors {
		fmt.Fprintf(&b, "protocol bgp %s {\n  local as %d;\n  neighbor %s as %d;\n  hold time %d;\n  keepalive time %d;\n"+
			"  connect retry time 1;\n  error wait time 1, 2;\n  debug { states, routes, events };\n  ipv4 { import all; export none; };\n  ipv6 { import all; export none; };\n}\n",
			n.Name, o.ASN, n.Address, n.ASN, hold, max(hold/3, 1))
	}
	return b.String()
}

// RunBIRD starts `bird -f` on h with the configuration of o, and waits
// until its control socket answers. The process ends with the lab (or
// with ctx).
func RunBIRD(ctx context.Context, h *Host, o BIRDOptions) (*BIRD, error) {
	if _, err := exec.LookPath("bird"); err != nil {
		return nil, fmt.Errorf("bird not installed (scripts/deps.sh installs bird2): %w", err)
	}
	conf := filepath.Join(o.Dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(BIRDConfig(o)), 0o600); err != nil {
		return nil, err
	}
	b := &BIRD{Sock: filepath.Join(o.Dir, "bird.ctl"), host: h}
	p, err := h.Start(ctx, "bird", "-f", "-c", conf, "-s", b.Sock, "-P", filepath.Join(o.Dir, "bird.pid"))
	if err != nil {
		return nil, err
	}
	b.Proc = p
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := b.Ctl(ctx, "show", "status"); err == nil {
			return b, nil
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("bird did not answer on %s: %v\n%s", b.Sock, err, p.Output())
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("bird exited: %v\n%s", p.Err(), p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ctl runs `birdc -s SOCK args...` and returns its output.
func (b *BIRD) Ctl(ctx context.Context, args ...string) (string, error) {
	out, err := b.host.Run(ctx, "birdc", append([]string{"-s", b.Sock}, args...)...)
	return string(out), err
}

// Routes returns `birdc show route all` for prefix p (all routes if p is
// invalid).
func (b *BIRD) Routes(ctx context.Context, p netip.Prefix) (string, error) {
	args := []string{"show", "route", "all"}
	if p.IsValid() {
		args = []string{"show", "route", "for", p.String(), "all"}
	}
	return b.Ctl(ctx, args...)
}

// KernelRoute returns the router namespace's kernel route for p (`ip
// [-6] route show exact P`), empty when there is none.
func (b *BIRD) KernelRoute(ctx context.Context, p netip.Prefix) (string, error) {
	fam := "-4"
	if p.Addr().Is6() {
		fam = "-6"
	}
	out, err := b.host.Run(ctx, "ip", fam, "route", "show", "exact", p.String())
	return strings.TrimSpace(string(out)), err
}
