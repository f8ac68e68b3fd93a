package vrrp

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/testnet"
)

// pair is two directors' namespaces joined by one veth pair: a (.2) and
// b (.3) on 198.18.0.0/24, with IPv6 link-local addresses from the kernel.
type pair struct {
	a, b *testnet.NetNS
}

const vipText = "198.18.0.100/32"

func newPair(t *testing.T) pair {
	t.Helper()
	p := pair{a: testnet.NewNetNS(t), b: testnet.NewNetNS(t)}
	p.a.IP(t,
		"link add va type veth peer name vb netns "+p.b.Name(),
		"addr add 198.18.0.2/24 dev va",
		"link set va up")
	p.b.IP(t, "addr add 198.18.0.3/24 dev vb", "link set vb up")
	return p
}

func nsPath(n *testnet.NetNS) string { return filepath.Join("/run/netns", n.Name()) }

// instance is VI_1 (VRID 51, version 3, one GARP) for the VIP on ifname in
// n, at priority prio with adverts every interval.
func instance(n *testnet.NetNS, ifname string, prio uint8, interval time.Duration) Instance {
	return Instance{Name: "VI_1", Interface: ifname, NetNS: nsPath(n), VIPs: []netip.Prefix{netip.MustParsePrefix(vipText)},
		Config: Config{VRID: 51, Priority: prio, Interval: interval, Version: 3}, GARPRepeat: 1}
}

// hasVIP reports whether the namespace holds the address on its interface.
func hasVIP(t *testing.T, n *testnet.NetNS, vip string) bool {
	t.Helper()
	out, err := n.Command(context.Background(), "ip", "-o", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr: %v: %s", err, out)
	}
	return strings.Contains(string(out), " "+vip+" ")
}

// run starts a speaker for in; stop ends it and waits until it has left
// (after its priority-0 advert). The test's cleanup stops it too.
func run(t *testing.T, in Instance) (s *Speaker, stop func()) {
	t.Helper()
	s, err := NewSpeaker(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", in.Name, err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return s, stop
}

// waitFor polls cond every 10 ms up to limit and returns how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestElectionAndFailover: two xvs speakers elect the higher priority,
// which alone holds the VIP; when it stops it says so and the other takes
// over within Skew_Time; when it comes back it preempts.
func TestElectionAndFailover(t *testing.T) {
	p := newPair(t)
	const interval = 100 * time.Millisecond
	inst := func(n *testnet.NetNS, ifname string, prio uint8) Instance { return instance(n, ifname, prio, interval) }
	a, stopA := run(t, inst(p.a, "va", 150))
	b, _ := run(t, inst(p.b, "vb", 100))

	// a becomes master after its Master_Down_Interval (3 × 100 ms +
	// 41 ms); b stays backup since a's adverts keep coming.
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })
	time.Sleep(5 * interval)
	if b.Status().State != Backup || !hasVIP(t, p.a, vipText) || hasVIP(t, p.b, vipText) {
		t.Fatalf("after election: a %v (vip %v), b %v (vip %v)", a.Status().State, hasVIP(t, p.a, vipText),
			b.Status().State, hasVIP(t, p.b, vipText))
	}
	if st := b.Status(); st.Received == 0 || len(st.Discarded) != 0 {
		t.Errorf("b: %+v", st)
	}

	// a stops: priority-0 advert, b takes over within its skew (61 ms) plus
	// scheduling; the VIP moves.
	stopA()
	took := waitFor(t, time.Second, "b master after a's stop", func() bool { return b.Status().State == Master })
	if hasVIP(t, p.a, vipText) || !hasVIP(t, p.b, vipText) {
		t.Errorf("after a stopped: vip on a %v, on b %v", hasVIP(t, p.a, vipText), hasVIP(t, p.b, vipText))
	}
	t.Logf("takeover after a priority-0 advert: %v (skew 61 ms)", took)
	if took > 4*interval {
		t.Errorf("takeover took %v, want about the skew (< %v)", took, 4*interval)
	}

	// a returns with the higher priority and preempts.
	a2, _ := run(t, inst(p.a, "va", 150))
	waitFor(t, 2*time.Second, "a master again", func() bool { return a2.Status().State == Master })
	waitFor(t, time.Second, "b backup again", func() bool { return b.Status().State == Backup })
	if !hasVIP(t, p.a, vipText) || hasVIP(t, p.b, vipText) {
		t.Errorf("after preemption: vip on a %v, on b %v", hasVIP(t, p.a, vipText), hasVIP(t, p.b, vipText))
	}
}

