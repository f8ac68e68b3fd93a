package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// udpWriter is a SyncWriter that sends each full (or flushed) version 1
// message as one UDP datagram to a backup's socket: the master's side of
// the daemon without its multicast socket.
type udpWriter struct {
	conn *net.UDPConn
	msg  connsync.Message
	buf  []byte
	sent atomic.Int64 // datagrams
}

func newUDPWriter(t testing.TB, to net.Addr) *udpWriter {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &udpWriter{conn: c, buf: make([]byte, 0, connsync.DefaultMaxLen)}
	w.msg.Reset(w.buf, connsync.DefaultSyncID, connsync.DefaultMaxLen)
	return w
}

func (w *udpWriter) Add(c *connsync.Conn, _ time.Time) error {
	err := w.msg.Add(c)
	if errors.Is(err, connsync.ErrFull) {
		w.send()
		err = w.msg.Add(c)
	}
	return err
}

func (w *udpWriter) Flush(_ time.Time, force bool) {
	if force && w.msg.Len() > 0 {
		w.send()
	}
}

func (w *udpWriter) send() {
	if _, err := w.conn.Write(w.msg.Bytes()); err == nil {
		w.sent.Add(1)
	}
	w.msg.Reset(w.buf, connsync.DefaultSyncID, connsync.DefaultMaxLen)
	time.Sleep(time.Millisecond) // pace, as the kernel's sender does, so loopback's buffer keeps up
}

// syncBackup is a backup engine reading real UDP datagrams on loopback and
// installing what it decodes, as connsync.Backup.Run does.
type syncBackup struct {
	e    *Engine
	mem  *linktest.MemBackend
	out  *countWriter // what it syncs itself: a master for other VIPs too
	pc   net.PacketConn
	msgs atomic.Int64
	errs atomic.Int64
}

func newSyncBackup(t *testing.T, cfg *service.Config) *syncBackup {
	t.Helper()
	mem := linktest.NewMemBackend(1)
	out := &countWriter{}
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16,
		Sync: &SyncMaster{Writer: func(int) SyncWriter { return out }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &syncBackup{e: e, mem: mem, out: out, pc: pc}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dec := connsync.Decoder{SyncID: connsync.DefaultSyncID}
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			b.msgs.Add(1)
			if _, err := dec.Decode(buf[:n], e.InstallSync); err != nil {
				b.errs.Add(1)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return b
}

// waitInstalled waits until the backup took n more entries than before.
func (b *syncBackup) waitInstalled(t *testing.T, before SyncStats, n int) SyncStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := b.e.SyncStats()
		got := st.Installed + st.Updated - before.Installed - before.Updated
		if got >= uint64(n) || time.Now().After(deadline) {
			if got != uint64(n) {
				t.Fatalf("backup took %d entries, want %d (%+v, %d datagrams, %d bad)", got, n, st, b.msgs.Load(), b.errs.Load())
			}
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkConnStates checks e's table for the n test connections of clientOf
// to vip4:80 after the first 100 saw a client's FIN: those are CLOSE_WAIT
// where replies pass (NAT) and FIN_WAIT otherwise, the rest ESTABLISHED.
// where says whose table it is, for the failure.
func checkConnStates(t *testing.T, e *Engine, n int, m service.Method, where string) {
	t.Helper()
	fin := conntrack.StateCloseWait
	if m != service.MethodNAT {
		fin = conntrack.StateFinWait
	}
	for i := range n {
		k := conntrack.Key{Kind: conntrack.KindConn}
		k.Src, k.Dst = clientOf(i).As16(), vip4.As16()
		k.SrcPort, k.DstPort, k.Proto = uint16(20000+i), 80, 6
		c := e.table.Lookup(&k)
		if c == nil {
			t.Fatalf("connection %d missing %s", i, where)
		}
		want := conntrack.StateEstablished
		if i < 100 {
			want = fin
		}
		if c.State() != want {
			t.Fatalf("connection %d %s: %v, want %v", i, where, c.State(), want)
		}
	}
}

func clientOf(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}) }

// realOfFrame is which test real server a forwarded frame goes to (its
// destination MAC), 0 if none.
func realOfFrame(f []byte) int {
	m := realMAC(0)
	if len(f) < 6 || [5]byte(f[:5]) != [5]byte(m[:5]) {
		return 0
	}
	return int(f[5])
}

// open takes a client's connection to vip through the handshake on engine
// e (its SYN, then its ACK) and returns the real server the SYN went to.
func open(t *testing.T, e *Engine, mem *linktest.MemBackend, client netip.Addr, sport uint16, vip netip.AddrPort) int {
	t.Helper()
	p := pkt{src: client, dst: vip.Addr(), sport: sport, dport: vip.Port(), syn: true}
	out := run(e, mem, buildFrame(t, p))
	if len(out) != 1 {
		t.Fatalf("SYN of %v to %v not forwarded: %v", client, vip, e.Stats().Drops)
	}
	p.syn, p.ack = false, true
	run(e, mem, buildFrame(t, p))
	return realOfFrame(out[0].Data)
}

// TestSyncFailover: 500 TCP connections opened on a master engine reach a
// backup engine through real UDP sockets on loopback; the backup then
// forwards a mid-flow packet of each (no SYN; the backup is not sloppy, so
// without the sync it would drop them) to the same real server, NAT and
// DR. FINs on the master move the backup's entries; a backup that joins
// late gets everything from a dump; each engine's counters say so.
func TestSyncFailover(t *testing.T) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR} {
		t.Run(m.String(), func(t *testing.T) { testSyncFailover(t, m) })
	}
}

