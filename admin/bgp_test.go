package admin

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
)

func TestParseBGP(t *testing.T) {
	for _, tc := range []struct {
		args string
		op   Op
		bgp  bool
		want error
		msg  string
	}{
		{"-L --bgp", OpList, true, nil, ""},
		{"--drain", OpDrain, false, nil, ""},
		{"--undrain", OpUndrain, false, nil, ""},
		{"--drain -t 198.18.0.10:80", 0, false, ErrIllegalOption, "Illegal 'service-address' option with the 'drain' command"},
		{"-Z --bgp", 0, false, ErrIllegalOption, "Illegal 'bgp' option with the 'zero' command"},
		{"-L -c --bgp", 0, false, ErrConflict, "The option 'bgp' conflicts with the 'connection' option in the 'list' command"},
		{"-L --drops --bgp", 0, false, ErrConflict, "The option 'bgp' conflicts with the 'drops' option in the 'list' command"},
		{"-L --bgp --bgp", 0, false, ErrInvalidOption, "multiple 'bgp' options specified"},
	} {
		cmd, err := Parse(strings.Fields(tc.args), nil)
		if tc.want == nil {
			if err != nil || cmd.Op != tc.op || cmd.BGP != tc.bgp {
				t.Errorf("%s: %v, %+v", tc.args, err, cmd)
			}
			continue
		}
		if !errors.Is(err, tc.want) || err.Error() != tc.msg {
			t.Errorf("%s: got %v, want %q", tc.args, err, tc.msg)
		}
	}
}

// fakeBGP is a Backend with an announcer.
type fakeBGP struct {
	Backend
	st control.BGPStatus
}

func (f *fakeBGP) BGP() (control.BGPStatus, error) { return f.st, nil }
func (f *fakeBGP) Drain(on bool) (control.BGPStatus, error) {
	f.st.Drained = on
	return f.st, nil
}

func TestListBGP(t *testing.T) {
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	st := control.BGPStatus{ASN: 65001, RouterID: netip.MustParseAddr("198.18.1.2"),
		Healthy:   []netip.Prefix{netip.MustParsePrefix("198.19.0.10/32")},
		Announced: []netip.Prefix{netip.MustParsePrefix("198.19.0.10/32")},
		Peers: []control.BGPPeerStatus{
			{Address: netip.MustParseAddr("198.18.1.1"), ASN: 65000, Port: 179, State: "established", Up: now.Add(-90 * time.Second), PrefixesSent: 1, UpdatesSent: 3},
			{Address: netip.MustParseAddr("198.18.1.5"), ASN: 65000, Port: 1179, State: "active", LastError: "hold timer expired"},
		}}
	var b bytes.Buffer
	if err := ListBGP(&b, st, now); err != nil {
		t.Fatal(err)
	}
	want := `BGP AS 65001 router-id 198.18.1.2
PEER             AS     STATE        UP     PREFIXES  UPDATES  LAST ERROR
198.18.1.1       65000  established  1m30s  1         3        -
198.18.1.5:1179  65000  active       -      0         0        hold timer expired
Announced: 198.19.0.10/32
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	f := &fakeBGP{st: st}
	cmd, err := Parse([]string{"--drain"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(cmd, f, Env{Stdout: &out}); err != nil || !f.st.Drained || out.Len() != 0 {
		t.Fatalf("--drain: %v, drained %v, printed %q", err, f.st.Drained, out.String())
	}
	f.st.Announced = nil
	cmd, _ = Parse([]string{"-L", "--bgp"}, nil)
	if err := Run(cmd, f, Env{Stdout: &out}); err != nil || !strings.Contains(out.String(), "Healthy (held back): 198.19.0.10/32") {
		t.Fatalf("-L --bgp while drained: %v\n%s", err, out.String())
	}
}
