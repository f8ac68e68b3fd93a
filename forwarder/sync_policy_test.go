package forwarder

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// recordWriter keeps a copy of every entry it is given.
type recordWriter struct{ got []connsync.Conn }

func (w *recordWriter) Add(c *connsync.Conn, _ time.Time) error {
	w.got = append(w.got, *c)
	return nil
}
func (w *recordWriter) Flush(time.Time, bool) {}

// take returns and forgets what was recorded.
func (w *recordWriter) take() []connsync.Conn {
	g := w.got
	w.got = nil
	return g
}

// syncMaster is a master engine on a clock the test moves, recording what
// it syncs.
func syncMaster(t *testing.T, cfg *service.Config, p *connsync.Policy) (*Engine, *linktest.MemBackend, *recordWriter, *atomic.Int64) {
	t.Helper()
	var now atomic.Int64
	now.Store(int64(time.Hour))
	w := &recordWriter{}
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 12,
		Clock: now.Load, Sync: &SyncMaster{Writer: func(int) SyncWriter { return w }, Policy: p}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, mem, w, &now
}

// TestSyncRuleXVS: xvs's rule sends a TCP connection when it becomes
// ESTABLISHED, at each later change, and again when the copy a backup has
// is half expired; never in the handshake. A UDP flow goes at its first
// packet and then at half its timeout.
func TestSyncRuleXVS(t *testing.T) {
	e, mem, w, now := syncMaster(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 3), nil)
	p := pkt{src: client4, dst: vip4, sport: 40000, dport: 80}
	send := func(edit func(*pkt)) []connsync.Conn {
		q := p
		edit(&q)
		run(e, mem, buildFrame(t, q))
		return w.take()
	}
	ack := func(q *pkt) { q.ack = true }
	if got := send(func(q *pkt) { q.syn = true }); len(got) != 0 {
		t.Fatalf("SYN synced: %+v", got)
	}
	got := send(ack)
	if len(got) != 1 || got[0].State != uint16(conntrack.StateEstablished) || got[0].Timeout != 900 ||
		got[0].Flags != connsync.FwdDRoute|connsync.FlagNoOutput {
		t.Fatalf("at ESTABLISHED: %+v", got)
	}
	c := got[0]
	if c.Client != netip.AddrPortFrom(client4, 40000) || c.Virtual != netip.AddrPortFrom(vip4, 80) ||
		c.Dest.Port() != 80 || c.Proto != 6 {
		t.Errorf("entry addresses: %+v", c)
	}
	for i := 0; i < 60; i++ {
		if got := send(ack); len(got) != 0 {
			t.Fatalf("unchanged packet %d synced", i)
		}
	}
	now.Add(int64(440 * time.Second))
	if got := send(ack); len(got) != 0 {
		t.Fatal("synced again before half the timeout")
	}
	now.Add(int64(20 * time.Second)) // 460 s since the send: past 450
	if got := send(ack); len(got) != 1 {
		t.Fatalf("not refreshed at half its timeout: %d entries", len(got))
	}
	got = send(func(q *pkt) { q.ack, q.fin = true, true })
	if len(got) != 1 || got[0].State != uint16(conntrack.StateFinWait) || got[0].Flags&connsync.FlagInactive == 0 {
		t.Fatalf("at FIN: %+v", got)
	}
	if got := send(ack); len(got) != 0 {
		t.Fatal("an ACK in FIN_WAIT synced again")
	}

	u, umem, uw, unow := syncMaster(t, testService(service.UDP, vip4, 53, "rr", service.MethodNAT, 5353, 3), nil)
	up := buildFrame(t, pkt{src: client4, dst: vip4, sport: 40000, dport: 53, udp: true, payload: 20})
	run(u, umem, up)
	if got := uw.take(); len(got) != 1 || got[0].State != 0 || got[0].Timeout != 300 || got[0].Dest.Port() != 5353 ||
		got[0].Flags != connsync.FwdMasq|connsync.FlagInactive {
		t.Fatalf("UDP first packet: %+v", got)
	}
	run(u, umem, up)
	unow.Add(int64(100 * time.Second))
	run(u, umem, up)
	if got := uw.take(); len(got) != 0 {
		t.Fatalf("UDP resent early: %+v", got)
	}
	unow.Add(int64(60 * time.Second))
	run(u, umem, up)
	if got := uw.take(); len(got) != 1 {
		t.Fatalf("UDP not refreshed at half its timeout: %d", len(got))
	}
}

// TestSyncRuleIPVS: with connsync.DefaultPolicy the kernel's rule holds: a
// connection goes at its 3rd client packet and every 50 after (3, 53, 103),
// and at once on a change to a closing state.
func TestSyncRuleIPVS(t *testing.T) {
	pol := connsync.DefaultPolicy
	e, mem, w, _ := syncMaster(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3), &pol)
	p := pkt{src: client4, dst: vip4, sport: 40001, dport: 80, syn: true}
	var sentAt []int
	for i := 1; i <= 110; i++ {
		run(e, mem, buildFrame(t, p))
		p.syn, p.ack = false, true
		if got := w.take(); len(got) > 0 {
			sentAt = append(sentAt, i)
		}
	}
	if len(sentAt) != 3 || sentAt[0] != 3 || sentAt[1] != 53 || sentAt[2] != 103 {
		t.Errorf("sent at client packets %v, want [3 53 103]", sentAt)
	}
	p.fin = true
	run(e, mem, buildFrame(t, p))
	if got := w.take(); len(got) != 1 || got[0].State != uint16(conntrack.StateCloseWait) {
		t.Errorf("at FIN: %+v", got)
	}
}

