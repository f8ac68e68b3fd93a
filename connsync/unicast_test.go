package connsync

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestUnicast: a master and a backup in two namespaces on a veth, each
// naming the other as its peer and neither joining a group: the backup's
// dump request reaches the master, the master's entries reach the backup,
// a second master on the backup's side (a split brain) is heard by the
// first, and a group beside peers is refused.
func TestUnicast(t *testing.T) {
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	a.IP(t, "link add ua type veth peer name ub netns "+b.Name(), "addr add 198.18.0.2/24 dev ua", "link set ua up")
	b.IP(t, "addr add 198.18.0.3/24 dev ub", "link set ub up")
	path := func(n *testnet.NetNS) string { return filepath.Join("/run/netns", n.Name()) }
	toA := []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:0")}
	toB := []netip.AddrPort{netip.MustParseAddrPort("198.18.0.3:8848")}

	if _, err := NewMaster(DaemonConfig{Interface: "ua", Group: Group, Peers: toB, NetNS: path(a)}); err == nil {
		t.Error("a group beside peers was taken")
	}
	if _, err := NewBackup(DaemonConfig{Interface: "ub", Peers: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:8848")}, NetNS: path(b)}); err == nil {
		t.Error("an IPv6 peer was taken")
	}

	m, err := NewMaster(DaemonConfig{Interface: "ua", SyncID: 9, Peers: toB, NetNS: path(a)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	bk, err := NewBackup(DaemonConfig{Interface: "ub", SyncID: 9, Peers: toA, NetNS: path(b)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var dumps, heard atomic.Int64
	var mu sync.Mutex
	got := map[netip.AddrPort]bool{}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := m.Serve(ctx, func() { dumps.Add(1) }, func(*Conn) { heard.Add(1) }); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer wg.Done()
		err := bk.Run(ctx, func(c *Conn) {
			mu.Lock()
			got[c.Client] = true
			mu.Unlock()
		})
		if err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(50 * time.Millisecond)

	if err := RequestDump(DaemonConfig{Interface: "ub", SyncID: 9, Peers: toA, NetNS: path(b)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dump request", func() bool { return dumps.Load() == 1 })

	const n = 100
	send := func(m *Master) {
		w := m.NewWriter()
		now := time.Now()
		for i := range n {
			c := Conn{Proto: 6, Flags: FwdMasq, State: 1, Timeout: 900,
				Client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 2, byte(i)}), uint16(10000+i)),
				Virtual: netip.MustParseAddrPort("198.18.0.10:80"),
				Dest:    netip.MustParseAddrPort("198.18.1.1:80")}
			if err := w.Add(&c, now); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush(now, true)
	}
	send(m)
	waitFor(t, "the master's entries", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n })
	if m.Sent.Load() == 0 || m.Lost.Load() != 0 {
		t.Errorf("master sent %d datagrams, lost %d", m.Sent.Load(), m.Lost.Load())
	}

	// A second master beside the backup, as a split brain has it.
	m2, err := NewMaster(DaemonConfig{Interface: "ub", SyncID: 9, Peers: toA, NetNS: path(b)})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	send(m2)
	waitFor(t, "the other master's entries", func() bool { return heard.Load() == n })
	if m.PeerMessages.Load() == 0 || m.PeerConns.Load() != n {
		t.Errorf("peer counts: %d messages, %d conns; want %d conns", m.PeerMessages.Load(), m.PeerConns.Load(), n)
	}
}

// TestUnicastSendAllocs: a unicast master's send path allocates nothing.
func TestUnicastSendAllocs(t *testing.T) {
	a := testnet.NewNetNS(t)
	a.IP(t, "link add va type veth peer name vb", "addr add 198.18.0.2/24 dev va", "link set va up", "link set vb up")
	peers := []netip.AddrPort{netip.MustParseAddrPort("198.18.0.3:8848"), netip.MustParseAddrPort("198.18.0.4:8848")}
	m, err := NewMaster(DaemonConfig{Interface: "va", Peers: peers, NetNS: filepath.Join("/run/netns", a.Name())})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := m.NewWriter()
	c := Conn{Proto: 6, State: 1, Timeout: 900, Client: netip.MustParseAddrPort("198.18.2.1:1000"),
		Virtual: netip.MustParseAddrPort("198.18.0.10:80"), Dest: netip.MustParseAddrPort("198.18.1.1:80")}
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { _ = w.Add(&c, now); w.Flush(now, true) }); n != 0 {
		t.Errorf("%v allocations per send", n)
	}
	if m.Sent.Load() == 0 {
		t.Error("nothing was sent")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s did not arrive", what)
}
