package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/health/pathprobe"
)

// parseProbeAddrs reads --probe-address: prefixes on the director's
// subnet, at most one per family.
func parseProbeAddrs(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, w := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(w))
		if err != nil {
			return nil, fmt.Errorf("run: --probe-address %q: want ADDRESS/PREFIXLEN on the director's subnet", w)
		}
		out = append(out, p)
	}
	return out, nil
}

// probeRouter routes a file's path-true probes through prober, or, with no
// prober, says once per file that its DR and TUN checks dial the real
// servers directly.
func probeRouter(prober *pathprobe.Prober, log *slog.Logger) func(*control.File) error {
	return func(f *control.File) error {
		var set []pathprobe.Probe
		for _, p := range f.Probes {
			if !p.Off {
				set = append(set, pathprobe.Probe{VIP: p.VIP, Real: p.Real, Net: p.Net})
			}
		}
		if prober == nil {
			if len(set) > 0 {
				log.Warn("path-true checks need --probe-address; DR and TUN real servers are checked at their own address", "checks", len(set))
			}
			return nil
		}
		// A probe that cannot be routed would run plain and call a server
		// without the VIP up: the file is refused instead.
		if err := prober.Sync(set); err != nil {
			return fmt.Errorf("path-true probes: %w", err)
		}
		return nil
	}
}
