package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAnnounceRequest: Speaker.Announce makes a master send its
// gratuitous ARPs again at once (the daemon asks for it when another
// director turns backup), and a backup send none; OnMaster hears the
// master-ness of each before its addresses move.
func TestAnnounceRequest(t *testing.T) {
	p := newPair(t)
	var fd int
	if err := p.b.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix(vipText).Addr().As4()
	buf := make([]byte, 128)
	garps := func(d time.Duration) int {
		n := 0
		for end := time.Now().Add(d); time.Now().Before(end); {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err == nil && m >= 42 && [4]byte(buf[28:32]) == vip && [4]byte(buf[38:42]) == vip {
				n++
			}
		}
		return n
	}

	masterAt := make(chan bool, 4)
	in := instance(p.a, "va", 150, 100*time.Millisecond)
	in.GARPDelay = -1
	in.OnMaster = func(m bool) {
		if m && hasVIP(t, p.a, vipText) {
			t.Error("OnMaster(true) after the VIP was added")
		}
		masterAt <- m
	}
	a, _ := run(t, in)
	waitFor(t, 2*time.Second, "a master", func() bool { return a.Status().State == Master })
	if m := <-masterAt; !m {
		t.Fatal("OnMaster(false) first")
	}
	garps(200 * time.Millisecond) // the takeover's burst
	if n := garps(200 * time.Millisecond); n != 0 {
		t.Fatalf("%d gratuitous ARPs while idle", n)
	}
	a.Announce()
	if n := garps(200 * time.Millisecond); n != 1 {
		t.Errorf("%d gratuitous ARPs after Announce, want GARPRepeat's 1", n)
	}

	// A backup (b hears a's higher priority) ignores the request.
	bIn := instance(p.b, "vb", 100, 100*time.Millisecond)
	b, _ := run(t, bIn)
	waitFor(t, 2*time.Second, "b backup", func() bool { return b.Status().State == Backup })
	time.Sleep(100 * time.Millisecond)
	b.Announce()
	if n := garps(200 * time.Millisecond); n != 0 {
		t.Errorf("%d gratuitous ARPs after a backup's Announce", n)
	}
}
