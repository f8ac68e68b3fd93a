package admin

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/control"
)

// TestListDaemonPeers: a unicast daemon's line names its peers where
// ipvsadm's names the group; a multicast one's stays ipvsadm's.
func TestListDaemonPeers(t *testing.T) {
	st := control.SyncStatus{Daemons: []control.SyncDaemonStatus{
		{Role: control.SyncMaster, Config: control.SyncDaemon{Interface: "sync0", SyncID: 1, MaxLen: 1472, Port: 8848, TTL: 1,
			Peers: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.3:8848"), netip.MustParseAddrPort("198.18.0.4:9000")}}},
		{Role: control.SyncBackup, Config: control.SyncDaemon{Interface: "sync0", SyncID: 2, MaxLen: 9000, Port: 8848, TTL: 1,
			Group: netip.MustParseAddr("224.0.0.81")}},
	}}
	var b strings.Builder
	if err := ListDaemon(&b, st); err != nil {
		t.Fatal(err)
	}
	want := "master sync daemon (mcast=sync0, syncid=1, maxlen=1472, peers=198.18.0.3:8848,198.18.0.4:9000, port=8848)\n" +
		"backup sync daemon (mcast=sync0, syncid=2, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