func testSyncFailover(t *testing.T, m service.Method) {
	const n = 500
	rport := uint16(0)
	if m == service.MethodNAT {
		rport = 8080
	}
	cfg := testService(service.TCP, vip4, 80, "rr", m, rport, 3)
	backup := newSyncBackup(t, cfg)
	late := newSyncBackup(t, cfg)

	mem := linktest.NewMemBackend(1)
	var wr *udpWriter
	master, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16,
		Sync: &SyncMaster{Writer: func(int) SyncWriter { wr = newUDPWriter(t, backup.pc.LocalAddr()); return wr }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })

	// Open: SYN, then the client's ACK (ESTABLISHED). A SYN alone is not
	// synced: no entry may reach the backup before the ACKs.
	var syns, acks [][]byte
	for i := 0; i < n; i++ {
		p := pkt{src: clientOf(i), dst: vip4, sport: uint16(20000 + i), dport: 80, syn: true}
		syns = append(syns, buildFrame(t, p))
		p.syn, p.ack, p.payload = false, true, 10
		acks = append(acks, buildFrame(t, p))
	}
	owner := make([]int, n)
	for i, f := range run(master, mem, syns...) {
		owner[i] = realOfFrame(f.Data)
		if owner[i] == 0 {
			t.Fatalf("SYN %d not forwarded to a real server", i)
		}
	}
	wr.Flush(time.Now(), true)
	if st := master.SyncStats(); st.ConnsSent != 0 {
		t.Fatalf("%d connections synced in SYN_RECV", st.ConnsSent)
	}
	run(master, mem, acks...)
	wr.Flush(time.Now(), true)
	if st := master.SyncStats(); st.ConnsSent != n || st.SendErrors != 0 {
		t.Fatalf("master synced %d connections (%d errors), want %d", st.ConnsSent, st.SendErrors, n)
	}
	st := backup.waitInstalled(t, SyncStats{}, n)
	if st.Installed != n {
		t.Errorf("backup installed %d new entries, want %d", st.Installed, n)
	}

	// Failover: the backup forwards mid-flow packets to the same reals.
	failover := func(t *testing.T, b *syncBackup, from int) {
		t.Helper()
		var mid [][]byte
		for i := from; i < n; i++ {
			mid = append(mid, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: uint16(20000 + i), dport: 80, ack: true, payload: 100}))
		}
		sent := run(b.e, b.mem, mid...)
		if len(sent) != len(mid) {
			t.Fatalf("backup forwarded %d of %d mid-flow packets; drops %v", len(sent), len(mid), b.e.Stats().Drops)
		}
		for j, f := range sent {
			i := from + j
			if got := realOfFrame(f.Data); got != owner[i] {
				t.Fatalf("connection %d: backup sent it to real %d, master to %d", i, got, owner[i])
			}
			if m == service.MethodNAT {
				p := checkFrame(t, f.Data)
				if fmt.Sprint(p.NetworkLayer().NetworkFlow().Dst()) != realAddr(4, owner[i]).String() {
					t.Fatalf("connection %d: NAT frame to %v", i, p.NetworkLayer().NetworkFlow().Dst())
				}
			}
		}
	}

	// FIN on the first 100, on the master: the change propagates.
	var fins [][]byte
	for i := 0; i < 100; i++ {
		fins = append(fins, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: uint16(20000 + i), dport: 80, ack: true, fin: true}))
	}
	before := backup.e.SyncStats()
	run(master, mem, fins...)
	wr.Flush(time.Now(), true)
	backup.waitInstalled(t, before, 100)
	checkConnStates(t, backup.e, n, m, "on the backup")
	if backup.out.n != 0 {
		t.Errorf("the backup synced %d of the connections it installed", backup.out.n)
	}
	failover(t, backup, 100)
	// Forwarding them now, it is their master: each goes out once.
	if backup.out.n != n-100 {
		t.Errorf("after the failover the backup synced %d connections, want %d", backup.out.n, n-100)
	}

	// A late backup asks; the master dumps its table to it.
	dw := newUDPWriter(t, late.pc.LocalAddr())
	got, err := master.DumpSync(context.Background(), dw, DumpOptions{})
	if err != nil || got != n {
		t.Fatalf("dump wrote %d entries (%v), want %d", got, err, n)
	}
	late.waitInstalled(t, SyncStats{}, n)
	failover(t, late, 0)
	if st := master.SyncStats(); st.Dumps != 1 || st.DumpEntries != n || st.LastDump.IsZero() {
		t.Errorf("master dump counters: %+v", st)
	}

	// A backup dumps none of what it learnt and has not forwarded since,
	// unless asked: directors backing each other up under two sync IDs
	// echo nothing back.
	echo := &countWriter{}
	if got, _ := backup.e.DumpSync(context.Background(), echo, DumpOptions{}); got != n-100 {
		t.Errorf("backup's dump wrote %d entries, want the %d it forwarded", got, n-100)
	}
	// One that took over dumps them all, for its old master's return.
	if got, _ := backup.e.DumpSync(context.Background(), echo, DumpOptions{Learnt: true}); got != n {
		t.Errorf("backup's dump with learnt entries wrote %d entries, want %d", got, n)
	}
	if got, _ := late.e.DumpSync(context.Background(), echo, DumpOptions{}); got != n {
		t.Errorf("late backup's dump wrote %d entries, want the %d it forwarded", got, n)
	}
}

