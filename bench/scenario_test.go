package bench

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/control"
)

// TestXVSConfigParses: the YAML the bench hands bin/xvs is what the daemon's
// own loader accepts, for every method.
func TestXVSConfigParses(t *testing.T) {
	reals := []netip.Addr{realAddr(1), realAddr(2), realAddr(3)}
	for _, m := range []string{"nat", "dr", "tun"} {
		cfg, err := control.ParseConfig("bench-"+m+".yaml", []byte(xvsConfig(labVIP, reals, m)))
		if err != nil {
			t.Fatalf("%s: %v\n%s", m, err, xvsConfig(labVIP, reals, m))
		}
		if len(cfg.Services) != 3 {
			t.Fatalf("%s: %d services", m, len(cfg.Services))
		}
		for _, s := range cfg.Services {
			if len(s.Reals) != 3 {
				t.Errorf("%s: service %v has %d reals", m, s, len(s.Reals))
			}
		}
	}
}

// TestNftRulesetChecks runs `nft -c` on the ruleset in a throwaway network
// namespace, when nft is installed.
func TestNftRulesetChecks(t *testing.T) {
	needRoot(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (bench/deps.sh installs it)")
	}
	rs := nftRuleset(labVIP, []netip.Addr{realAddr(1), realAddr(2)})
	if !strings.Contains(rs, "numgen inc mod 2 map { 0 : 198.18.1.1, 1 : 198.18.1.2 }") {
		t.Errorf("ruleset:\n%s", rs)
	}
	cmd := exec.Command("unshare", "--net", nft, "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(rs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -c: %v: %s\n%s", err, out, rs)
	}
}