// TestSyncTemplates: a persistent service's connection goes with its
// template; a backup that installs both sends that client's new
// connections to the same real server after a failover, where its own
// scheduler would have spread them.
func TestSyncTemplates(t *testing.T) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 3)
	cfg.Services[0].Persistence = &service.Persistence{Timeout: 10 * time.Minute}
	e, mem, w, _ := syncMaster(t, cfg, nil)
	backup, bmem := newTestEngine(t, cfg)
	const n = 12
	owner := make([]int, n)
	for i := 0; i < n; i++ {
		owner[i] = open(t, e, mem, clientOf(i), 30000, netip.AddrPortFrom(vip4, 80))
	}
	got := w.take()
	if len(got) != 2*n {
		t.Fatalf("%d entries synced, want %d (connections and templates)", len(got), 2*n)
	}
	for i := 0; i < len(got); i += 2 {
		c, tm := got[i], got[i+1]
		if tm.Flags&connsync.FlagTemplate == 0 || tm.Client.Port() != 0 || tm.Client.Addr() != c.Client.Addr() ||
			tm.Virtual != netip.AddrPortFrom(vip4, 80) || tm.Dest != c.Dest || tm.Timeout != 600 {
			t.Fatalf("template of %+v: %+v", c, tm)
		}
	}
	// The backup installs them as a decoder hands them over: through
	// real messages.
	var msg connsync.Message
	msg.Reset(nil, 1, 65535)
	for i := range got {
		if err := msg.Add(&got[i]); err != nil {
			t.Fatal(err)
		}
	}
	var dec connsync.Decoder
	if _, err := dec.Decode(msg.Bytes(), backup.InstallSync); err != nil {
		t.Fatal(err)
	}
	if st := backup.SyncStats(); st.Installed+st.Updated != 2*n || backup.table.Stats().Templates != n {
		t.Fatalf("backup: %+v, %d templates", st, backup.table.Stats().Templates)
	}
	for i := n - 1; i >= 0; i-- { // another order: rr alone would differ
		out := run(backup, bmem, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: 30001, dport: 80, syn: true}))
		if len(out) != 1 || realOfFrame(out[0].Data) != owner[i] {
			t.Fatalf("client %d's new connection on the backup: %d frames, real %d, want %d", i, len(out), realOfFrame(out[0].Data), owner[i])
		}
	}
}

// TestSyncGroups: a service group named by a number travels as that
// firewall mark, one with another name by its VIP, which the backup's
// lookup maps back to the group by its matches; both reach the backup's
// groups, templates included, from the packet path and from a dump.
func TestSyncGroups(t *testing.T) {
	reals := func() []service.Real {
		var rs []service.Real
		for i := 1; i <= 3; i++ {
			rs = append(rs, service.Real{Addr: realAddr(4, i), Weight: 1, Method: service.MethodDR})
		}
		return rs
	}
	vipWeb := netip.MustParseAddr("198.18.0.11")
	cfg := &service.Config{Services: []service.Service{
		{Group: "1", Matches: []service.Match{{Proto: service.TCP, Prefix: netip.PrefixFrom(vip4, 32), PortLo: 80, PortHi: 80}},
			Scheduler: "rr", Reals: reals(), Persistence: &service.Persistence{Timeout: time.Minute}},
		{Group: "web", Matches: []service.Match{{Proto: service.TCP, Prefix: netip.PrefixFrom(vipWeb, 32), PortLo: 443, PortHi: 443}},
			Scheduler: "rr", Reals: reals()},
	}}
	e, mem, w, _ := syncMaster(t, cfg, nil)
	const n = 6
	owner := map[netip.AddrPort]int{}
	for i := 0; i < n; i++ {
		for _, v := range []netip.AddrPort{netip.AddrPortFrom(vip4, 80), netip.AddrPortFrom(vipWeb, 443)} {
			owner[netip.AddrPortFrom(clientOf(i), v.Port())] = open(t, e, mem, clientOf(i), 30000, v)
		}
	}
	got := w.take()
	if len(got) != 3*n { // group 1: connection and template; web: connection
		t.Fatalf("%d entries, want %d", len(got), 3*n)
	}
	for _, c := range got {
		want := uint32(1)
		if c.Virtual.Addr() == vipWeb {
			want = 0
		}
		if c.FWMark != want {
			t.Errorf("entry %+v: fwmark %d, want %d", c, c.FWMark, want)
		}
	}
	check := func(name string, entries []connsync.Conn) {
		t.Helper()
		b, bmem := newTestEngine(t, cfg)
		for i := range entries {
			b.InstallSync(&entries[i])
		}
		if st := b.SyncStats(); st.Installed+st.Updated != uint64(len(entries)) || b.table.Stats().Templates != n {
			t.Fatalf("%s: backup %+v, %d templates", name, st, b.table.Stats().Templates)
		}
		for i := n - 1; i >= 0; i-- {
			for _, v := range []netip.AddrPort{netip.AddrPortFrom(vip4, 80), netip.AddrPortFrom(vipWeb, 443)} {
				out := run(b, bmem, buildFrame(t, pkt{src: clientOf(i), dst: v.Addr(), sport: 30000, dport: v.Port(), ack: true, payload: 9}))
				if len(out) != 1 || realOfFrame(out[0].Data) != owner[netip.AddrPortFrom(clientOf(i), v.Port())] {
					t.Fatalf("%s: client %d to %v: %d frames (drops %v)", name, i, v, len(out), b.Stats().Drops)
				}
			}
		}
	}
	check("packet path", got)
	dw := &recordWriter{}
	if _, err := e.DumpSync(t.Context(), dw, DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	check("dump", dw.take())
}

// TestSyncPersistMode: with sync_persist_mode a persistent service's
// connections are not sent, their templates are, when the connection's
// rule says so.
func TestSyncPersistMode(t *testing.T) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 3)
	cfg.Services[0].Persistence = &service.Persistence{Timeout: time.Minute}
	pol := connsync.Policy{Threshold: 3, Period: 50, PersistMode: true}
	e, mem, w, _ := syncMaster(t, cfg, &pol)
	p := pkt{src: client4, dst: vip4, sport: 40002, dport: 80, syn: true}
	for i := 1; i <= 3; i++ {
		run(e, mem, buildFrame(t, p))
		p.syn, p.ack = false, true
	}
	got := w.take()
	if len(got) != 1 || got[0].Flags&connsync.FlagTemplate == 0 {
		t.Fatalf("persist mode sent %+v, want the template alone", got)
	}
}