// countWriter counts what it is given.
type countWriter struct{ n int }

func (w *countWriter) Add(*connsync.Conn, time.Time) error { w.n++; return nil }
func (w *countWriter) Flush(time.Time, bool)               {}

// TestSyncRefused: entries for a service or real server the backup does
// not run are counted by reason and skipped; an entry for a template of a
// service that is not persistent too.
func TestSyncRefused(t *testing.T) {
	e, _ := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 3))
	base := connsync.Conn{Proto: 6, State: 1, Timeout: 900, Flags: connsync.FwdDRoute,
		Client:  netip.MustParseAddrPort("198.19.0.1:1000"),
		Virtual: netip.AddrPortFrom(vip4, 80),
		Dest:    netip.AddrPortFrom(realAddr(4, 1), 80)}
	for _, tc := range []struct {
		name string
		edit func(*connsync.Conn)
		why  SyncRefusal
	}{
		{"unknown VIP", func(c *connsync.Conn) { c.Virtual = netip.MustParseAddrPort("198.18.0.99:80") }, RefuseNoService},
		{"unknown port", func(c *connsync.Conn) { c.Virtual = netip.AddrPortFrom(vip4, 81) }, RefuseNoService},
		{"UDP", func(c *connsync.Conn) { c.Proto, c.State = 17, 0 }, RefuseNoService},
		{"fwmark", func(c *connsync.Conn) { c.FWMark = 7 }, RefuseNoService},
		{"unknown real", func(c *connsync.Conn) { c.Dest = netip.AddrPortFrom(realAddr(4, 7), 80) }, RefuseNoReal},
		{"template", func(c *connsync.Conn) { c.Flags |= connsync.FlagTemplate }, RefuseNotPersist},
	} {
		c := base
		tc.edit(&c)
		before := e.SyncStats().Refused[tc.why]
		e.InstallSync(&c)
		if got := e.SyncStats().Refused[tc.why]; got != before+1 {
			t.Errorf("%s: refused[%v] %d, want %d", tc.name, tc.why, got, before+1)
		}
	}
	if st := e.SyncStats(); st.Installed != 0 || st.Received != 6 || e.table.Len() != 0 {
		t.Errorf("after refusals: %+v, %d entries", st, e.table.Len())
	}
	e.InstallSync(&base)
	if st := e.SyncStats(); st.Installed != 1 {
		t.Errorf("good entry not installed: %+v", st)
	}
}

