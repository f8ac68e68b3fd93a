package control

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeBGP is a BGPControl with one peer and one healthy VIP.
type fakeBGP struct{ st BGPStatus }

func (f *fakeBGP) BGPStatus() BGPStatus {
	st := f.st
	if st.Drained {
		st.Announced = []netip.Prefix{}
	}
	return st
}

func (f *fakeBGP) Drain(on bool) error {
	f.st.Drained = on
	return nil
}

func newFakeBGP() *fakeBGP {
	vip := netip.MustParsePrefix("198.19.0.10/32")
	return &fakeBGP{st: BGPStatus{ASN: 65001, RouterID: netip.MustParseAddr("198.18.1.2"),
		Healthy: []netip.Prefix{vip}, Announced: []netip.Prefix{vip},
		Peers: []BGPPeerStatus{{Address: netip.MustParseAddr("198.18.1.1"), ASN: 65000, Port: 179, State: "established",
			PrefixesSent: 1, UpdatesSent: 4}}}}
}

// TestServerBGP: bgp answers the status, drain and undrain switch it and
// answer it; a daemon without BGP answers CodeNoBGP.
func TestServerBGP(t *testing.T) {
	path, _ := startServer(t, newFakeEngine(), WithBGP(newFakeBGP()))
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.BGP()
	if err != nil || len(st.Announced) != 1 || st.Peers[0].State != "established" || st.Drained {
		t.Fatalf("bgp: %+v, %v", st, err)
	}
	if st, err = c.Drain(true); err != nil || !st.Drained || len(st.Announced) != 0 || len(st.Healthy) != 1 {
		t.Fatalf("drain: %+v, %v", st, err)
	}
	if st, err = c.Drain(false); err != nil || st.Drained || len(st.Announced) != 1 {
		t.Fatalf("undrain: %+v, %v", st, err)
	}

	path, _ = startServer(t, newFakeEngine())
	c2, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, call := range []func() (BGPStatus, error){c2.BGP, func() (BGPStatus, error) { return c2.Drain(true) }} {
		if _, err := call(); !errors.Is(err, ErrNoBGP) {
			t.Errorf("without BGP: %v, want ErrNoBGP", err)
		}
	}
}

func TestBGPMetrics(t *testing.T) {
	f := newFakeBGP()
	f.st.Peers = append(f.st.Peers, BGPPeerStatus{Address: netip.MustParseAddr("198.18.1.5"), ASN: 65000, State: "active"})
	m := NewBGPMetrics(f.BGPStatus)
	want := `
# HELP xvs_bgp_drained 1 while xvsadm --drain holds every prefix back.
# TYPE xvs_bgp_drained gauge
xvs_bgp_drained 0
# HELP xvs_bgp_peer_prefixes_sent Prefixes the BGP peer has from this director now.
# TYPE xvs_bgp_peer_prefixes_sent gauge
xvs_bgp_peer_prefixes_sent{peer="198.18.1.1"} 1
xvs_bgp_peer_prefixes_sent{peer="198.18.1.5"} 0
# HELP xvs_bgp_peer_up 1 while the BGP session is established.
# TYPE xvs_bgp_peer_up gauge
xvs_bgp_peer_up{peer="198.18.1.1"} 1
xvs_bgp_peer_up{peer="198.18.1.5"} 0
# HELP xvs_bgp_peer_updates_sent_total BGP UPDATE messages sent on the session.
# TYPE xvs_bgp_peer_updates_sent_total counter
xvs_bgp_peer_updates_sent_total{peer="198.18.1.1"} 4
xvs_bgp_peer_updates_sent_total{peer="198.18.1.5"} 0
# HELP xvs_bgp_prefixes_announced VIP prefixes announced now.
# TYPE xvs_bgp_prefixes_announced gauge
xvs_bgp_prefixes_announced 1
`
	names := []string{"xvs_bgp_drained", "xvs_bgp_peer_prefixes_sent", "xvs_bgp_peer_up", "xvs_bgp_peer_updates_sent_total", "xvs_bgp_prefixes_announced"}
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m, "xvs_bgp_peer_state"); n != 2*len(BGPStates) {
		t.Errorf("xvs_bgp_peer_state: %d series, want %d", n, 2*len(BGPStates))
	}
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