// TestSilentMasterDies: a master that goes silent without a word (its link
// cut) is replaced after the backup's Master_Down_Interval: 3 × 100 ms +
// (256−100)/256 × 100 ms = 361 ms.
func TestSilentMasterDies(t *testing.T) {
	p := newPair(t)
	inst := func(n *testnet.NetNS, ifname string, prio uint8) Instance {
		return instance(n, ifname, prio, 100*time.Millisecond)
	}
	a, _ := run(t, inst(p.a, "va", 200))
	b, _ := run(t, inst(p.b, "vb", 100))
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })
	time.Sleep(300 * time.Millisecond)
	// Cut a off: its adverts no longer reach b (a keeps thinking it is
	// master, as a crashed box's kernel would keep nothing).
	p.a.IP(t, "link set va down")
	took := waitFor(t, 2*time.Second, "b master", func() bool { return b.Status().State == Master })
	t.Logf("takeover after silence: %v (Master_Down_Interval 361 ms)", took)
	if took < 250*time.Millisecond || took > 700*time.Millisecond {
		t.Errorf("takeover after %v, want about 361 ms", took)
	}
}

// TestUnicastPeers: with unicast_peer the two speakers elect over unicast
// (no group joined is needed) and an advert from an address that is not a
// peer is discarded.
func TestUnicastPeers(t *testing.T) {
	p := newPair(t)
	vip := netip.MustParsePrefix(vipText)
	inst := func(n *testnet.NetNS, ifname string, prio uint8, peer string) Instance {
		return Instance{Name: "VI_1", Interface: ifname, NetNS: nsPath(n), VIPs: []netip.Prefix{vip},
			Config:       Config{VRID: 51, Priority: prio, Interval: 100 * time.Millisecond, Version: 3},
			UnicastPeers: []netip.Addr{netip.MustParseAddr(peer)}, GARPRepeat: 1}
	}
	a, stopA := run(t, inst(p.a, "va", 150, "198.18.0.3"))
	b, _ := run(t, inst(p.b, "vb", 100, "198.18.0.2"))
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })
	time.Sleep(500 * time.Millisecond)
	if st := b.Status(); st.State != Backup || st.Received == 0 || len(st.Discarded) != 0 {
		t.Fatalf("b over unicast: %+v", st)
	}
	stopA()
	waitFor(t, time.Second, "b master", func() bool { return b.Status().State == Master })

	// A third speaker on a's side, from an address b does not list.
	p.a.IP(t, "addr add 198.18.0.4/24 dev va")
	ci := inst(p.a, "va", 200, "198.18.0.3")
	ci.Primary = netip.MustParseAddr("198.18.0.4")
	c, _ := run(t, ci)
	waitFor(t, 2*time.Second, "c master (b does not hear it)", func() bool { return c.Status().State == Master })
	time.Sleep(300 * time.Millisecond)
	if st := b.Status(); st.State != Master || st.Discarded["not-a-peer"] == 0 {
		t.Errorf("b hearing a non-peer: %+v", st)
	}
}

// TestSplitBrainHeals: with the link between them cut both speakers are
// master; restored, exactly one master remains within two advertisement
// intervals (the lower priority yields at the first advert it hears).
func TestSplitBrainHeals(t *testing.T) {
	p := newPair(t)
	const interval = 100 * time.Millisecond
	inst := func(n *testnet.NetNS, ifname string, prio uint8) Instance { return instance(n, ifname, prio, interval) }
	a, _ := run(t, inst(p.a, "va", 150))
	b, _ := run(t, inst(p.b, "vb", 100))
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })
	// Cut the wire without touching either speaker's interface: b's side
	// drops every VRRP packet it receives, so b hears nothing while a
	// still hears b.
	if out, err := p.b.Command(context.Background(), "nft", "add table inet split; add chain inet split in { type filter hook input priority 0; policy accept; }; add rule inet split in ip protocol 112 drop").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	waitFor(t, 2*time.Second, "b master during the split", func() bool { return b.Status().State == Master })
	if a.Status().State != Master {
		t.Fatalf("a left master during the split: %v", a.Status().State)
	}
	if out, err := p.b.Command(context.Background(), "nft", "delete table inet split").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	took := waitFor(t, 2*interval+100*time.Millisecond, "one master after the heal", func() bool {
		return b.Status().State == Backup
	})
	t.Logf("split healed %v after the link returned", took)
	time.Sleep(3 * interval)
	if a.Status().State != Master || b.Status().State != Backup {
		t.Errorf("after the heal: a %v, b %v", a.Status().State, b.Status().State)
	}
	if !hasVIP(t, p.a, vipText) || hasVIP(t, p.b, vipText) {
		t.Errorf("after the heal: vip on a %v, on b %v", hasVIP(t, p.a, vipText), hasVIP(t, p.b, vipText))
	}
}

