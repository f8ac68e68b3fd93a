package admin

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

func TestParseMH(t *testing.T) {
	for _, tc := range []struct {
		args string
		want error
		msg  string
	}{
		{"-L --mh", nil, ""},
		{"-L -n --mh", nil, ""},
		{"-A -t 198.18.0.10:80 --mh", ErrIllegalOption, "Illegal 'mh' option with the 'add-service' command"},
		{"-L -c --mh", ErrConflict, "The option 'mh' conflicts with the 'connection' option in the 'list' command"},
		{"-L -t 198.18.0.10:80 --mh", ErrConflict, "The option 'mh' conflicts with the 'service-address' option in the 'list' command"},
		{"-L --drops --mh", ErrConflict, "The option 'mh' conflicts with the 'drops' option in the 'list' command"},
		{"-L --mh --mh", ErrInvalidOption, "multiple 'mh' options specified"},
	} {
		cmd, err := Parse(strings.Fields(tc.args), nil)
		if tc.want == nil {
			if err != nil || !cmd.MH {
				t.Errorf("%s: %v, mh %v", tc.args, err, cmd != nil && cmd.MH)
			}
			continue
		}
		if !errors.Is(err, tc.want) || err.Error() != tc.msg {
			t.Errorf("%s: got %v, want %q", tc.args, err, tc.msg)
		}
	}
}

func TestListMH(t *testing.T) {
	real := func(a string, w int32, slots int) control.MHShare {
		return control.MHShare{Key: service.RealKey{Addr: netip.MustParseAddr(a), Port: 80}, Weight: w, Slots: slots}
	}
	tables := []control.MHTable{
		{Service: service.Key{Proto: service.TCP, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80}, Size: 4093,
			Flags: []string{"mh-fallback", "mh-port"}, Digest: "0123456789abcdef",
			Reals: []control.MHShare{real("198.18.1.1", 1, 2047), real("198.18.1.2", 1, 2046)}},
		{Service: service.Key{Proto: service.UDP, Addr: netip.MustParseAddr("2001:db8::10"), Port: 53}, Size: 251,
			Digest: "fedcba9876543210", Reals: []control.MHShare{real("2001:db8:0:1::1", 0, 251)}},
	}
	var b strings.Builder
	if err := ListMH(&b, tables, Format{Numeric: true}, nil); err != nil {
		t.Fatal(err)
	}
	want := `Prot LocalAddress:Port            Size     Flags        Digest
  -> RemoteAddress:Port           Weight   Slots
TCP  198.18.0.10:80               4093     mh-fallback,mh-port 0123456789abcdef
  -> 198.18.1.1:80                1        2047
  -> 198.18.1.2:80                1        2046
UDP  [2001:db8::10]:53            251      -            fedcba9876543210
  -> [2001:db8:0:1::1]:80         0        251
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
