package admin

import (
	"errors"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/control"
)

func TestParseDrops(t *testing.T) {
	for _, tc := range []struct {
		args string
		want error
		msg  string
	}{
		{"-L --drops", nil, ""},
		{"-L -n --drops", nil, ""},
		{"-l --drops", nil, ""},
		{"-A -t 198.18.0.10:80 --drops", ErrIllegalOption, "Illegal 'drops' option with the 'add-service' command"},
		{"-Z --drops", ErrIllegalOption, "Illegal 'drops' option with the 'zero' command"},
		{"-L -c --drops", ErrConflict, "The option 'drops' conflicts with the 'connection' option in the 'list' command"},
		{"-L --timeout --drops", ErrConflict, "The option 'drops' conflicts with the 'timeout' option in the 'list' command"},
		{"-L -t 198.18.0.10:80 --drops", ErrConflict, "The option 'drops' conflicts with the 'service-address' option in the 'list' command"},
		{"-L --drops --drops", ErrInvalidOption, "multiple 'drops' options specified"},
	} {
		cmd, err := Parse(strings.Fields(tc.args), nil)
		if tc.want == nil {
			if err != nil || !cmd.Drops {
				t.Errorf("%s: %v, drops %v", tc.args, err, cmd != nil && cmd.Drops)
			}
			continue
		}
		if !errors.Is(err, tc.want) || err.Error() != tc.msg {
			t.Errorf("%s: got %v, want %q", tc.args, err, tc.msg)
		}
	}
}

func TestListDrops(t *testing.T) {
	rep := control.DropReport{
		Drops: []control.Drop{
			{Queue: "veth1/0", Reason: "xsk-rx-ring-full", Count: 7},
			{Queue: "veth0/0", Reason: "xsk-rx-ring-full", Count: 1200},
			{Queue: "veth0/0", Reason: "no-route", Count: 3},
			{Reason: "evict-datagram", Count: 10},
		},
		Events: []control.Drop{{Queue: "veth0/0", Reason: "steer-service", Count: 50000}},
	}
	var b strings.Builder
	if err := ListDrops(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := `Reason            Queue    Packets
evict-datagram    -             10
no-route          veth0/0        3
xsk-rx-ring-full  veth0/0     1200
xsk-rx-ring-full  veth1/0        7
xsk-rx-ring-full  all         1207
total                         1220

Not dropped       Queue    Packets
steer-service     veth0/0    50000
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