// TestSyncIPv6: an IPv6 NAT connection goes as a 72-byte entry and comes
// back to the same real server on the backup.
func TestSyncIPv6(t *testing.T) {
	cfg := testService(service.TCP, vip6, 443, "rr", service.MethodNAT, 8443, 3)
	e, mem, w, _ := syncMaster(t, cfg, nil)
	p := pkt{src: client6, dst: vip6, sport: 40003, dport: 443, syn: true}
	out := run(e, mem, buildFrame(t, p))
	owner := realOfFrame(out[0].Data)
	p.syn, p.ack = false, true
	run(e, mem, buildFrame(t, p))
	got := w.take()
	if len(got) != 1 || !got[0].IsIPv6() || got[0].Client != netip.AddrPortFrom(client6, 40003) ||
		got[0].Dest != netip.AddrPortFrom(realAddr(6, owner), 8443) {
		t.Fatalf("IPv6 entry: %+v", got)
	}
	var msg connsync.Message
	msg.Reset(nil, 1, 1500)
	if err := msg.Add(&got[0]); err != nil || len(msg.Bytes()) != 8+72 {
		t.Fatalf("encoded %d bytes (%v), want 80", len(msg.Bytes()), err)
	}
	b, bmem := newTestEngine(t, cfg)
	if _, err := (&connsync.Decoder{}).Decode(msg.Bytes(), b.InstallSync); err != nil {
		t.Fatal(err)
	}
	p.payload = 30
	sent := run(b, bmem, buildFrame(t, p))
	if len(sent) != 1 {
		t.Fatalf("backup dropped the IPv6 mid-flow packet: %v", b.Stats().Drops)
	}
	if got := realOfFrame(sent[0].Data); got != owner {
		t.Fatalf("backup sent the IPv6 connection to real %d, want %d", got, owner)
	}
}

// flushWriter counts the flushes that must send.
type flushWriter struct {
	recordWriter
	forced int
}

func (w *flushWriter) Flush(_ time.Time, force bool) {
	if force {
		w.forced++
	}
}

// TestSyncFlushAfter: an entry waits in a partly filled message at most
// SyncMaster.FlushAfter: the worker's next poll after that sends it.
func TestSyncFlushAfter(t *testing.T) {
	w := &flushWriter{}
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: testRouter(), TableCapacity: 1 << 10,
		Services: testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 3),
		Sync:     &SyncMaster{Writer: func(int) SyncWriter { return w }, FlushAfter: 30 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.workers[0].poll() // an idle poll flushes nothing
	open(t, e, mem, client4, 40000, netip.AddrPortFrom(vip4, 80))
	if len(w.got) != 1 || w.forced != 0 {
		t.Fatalf("after the handshake: %d entries, %d flushes", len(w.got), w.forced)
	}
	start := time.Now()
	for w.forced == 0 && time.Since(start) < time.Second {
		e.workers[0].poll()
	}
	if waited := time.Since(start); w.forced != 1 || waited > 200*time.Millisecond {
		t.Errorf("%d flushes after %v, want 1 after about 30 ms", w.forced, waited)
	}
	e.workers[0].poll()
	if w.forced != 1 {
		t.Errorf("%d flushes with nothing pending", w.forced)
	}
}
