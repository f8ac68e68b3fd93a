package testnet

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Host is one namespace of a lab: the client, the director, the switch or a
// real server.
type Host struct {
	// Name is the host's role: "client", "director", "switch", "r1".."r99".
	Name string
	// NS is the network namespace's name (under /run/netns).
	NS string
	// Iface is the host's lab-facing interface: the client's and real
	// servers' only one, the director's client-facing one (on NAT the
	// external one), the switch's bridge.
	Iface string
	// Addr4 and Addr6 are Iface's addresses (invalid on the switch).
	Addr4, Addr6 netip.Addr
	// Links lists every veth end in the namespace, Iface's first; the
	// switch's are its bridge ports.
	Links []Link

	lab *Lab
}

// Link is one veth end of a host.
type Link struct {
	Iface string
	// Addr4 and Addr6 carry the segment's prefix length; invalid on the
	// switch's ports.
	Addr4, Addr6 netip.Prefix
	// MTU is the MTU the lab was built with (Host.MTU reads the live one).
	MTU int
	// PeerNS and PeerIface name the other end of the veth pair.
	PeerNS, PeerIface string
}

// String returns the host's name and namespace.
func (h *Host) String() string { return h.Name + " (" + h.NS + ")" }

// Lab returns the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// proxyVars are dropped from the environment of every command run in a lab:
// lab traffic must never be sent to a proxy of the machine.
var proxyVars = []string{"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}

func labEnv() []string {
	env := os.Environ()
	out := env[:0:0]
next:
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range proxyVars {
			if strings.EqualFold(k, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// Command returns an unstarted command that runs name inside h's namespace
// (`ip netns exec`), with proxy variables removed from its environment. When
// ctx ends it gets SIGTERM, and SIGKILL two seconds later (so a daemon can
// detach its XDP programs); it gets SIGKILL at once if this process dies.
// Close kills it too if it is still running in the lab then. Use Run or Start
// unless the caller needs the command's pipes.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", h.NS, name}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = labEnv()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Second
	// Die with the creating thread; Go never retires threads that did not
	// lock themselves, so in practice with the process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Run runs name inside h's namespace and returns its combined output. A
// failure is a *CmdError carrying the output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if err := h.lab.checkOpen(); err != nil {
		return nil, err
	}
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, &CmdError{NS: h.NS, Args: append([]string{name}, args...), Output: trimOutput(out), Err: err}
	}
	return out, nil
}

// Start starts name in the background inside h's namespace. Its stdout and
// stderr are collected (Proc.Output). It is stopped when ctx ends (as in
// Command), by Proc.Stop, or by Close.
func (h *Host) Start(ctx context.Context, name string, args ...string) (*Proc, error) {
	if err := h.lab.checkOpen(); err != nil {
		return nil, err
	}
	cmd := h.Command(ctx, name, args...)
	p := newProc(cmd)
	if err := cmd.Start(); err != nil {
		return nil, &CmdError{NS: h.NS, Args: append([]string{name}, args...), Err: err}
	}
	go p.wait()
	if err := h.lab.addProc(p); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// Sysctl sets a sysctl of h's namespace, e.g.
// Sysctl("net.ipv4.conf.all.rp_filter", "0"). Keys use dots or slashes;
// interface names in keys must not contain dots.
func (h *Host) Sysctl(key, value string) error {
	return h.sysctls([][2]string{{key, value}})
}

// sysctls writes several sysctls in one trip into the namespace.
func (h *Host) sysctls(kvs [][2]string) error {
	if err := h.lab.checkOpen(); err != nil {
		return err
	}
	return writeSysctls(h.NS, kvs)
}

// ipBatch runs ip's batch mode, in namespace ns unless ns is empty (namespace
// management commands).
func ipBatch(ctx context.Context, ns string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return &CmdError{NS: ns, Args: append([]string{"ip"}, args...), Output: trimOutput(out), Err: err}
	}
	return nil
}

// trimOutput keeps error output short enough for a test log line.
func trimOutput(b []byte) string {
	b = bytes.TrimSpace(b)
	const max = 2048
	if len(b) > max {
		b = append(b[:max:max], "..."...)
	}
	return string(b)
}
