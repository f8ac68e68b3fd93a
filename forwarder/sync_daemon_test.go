package forwarder

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// TestSyncDaemonSockets wires engines to connsync's own sockets the way the
// daemon does, with multicast over a veth pair:
//
//	ns A: connsync.Master on sa (198.18.0.2) ── veth ── ns B: two connsync.Backups on sb (198.18.0.3)
//	master engine ─ workers' writers ─► Master            Backup.Run ─► backup engine.InstallSync
//	                SyncDumper ◄── Master.ServeRequests ◄── RequestDump (the late backup)
//
// 300 NAT connections reach the first backup from the packet path; a
// backup started later asks for a dump, gets all of them, and forwards a
// mid-flow packet of each to the real server the master chose.
func TestSyncDaemonSockets(t *testing.T) {
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	a.IP(t, "link add sa type veth peer name sb netns "+b.Name(), "addr add 198.18.0.2/24 dev sa", "link set sa up")
	b.IP(t, "addr add 198.18.0.3/24 dev sb", "link set sb up")
	nsA, nsB := filepath.Join("/run/netns", a.Name()), filepath.Join("/run/netns", b.Name())
	const n, syncID = 300, 5

	m, err := connsync.NewMaster(connsync.DaemonConfig{Interface: "sa", SyncID: syncID, NetNS: nsA})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3)
	mem := linktest.NewMemBackend(1)
	var writers []*connsync.Writer
	master, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16,
		Sync: &SyncMaster{Writer: func(int) SyncWriter {
			w := m.NewWriter()
			writers = append(writers, w)
			return w
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	goRun := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				t.Error(err)
			}
		}()
	}
	startBackup := func() (*Engine, *linktest.MemBackend, *connsync.Backup) {
		e, bmem := newTestEngine(t, cfg)
		bk, err := connsync.NewBackup(connsync.DaemonConfig{Interface: "sb", SyncID: syncID, NetNS: nsB})
		if err != nil {
			t.Fatal(err)
		}
		goRun(func() error { return bk.Run(ctx, e.InstallSync) })
		return e, bmem, bk
	}
	waitFor := func(e *Engine, want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for e.SyncStats().Installed < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if st := e.SyncStats(); st.Installed != want {
			t.Fatalf("backup installed %d, want %d (%+v)", st.Installed, want, st)
		}
	}

	first, _, _ := startBackup()
	dumper := master.NewSyncDumper(m.NewWriter(), DumpOptions{})
	goRun(func() error { dumper.Run(ctx); return nil })
	goRun(func() error { return m.ServeRequests(ctx, dumper.Request) })
	time.Sleep(100 * time.Millisecond) // the joins settle

	owner := make([]int, n)
	for i := 0; i < n; i++ {
		owner[i] = open(t, master, mem, clientOf(i), 20000, netip.AddrPortFrom(vip4, 80))
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond) // let the receiver drain, as the kernel paces its sends
		}
	}
	for _, w := range writers {
		w.Flush(time.Now(), true)
	}
	waitFor(first, n)

	late, lmem, lbk := startBackup()
	time.Sleep(100 * time.Millisecond)
	if late.SyncStats().Received != 0 {
		t.Fatal("the late backup heard entries before it asked")
	}
	if err := connsync.RequestDump(connsync.DaemonConfig{Interface: "sb", SyncID: syncID, NetNS: nsB}); err != nil {
		t.Fatal(err)
	}
	waitFor(late, n)
	if st := master.SyncStats(); st.Dumps != 1 || st.DumpEntries != n {
		t.Errorf("master: %+v", st)
	}
	if st := m.Stats(); st.Requests != 1 || st.Lost != 0 {
		t.Errorf("master socket: %+v", st)
	}
	if st := lbk.Stats(); st.Dropped != 0 || st.Conns != n {
		t.Errorf("late backup socket: %+v", st)
	}
	// The first backup heard the dump too: updates, not new entries.
	deadline := time.Now().Add(2 * time.Second)
	for first.SyncStats().Updated < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := first.SyncStats(); st.Updated != n || st.Installed != n {
		t.Errorf("first backup after the dump: %+v", st)
	}

	for i := 0; i < n; i++ {
		out := run(late, lmem, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: 20000, dport: 80, ack: true, payload: 50}))
		if len(out) != 1 || realOfFrame(out[0].Data) != owner[i] {
			t.Fatalf("connection %d on the late backup: %d frames, drops %v", i, len(out), late.Stats().Drops)
		}
	}
}