// garpCounter opens an ARP capture in n and returns a function that
// counts the gratuitous ARPs for the VIP it sees for d.
func garpCounter(t *testing.T, n *testnet.NetNS) func(d time.Duration) int {
	t.Helper()
	var fd int
	if err := n.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix(vipText).Addr().As4()
	buf := make([]byte, 128)
	return func(d time.Duration) int {
		garps := 0
		for end := time.Now().Add(d); time.Now().Before(end); {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			// A gratuitous ARP names the VIP as sender and target.
			if err == nil && m >= 42 && [4]byte(buf[28:32]) == vip && [4]byte(buf[38:42]) == vip {
				garps++
			}
		}
		return garps
	}
}

// TestGARPRefresh: a master with garp_master_refresh repeats its gratuitous
// ARP that often, so switches and hosts that age entries out keep it.
func TestGARPRefresh(t *testing.T) {
	p := newPair(t)
	count := garpCounter(t, p.b)
	in := instance(p.a, "va", OwnerPriority, time.Second)
	in.GARPRefresh, in.GARPDelay = 100*time.Millisecond, -1
	run(t, in)
	garps := count(650 * time.Millisecond)
	t.Logf("%d gratuitous ARPs in 650 ms (one burst, then one every 100 ms)", garps)
	if garps < 5 {
		t.Errorf("%d gratuitous ARPs in 650 ms, want the first and about one per 100 ms", garps)
	}
}

// TestTrackInterface: a tracked interface with weight −60 lowers a's
// priority from 150 to 90 while it is down, so b (100) preempts; back up,
// a preempts again.
func TestTrackInterface(t *testing.T) {
	p := newPair(t)
	p.a.IP(t, "link add ta type veth peer name tb", "link set ta up", "link set tb up")
	const interval = 100 * time.Millisecond
	in := instance(p.a, "va", 150, interval)
	in.Tracks = []Track{{Interface: "ta", Weight: -60}}
	a, _ := run(t, in)
	b, _ := run(t, instance(p.b, "vb", 100, interval))
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })

	p.a.IP(t, "link set tb down") // ta loses its carrier
	took := waitFor(t, 2*time.Second, "b master after a's link went down", func() bool { return b.Status().State == Master })
	t.Logf("b took over %v after a's tracked link went down", took)
	// b's status says MASTER once its first advert is out; a yields when
	// that advert arrives, which a loaded machine may deliver a little
	// later.
	waitFor(t, 4*interval, "a backup", func() bool { return a.Status().State == Backup })
	if st := a.Status(); st.State != Backup || st.Priority != 90 {
		t.Errorf("a: %v priority %d, want BACKUP at 90", st.State, st.Priority)
	}
	p.a.IP(t, "link set tb up")
	waitFor(t, 2*time.Second, "a master again", func() bool { return a.Status().State == Master })
	if st := a.Status(); st.Priority != 150 || !hasVIP(t, p.a, vipText) || hasVIP(t, p.b, vipText) {
		t.Errorf("after the link came back: a at %d, vip on a %v, on b %v", st.Priority, hasVIP(t, p.a, vipText), hasVIP(t, p.b, vipText))
	}
}

// TestTrackScriptFault: a tracked script of weight 0 that fails twice in a
// row (fall 2) puts the master in FAULT: it leaves with a priority-0
// advert, drops the VIP and the backup takes over at once; when the script
// passes again (rise 1) it is a backup, then preempts.
func TestTrackScriptFault(t *testing.T) {
	p := newPair(t)
	flag := filepath.Join(t.TempDir(), "down")
	const interval = 100 * time.Millisecond
	in := instance(p.a, "va", 150, interval)
	in.Tracks = []Track{{Script: []string{"/bin/sh", "-c", "test ! -e " + flag}, Interval: 50 * time.Millisecond, Fall: 2, Rise: 1}}
	a, _ := run(t, in)
	b, _ := run(t, instance(p.b, "vb", 100, interval))
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })

	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "a in FAULT", func() bool { return a.Status().State == Fault })
	took := waitFor(t, time.Second, "b master", func() bool { return b.Status().State == Master })
	t.Logf("b master %v after a's fault", took)
	if hasVIP(t, p.a, vipText) {
		t.Error("a in FAULT still holds the VIP")
	}
	if took > 4*interval {
		t.Errorf("takeover %v after a fault, want about the skew: a leaves with a priority-0 advert", took)
	}
	os.Remove(flag)
	waitFor(t, 2*time.Second, "a master again", func() bool { return a.Status().State == Master })
}