// TestSyncDumperFolds: requests that come before a dump starts are one
// dump; a request after it makes another.
func TestSyncDumperFolds(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 3))
	for i := 0; i < 10; i++ {
		run(e, mem, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: 5000, dport: 53, udp: true, payload: 8}))
	}
	w := &countWriter{}
	d := e.NewSyncDumper(w, DumpOptions{})
	for i := 0; i < 5; i++ {
		d.Request()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	wait := func(dumps uint64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for e.SyncStats().Dumps < dumps && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	wait(1)
	time.Sleep(20 * time.Millisecond)
	if st := e.SyncStats(); st.Dumps != 1 || st.DumpEntries != 10 {
		t.Errorf("five requests before the first dump: %d dumps of %d entries, want 1 of 10", st.Dumps, st.DumpEntries)
	}
	d.Request()
	wait(2)
	cancel()
	<-done
	if st := e.SyncStats(); st.Dumps != 2 || w.n != 20 {
		t.Errorf("after one more request: %d dumps, %d entries written", st.Dumps, w.n)
	}
}

// TestSyncConcurrent: a running engine that is master and backup at once
// takes sync entries, forwards their packets, dumps and reports, all at
// the same time (for the race detector); every packet is forwarded.
func TestSyncConcurrent(t *testing.T) {
	const n = 200
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3)
	mem := linktest.NewMemBackend(1)
	var forwarded atomic.Int64
	mem.Queue(0).OnSend = func(int, []byte) { forwarded.Add(1) }
	out := &countWriter{}
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 12,
		Sync: &SyncMaster{Writer: func(int) SyncWriter { return out }}})
	if err != nil {
		t.Fatal(err)
	}
	entry := func(i int, st uint16) connsync.Conn {
		return connsync.Conn{Proto: 6, State: st, Timeout: 900,
			Client:  netip.AddrPortFrom(clientOf(i), 20000),
			Virtual: netip.AddrPortFrom(vip4, 80),
			Dest:    netip.AddrPortFrom(realAddr(4, 1+i%3), 8080)}
	}
	for i := 0; i < n; i++ {
		c := entry(i, 1)
		e.InstallSync(&c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.Run(ctx) }()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // another director's messages
		defer wg.Done()
		for round := 0; round < 20; round++ {
			for i := 0; i < n; i++ {
				c := entry(i, uint16(1+round%2*6)) // ESTABLISHED, CLOSE_WAIT
				e.InstallSync(&c)
			}
		}
	}()
	go func() { // dumps and reports
		defer wg.Done()
		for range 10 {
			e.DumpSync(ctx, &countWriter{}, DumpOptions{Rate: 1 << 20})
			e.SyncStats()
		}
	}()
	go func() { // clients' packets
		defer wg.Done()
		for round := 0; round < 5; round++ {
			for i := 0; i < n; i++ {
				mem.Queue(0).Inject(buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: 20000, dport: 80, ack: true, payload: 10}))
			}
		}
	}()
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for forwarded.Load() < 5*n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if got := forwarded.Load(); got != 5*n {
		t.Errorf("%d of %d packets forwarded; drops %v", got, 5*n, e.Stats().Drops)
	}
	if st := e.SyncStats(); st.Installed != n || st.Updated != 20*n {
		t.Errorf("installed %d, updated %d; want %d, %d", st.Installed, st.Updated, n, 20*n)
	}
	if out.n == 0 {
		t.Error("the engine synced none of the connections it forwarded")
	}
}
