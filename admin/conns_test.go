package admin

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// TestListConnsWithoutAddress: an entry's missing addresses print as the
// engine used to spell them: a group template's group name, "?" for a
// template whose service is gone, nothing for a deleted real server.
func TestListConnsWithoutAddress(t *testing.T) {
	client := netip.MustParseAddrPort("198.19.0.0:0")
	dest := netip.MustParseAddrPort("198.18.1.2:80")
	conns := []control.Conn{
		{Proto: service.TCP, Expires: time.Minute, Template: true, Client: client, Group: "web", Real: dest},
		{Proto: service.TCP, Expires: time.Minute, Template: true, Client: client, Real: dest},
		{Proto: service.UDP, Expires: time.Minute, State: "UDP", Client: netip.MustParseAddrPort("198.19.0.9:5353"),
			Virtual: netip.MustParseAddrPort("198.18.0.2:53")},
	}
	var out bytes.Buffer
	if err := ListConns(&out, conns, Format{Numeric: true}, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")[2:]
	want := [][]string{
		{"TCP", "01:00", "NONE", "198.19.0.0:0", "web", "198.18.1.2:80"},
		{"TCP", "01:00", "NONE", "198.19.0.0:0", "?", "198.18.1.2:80"},
		{"UDP", "01:00", "UDP", "198.19.0.9:5353", "198.18.0.2:53"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d entries listed:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("entry %d: %q, want %q", i, got, want[i])
		}
	}
}
