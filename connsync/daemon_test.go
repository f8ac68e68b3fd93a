package connsync

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestMasterToBackup: a master in one namespace multicasts 500 connections
// over a veth pair to a backup in another: every one arrives intact, no
// datagram is longer than sync_maxlen, a backup of another sync ID takes
// nothing, and one with sync ID 0 takes all.
func TestMasterToBackup(t *testing.T) {
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	a.IP(t, "link add sa type veth peer name sb netns "+b.Name(), "addr add 198.18.0.2/24 dev sa", "link set sa up")
	b.IP(t, "addr add 198.18.0.3/24 dev sb", "link set sb up")
	path := func(n *testnet.NetNS) string { return filepath.Join("/run/netns", n.Name()) }

	const n = 500
	m, err := NewMaster(DaemonConfig{Interface: "sa", SyncID: 9, MaxLen: 1000, NetNS: path(a)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	type rx struct {
		b     *Backup
		mu    sync.Mutex
		conns map[netip.AddrPort]Conn
	}
	var backups []*rx
	for _, id := range []uint8{9, 0, 10} {
		bk, err := NewBackup(DaemonConfig{Interface: "sb", SyncID: id, NetNS: path(b)})
		if err != nil {
			t.Fatal(err)
		}
		backups = append(backups, &rx{b: bk, conns: map[netip.AddrPort]Conn{}})
	}
	// A backup's buffer holds a dump's burst, not the kernel's default.
	if got := rcvBuf(t, backups[0].b); got < DefaultBackupBuffer {
		t.Errorf("backup receive buffer %d bytes, want at least %d", got, DefaultBackupBuffer)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range backups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.b.Run(ctx, func(c *Conn) {
				r.mu.Lock()
				r.conns[c.Client] = *c
				r.mu.Unlock()
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the joins settle

	w := m.NewWriter()
	now := time.Now()
	want := make([]Conn, n)
	for i := range want {
		want[i] = Conn{Proto: 6, Flags: FwdDRoute, State: 1, Timeout: 900,
			Client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 2, byte(i)}), uint16(10000+i)),
			Virtual: netip.MustParseAddrPort("198.18.0.10:80"),
			Dest:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(1 + i%3)}), 80)}
		if err := w.Add(&want[i], now); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond) // let the receivers' buffers drain, as the kernel's sender paces itself
		}
	}
	w.Flush(now, true)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		backups[0].mu.Lock()
		got := len(backups[0].conns)
		backups[0].mu.Unlock()
		if got == n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()

	// 1000-byte messages hold (1000-8)/36 = 27 IPv4 entries: 19 datagrams.
	if sent, lost := m.Sent.Load(), m.Lost.Load(); sent != 19 || lost != 0 {
		t.Errorf("master sent %d datagrams (lost %d), want 19", sent, lost)
	}
	for i, r := range backups {
		r.mu.Lock()
		got := len(r.conns)
		r.mu.Unlock()
		wantN := n
		if i == 2 {
			wantN = 0
		}
		if got != wantN || r.b.Dropped.Load() != 0 {
			t.Errorf("backup %d (syncid %d): %d conns, %d dropped; want %d", i, r.b.dec.SyncID, got, r.b.Dropped.Load(), wantN)
		}
	}
	for _, c := range want {
		got, ok := backups[0].conns[c.Client]
		if !ok || fmt.Sprint(got) != fmt.Sprint(c) {
			t.Errorf("conn %v: got %+v", c.Client, got)
			break
		}
	}
}

// rcvBuf is the backup socket's receive buffer as the kernel reports it.
func rcvBuf(t *testing.T, b *Backup) int {
	t.Helper()
	rc, err := b.pc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) { n, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return n
}
