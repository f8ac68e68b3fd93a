package control

import (
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/vrrp"
)

// TestSyncSplitBrain: two directors' daemons follow VI_1 and both are
// MASTER (a split brain). When the link heals and B yields (BACKUP), B's
// master hands its own connections over in a last dump, which A's master
// installs; B's backup then asks for A's table, gets it, and A's
// instance is asked to announce its addresses.
//
//	ns A: SyncDaemons (VI_1 MASTER) ── veth sa/sb ── ns B: SyncDaemons (VI_1 MASTER, then BACKUP)
//
// The same with unicast peers: B's leaving master and its backup share
// the sync port while the hand-over runs.
func TestSyncSplitBrain(t *testing.T) {
	t.Run("multicast", func(t *testing.T) { testSyncSplitBrain(t, false) })
	t.Run("unicast", func(t *testing.T) { testSyncSplitBrain(t, true) })
}

func testSyncSplitBrain(t *testing.T, unicast bool) {
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	a.IP(t, "link add sa type veth peer name sb netns "+b.Name(), "addr add 198.18.0.2/24 dev sa", "link set sa up")
	b.IP(t, "addr add 198.18.0.3/24 dev sb", "link set sb up")
	fa, fb := newSyncFake(30), newSyncFake(0)
	fa.handNet, fa.handSize = 5, 10
	fb.handNet, fb.handSize = 6, 20
	da := NewSyncDaemons(1, SyncOptions{Logger: quietLog, NetNS: filepath.Join("/run/netns", a.Name())})
	db := NewSyncDaemons(1, SyncOptions{Logger: quietLog, NetNS: filepath.Join("/run/netns", b.Name())})
	defer da.Close()
	defer db.Close()
	da.Attach(fa)
	db.Attach(fb)
	var announced atomic.Int64
	da.SetAnnounce(func(instance string) {
		if instance == "VI_1" {
			announced.Add(1)
		}
	})
	for _, x := range []struct {
		d    *SyncDaemons
		ifc  string
		peer netip.AddrPort // a zero port is the sync port
	}{{da, "sa", netip.MustParseAddrPort("198.18.0.3:8848")}, {db, "sb", netip.MustParseAddrPort("198.18.0.2:0")}} {
		sd := SyncDaemon{Interface: x.ifc, SyncID: 4}
		if unicast {
			sd.Peers = []netip.AddrPort{x.peer}
		}
		if err := x.d.StartFile(&SyncConfig{Follow: &SyncFollows{Instance: "VI_1", SyncDaemon: sd}}, true); err != nil {
			t.Fatal(err)
		}
		x.d.OnVRRPState("VI_1", vrrp.Master)
		if x.d == da {
			// A's dump at start is out before B listens: a master
			// that hears another master installs its entries, so
			// B would learn them now instead of after it yields.
			waitUntil(t, "A's dump at start", func() bool { return da.Status().Master.Sent > 0 })
		}
	}
	time.Sleep(100 * time.Millisecond) // the joins settle
	// A's own master dump at start went to nobody listening.
	if fb.count() != 0 {
		t.Fatalf("B installed %d entries while both were master and nothing was sent", fb.count())
	}

	db.OnVRRPState("VI_1", vrrp.Backup)
	waitUntil(t, "B's hand-over on A", func() bool { return fa.count() == 20 })
	waitUntil(t, "A's dump on B", func() bool { return fb.count() == 30 })
	waitUntil(t, "A's announcement", func() bool { return announced.Load() >= 1 })
	if n := fb.handOvers.Load(); n != 1 {
		t.Errorf("B handed over %d times, want 1", n)
	}
	if n := fa.handOvers.Load(); n != 0 {
		t.Errorf("A, still master, handed over %d times", n)
	}
	fa.mu.Lock()
	for i := range 20 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 6, byte(i)}), 50000)
		if _, ok := fa.installed[c]; !ok {
			t.Errorf("A lacks B's connection %v", c)
		}
	}
	fa.mu.Unlock()
	waitUntil(t, "B's leaving master stops", func() bool {
		st := db.Status()
		return len(st.Daemons) == 1 && st.Daemons[0].Role == SyncBackup
	})
	if st := da.Status(); st.Master.PeerConns != 20 || st.Master.Requests == 0 || st.HandOvers != 0 {
		t.Errorf("A's master counts %+v, %d hand-overs", st.Master, st.HandOvers)
	}
	if st := db.Status(); st.HandOvers != 1 {
		t.Errorf("B's hand-overs: %d, want 1", st.HandOvers)
	}
	if unicast {
		// The status shows the peers in force, the sync port filled in, and no group.
		c := db.Status().Daemons[0].Config
		if len(c.Peers) != 1 || c.Peers[0] != netip.MustParseAddrPort("198.18.0.2:8848") || c.Group.IsValid() {
			t.Errorf("B's backup in force: %+v", c)
		}
	}
}
