package keepalived

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/health"
)

// TestBuild: statements from another reader (as a YAML check: block would give them) get the
// same model as the same text would.
func TestBuild(t *testing.T) {
	p := Pos{"xvs.yaml", 7}
	cfg, err := Build([]Stmt{{Pos: p, Key: "virtual_server", Args: []string{"198.18.0.1", "80"}, Block: true, Children: []Stmt{
		{Pos: p, Key: "delay_loop", Args: []string{"3"}},
		{Pos: p, Key: "real_server", Args: []string{"198.18.1.2", "80"}, Block: true, Children: []Stmt{
			{Pos: p, Key: "notify_down", Args: []string{"/bin/echo down now"}},
			{Pos: p, Key: "HTTP_GET", Block: true, Children: []Stmt{
				{Pos: p, Key: "url", Block: true, Children: []Stmt{{Pos: p, Key: "path", Args: []string{"/health"}}}},
			}},
		}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.VirtualServers[0].Reals[0]
	h := r.Checks[0].Checker.(*health.HTTP)
	if h.Addr != netip.MustParseAddrPort("198.18.1.2:80") || r.Checks[0].Timing.DelayLoop != 3*time.Second || strings.Join(r.NotifyDown, "|") != "/bin/echo|down|now" {
		t.Fatalf("%+v %+v", h, r)
	}
	_, err = Build([]Stmt{{Pos: p, Key: "virtual_server", Args: []string{"198.18.0.1", "80"}, Block: true, Children: []Stmt{
		{Pos: p, Key: "delay_loop", Args: []string{"0"}}}}})
	if err == nil || err.Error() != "xvs.yaml:7: virtual_server 198.18.0.1 80: delay_loop: interval 0: must be positive" {
		t.Fatal(err)
	}
}
