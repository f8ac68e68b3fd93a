package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestReloadEndToEnd: SIGHUP reloads the file atomically. A connection to a
// real server that stays keeps flowing; a bad file is refused with its line
// and the running table is untouched.
func TestReloadEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	twoReals := func(l *testnet.Lab, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "services:\n  - proto: tcp\n    vip: %s\n    port: 80\n    scheduler: rr\n    reals:\n", l.VIP4)
		for _, r := range l.Reals[:n] {
			fmt.Fprintf(&b, "      - {address: %s, method: dr}\n", r.Addr4)
		}
		return b.String()
	}
	l := startWith(t, setup{mode: testnet.DR, backend: "xdp", reals: 2,
		config: func(l *testnet.Lab) string { return twoReals(l, 2) },
		serve:  testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{}}})
	web := netip.AddrPortFrom(l.VIP4, 80)
	held, err := dial(l.Client, netip.Addr{}, web)
	if err != nil {
		t.Fatal(err)
	}
	defer held.c.Close()
	first, err := held.get()
	if err != nil {
		t.Fatal(err)
	}
	keep := l.Lab.Host(first)
	// Keep only the server the held connection uses, and send SIGHUP.
	var b strings.Builder
	fmt.Fprintf(&b, "services:\n  - proto: tcp\n    vip: %s\n    port: 80\n    scheduler: rr\n    reals:\n      - {address: %s, method: dr}\n", l.VIP4, keep.Addr4)
	if err := os.WriteFile(l.cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.xvs.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.xvs.WaitOutput(ctx, "configuration reloaded"); err != nil {
		t.Fatal(err)
	}
	if got, err := held.get(); err != nil || got != first {
		t.Fatalf("held connection after reload: %q, %v", got, err)
	}
	for i := 0; i < 6; i++ {
		if got := once(t, l.Client, netip.Addr{}, web); got != first {
			t.Fatalf("new connection went to %s; only %s is configured", got, first)
		}
	}

	// A bad file is refused, with its line, and nothing changes.
	before := l.xvsadm(t, "-Sn")
	if err := os.WriteFile(l.cfgPath, []byte("services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: nonsense, method: dr}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := l.client(t)
	err = c.Reload()
	if err == nil || !strings.Contains(err.Error(), ":6:") || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("bad reload: %v, want the line and the culprit", err)
	}
	if after := l.xvsadm(t, "-Sn"); after != before {
		t.Errorf("a refused reload changed the table:\n%s\nwas:\n%s", after, before)
	}
	if got, err := held.get(); err != nil || got != first {
		t.Fatalf("held connection after a refused reload: %q, %v", got, err)
	}
}
