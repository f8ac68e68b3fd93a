package vrrp

import (
	"testing"
	"time"
)

// TestAnnounceRequest: Speaker.Announce makes a master send its
// gratuitous ARPs again at once (the daemon asks for it when another
// director turns backup), and a backup send none; OnMaster hears the
// master-ness of each before its addresses move.
func TestAnnounceRequest(t *testing.T) {
	p := newPair(t)
	garps := garpCounter(t, p.b)

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
