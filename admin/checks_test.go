package admin

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/vrrp"
)

func TestParseChecks(t *testing.T) {
	cmd, err := Parse([]string{"--checks"}, nil)
	if err != nil || cmd.Op != OpChecks {
		t.Fatalf("--checks: %v, op %v", err, cmd)
	}
	for _, args := range []string{"--checks -n", "--checks -t 198.18.0.10:80"} {
		if _, err := Parse(strings.Fields(args), nil); !errors.Is(err, ErrIllegalOption) {
			t.Errorf("%s: %v, want an illegal option", args, err)
		}
	}
}

func TestListChecks(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	rep := control.ChecksReport{
		Checks: []health.CheckStatus{{Service: "TCP 198.18.0.10:80", Real: "198.18.1.2:80", Kind: health.KindHTTP,
			Target: "198.18.1.2:80/health", Runs: 4, Failures: 2, Transitions: 1, LastReason: "HTTP status 503",
			LastChange: now.Add(-90 * time.Second)}},
		Services: []health.ServiceStatus{{Name: "TCP 198.18.0.10:80", QuorumUp: false, SorryActive: true}},
	}
	var b bytes.Buffer
	if err := ListChecks(&b, rep, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP_GET", "down", `"HTTP status 503"`, "1m30s", "quorum down (live weight 0), sorry server in"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	ListChecks(&b, control.ChecksReport{}, now)
	if !strings.Contains(b.String(), "No health checks") {
		t.Errorf("empty report: %q", b.String())
	}
}

func TestListVRRP(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	err := ListVRRP(&b, []vrrp.Status{{Name: "VI_1", State: vrrp.Master, Priority: 150, Since: now.Add(-5 * time.Second),
		Sent: 12, Received: 3, Discarded: map[string]uint64{"ttl": 2, "auth": 1},
		Master: netip.MustParseAddr("198.18.0.2"), Why: "no advertisement for Master_Down_Interval"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VI_1", "MASTER", "150", "5s", "auth=1 ttl=2", "198.18.0.2", "no advertisement for Master_Down_Interval"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, b.String())
		}
	}
	if cmd, err := Parse([]string{"--vrrp"}, nil); err != nil || cmd.Op != OpVRRP {
		t.Errorf("--vrrp: %v %v", cmd, err)
	}
}
