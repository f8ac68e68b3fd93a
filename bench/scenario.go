package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
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
	ScKernelFwd = "kernel-fwd" // plain kernel IP forwarding, straight to the real servers
	// ScKernelFwdRPS is kernel-fwd with the director's receive
	// processing steered to the director's core by RPS, where xvs's worker
	// runs: latency series only, beside kernel-fwd, when the bench pins.
	// veth forwards in the sender's softirq, so kernel-fwd never crosses
	// to another core; this one crosses as often as xvs NAT does.
	ScKernelFwdRPS = ScKernelFwd + "-rps"
	ScNftDNAT      = "nft-dnat"    // kernel forwarding + nftables DNAT of the VIP, round robin
	ScBounce2      = "bounce"      // bare AF_XDP bounce, two-armed (one copy between UMEMs)
	ScXVSNAT       = "xvs-nat"     // bin/xvs, masquerading
	ScBounce1      = "bounce-1arm" // bare AF_XDP bounce, one-armed (in place)
	ScXVSDR        = "xvs-dr"      // bin/xvs, direct routing
	ScXVSTUN       = "xvs-tun"     // bin/xvs, IPIP tunnelling
	// The same three modes on the daemon's AF_PACKET backend (--backend
	// afpacket), in the same labs and rounds as their AF_XDP twins.
	ScXVSNATAFP = ScXVSNAT + afpSuffix
	ScXVSDRAFP  = ScXVSDR + afpSuffix
	ScXVSTUNAFP = ScXVSTUN + afpSuffix
	// The AF_XDP modes with the worker spinning before it sleeps
	// (--worker-spin spinTime): latency series only, beside the default.
	ScXVSNATSpin = ScXVSNAT + spinSuffix
	ScXVSDRSpin  = ScXVSDR + spinSuffix
	ScXVSTUNSpin = ScXVSTUN + spinSuffix
	// ScXVSNATChecks (checks.go) is xvs-nat with health checks running,
	// ScXVSNATSync (sync.go) xvs-nat with a sync master.
	// The generator's own cost: frames dropped by an XDP program on the
	// director's port, nothing else. It calibrates the CPU split (see
	// attributeCPU) and shows the generator's ceiling.
	ScGenOnly  = "gen-only"
	ScGenOnly1 = "gen-only-1arm"
)

// afpSuffix marks an xvs scenario that runs the AF_PACKET backend.
const afpSuffix = "-afp"

// spinSuffix marks an xvs scenario whose daemon runs with --worker-spin
// spinTime, and spinTime is that spin: what the bench measured before it
// became an option.
const (
	spinSuffix = "-spin"
	spinTime   = 50 * time.Microsecond
)

// latencyTwin is the latency-only twin of a scenario, or "": kernel
// forwarding's on the director's core, or an AF_XDP xvs mode's spinning
// twin.
func latencyTwin(name string) string {
	switch name {
	case ScKernelFwd:
		return ScKernelFwdRPS
	case ScXVSNAT, ScXVSDR, ScXVSTUN:
		return name + spinSuffix
	}
	return ""
}

// xvs backends as bin/xvs's --backend flag names them.
const (
	backendXDP = "xdp"
	backendAFP = "afpacket"
)

// scenarioArms says which lab a scenario runs in.
func scenarioArms(name string) int {
	switch name {
	case ScBounce1, ScXVSDR, ScXVSTUN, ScXVSDRAFP, ScXVSTUNAFP, ScXVSDRSpin, ScXVSTUNSpin, ScGenOnly1:
		return 1
	}
	return 2
}

// isGenOnly reports whether s is a calibration scenario.
func isGenOnly(s string) bool { return s == ScGenOnly || s == ScGenOnly1 }

// isXVS reports whether a scenario runs bin/xvs (either backend).
func isXVS(name string) bool { return strings.HasPrefix(name, "xvs-") }

// isAFP reports whether an xvs scenario runs the AF_PACKET backend.
func isAFP(name string) bool { return isXVS(name) && strings.HasSuffix(name, afpSuffix) }

// xvsMode returns an xvs scenario's forwarding method as the daemon's
// configuration spells it: nat, dr or tun.
func xvsMode(name string) string {
	m := strings.TrimPrefix(name, "xvs-")
	for _, suffix := range []string{afpSuffix, checksSuffix, syncSuffix, pacedSuffix, spinSuffix} {
		m = strings.TrimSuffix(m, suffix)
	}
	return m
}

// xvsBackend returns the --backend an xvs scenario runs bin/xvs with.
func xvsBackend(name string) string {
	if isAFP(name) {
		return backendAFP
	}
	return backendXDP
}

// isTUN reports whether a scenario delivers IPIP (either backend).
func isTUN(name string) bool { return isXVS(name) && xvsMode(name) == "tun" }

// AllScenarios returns every scenario name in report order.
func AllScenarios() []string { return slices.Clone(scenarioOrder) }

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
	case ScKernelFwdRPS:
		return r.startKernelFwdRPS(ctx, lab)
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
	case ScXVSNAT, ScXVSDR, ScXVSTUN, ScXVSNATAFP, ScXVSDRAFP, ScXVSTUNAFP, ScXVSNATPaced:
		return r.startXVS(ctx, lab, xvsMode(name), xvsBackend(name), 0, "")
	case ScXVSNATSpin, ScXVSDRSpin, ScXVSTUNSpin:
		return r.startXVS(ctx, lab, xvsMode(name), xvsBackend(name), 0, "", "--worker-spin", spinTime.String())
	case ScXVSNATChecks:
		return r.startXVS(ctx, lab, xvsMode(name), xvsBackend(name), r.opts.CheckedReals, "")
	case ScXVSNATSync:
		return r.startSyncMaster(ctx, lab)
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
	if name == ScKernelFwd || name == ScKernelFwdRPS {
		return lab.RealAddrs()
	}
	return []netip.Addr{lab.VIP}
}

// probeTarget is where the latency probe sends: like genDsts.
func probeTarget(lab *Lab, name string) netip.AddrPort {
	return netip.AddrPortFrom(genDsts(lab, name)[0], probePort)
}

// startKernelFwdRPS is kernel-fwd with RPS steering the director's receive
// processing to the director's core.
func (r *runner) startKernelFwdRPS(ctx context.Context, lab *Lab) (Director, error) {
	cpu := r.dirCPU()
	if cpu < 0 {
		return nil, fmt.Errorf("%s: the bench does not pin, so there is no director core", ScKernelFwdRPS)
	}
	if err := lab.SetForwarding(true); err != nil {
		return nil, err
	}
	if err := lab.SteerRPS(ctx, 1<<cpu); err != nil {
		return nil, errors.Join(err, lab.SteerRPS(context.Background(), 0), lab.SetForwarding(false))
	}
	return funcDirector(func() error {
		return errors.Join(lab.SteerRPS(context.Background(), 0), lab.SetForwarding(false))
	}), nil
}

type funcDirector func() error

func (f funcDirector) Stop() error { return f() }
