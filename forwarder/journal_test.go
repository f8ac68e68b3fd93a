package forwarder

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

func journalConn(i int) connsync.Conn {
	return connsync.Conn{Proto: 6, State: uint16(conntrack.StateEstablished), Timeout: 900, Flags: connsync.FwdDRoute,
		Client:  netip.AddrPortFrom(clientOf(i), uint16(20000+i)),
		Virtual: netip.AddrPortFrom(vip4, 80),
		Dest:    netip.AddrPortFrom(realAddr(4, 1), 80)}
}

// readAll decodes every committed entry of b.
func readAll(t *testing.T, b []byte) []connsync.Conn {
	t.Helper()
	var out []connsync.Conn
	var dec connsync.Decoder
	readRecords(b, func(_ int64, msg []byte) {
		if _, err := dec.Decode(msg, func(c *connsync.Conn) { out = append(out, *c) }); err != nil {
			t.Fatalf("record: %v", err)
		}
	})
	return out
}

// TestJournalSegment: entries written come back in order across records
// (a message holds at most 255), a segment that is full refuses more, and
// a torn tail (an entry half written past the committed length, a head
// half written) reads as the committed records alone.
func TestJournalSegment(t *testing.T) {
	dir := t.TempDir()
	s, err := createSegment(filepath.Join(dir, "seg-1-0.xj"), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	w := newSegWriter(s)
	now := time.Now()
	n := 0
	for ; ; n++ {
		c := journalConn(n)
		if err := w.add(&c, now); err != nil {
			if !errors.Is(err, errJournalFull) {
				t.Fatal(err)
			}
			break
		}
	}
	if n < 1000 {
		t.Fatalf("a 64 KiB segment took %d entries", n)
	}
	got := readAll(t, s.mem)
	if len(got) != n {
		t.Fatalf("read %d entries, wrote %d", len(got), n)
	}
	for i, c := range got {
		if c.Client != journalConn(i).Client || c.State != journalConn(i).State || c.Timeout != 900 {
			t.Fatalf("entry %d: %+v", i, c)
		}
	}
	t.Logf("%d IPv4 entries in 64 KiB: %.1f bytes each", n, float64(64<<10)/float64(n))

	// Torn: a fresh segment with three committed entries, then the bytes
	// of a fourth past the commit, then a head without its magic.
	s2, err := createSegment(filepath.Join(dir, "seg-2-0.xj"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	w2 := newSegWriter(s2)
	for i := range 3 {
		c := journalConn(i)
		if err := w2.add(&c, now); err != nil {
			t.Fatal(err)
		}
	}
	end := w2.used()
	copy(s2.mem[end:], []byte{0, 6, 0, 36, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3})
	if got := readAll(t, s2.mem); len(got) != 3 {
		t.Fatalf("torn entry: read %d entries, want 3", len(got))
	}
	w2.close()
	off := (end + 7) &^ 7
	s2.mem[off], s2.mem[off+1] = 0x24, 0x00 // a length, the magic byte not yet stored
	if got := readAll(t, s2.mem); len(got) != 3 {
		t.Fatalf("torn head: read %d entries, want 3", len(got))
	}
	if err := errors.Join(s.release(false), s2.release(false)); err != nil {
		t.Fatal(err)
	}
	// The files read back the same as the mappings did.
	b, err := os.ReadFile(s2.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b); len(got) != 3 {
		t.Fatalf("file: read %d entries, want 3", len(got))
	}
}

// journalMaster is an engine whose one worker journals into dir.
func journalMaster(t *testing.T, cfg *service.Config, dir string) (*Engine, *linktest.MemBackend, *Journal) {
	t.Helper()
	j, err := OpenJournal(dir, 1, JournalOptions{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16,
		Sync: &SyncMaster{Writer: j.Writer}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, mem, j
}

// compactWhilePolling compacts j while the test plays e's worker, which
// must take its fresh segment.
func compactWhilePolling(t *testing.T, j *Journal, e *Engine) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- j.Compact(context.Background(), e) }()
	for {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
			e.workers[0].poll()
			time.Sleep(time.Millisecond)
		}
	}
}

// TestJournalRestore: 500 connections opened (and 100 of them half
// closed) on an engine that journals, which is then dropped without a
// clean stop; a new engine restores the journal and forwards a mid-flow
// packet of each (it is not sloppy: without the journal it would drop
// them) to the same real server, in the state the first one left, NAT and
// DR, with a compaction in the middle or not.
func TestJournalRestore(t *testing.T) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR} {
		for _, compact := range []bool{false, true} {
			name := m.String()
			if compact {
				name += "/compacted"
			}
			t.Run(name, func(t *testing.T) { testJournalRestore(t, m, compact) })
		}
	}
}

func testJournalRestore(t *testing.T, m service.Method, compact bool) {
	const n = 500
	rport := uint16(0)
	if m == service.MethodNAT {
		rport = 8080
	}
	cfg := testService(service.TCP, vip4, 80, "rr", m, rport, 3)
	dir := filepath.Join(t.TempDir(), "state")
	e, mem, j := journalMaster(t, cfg, dir)
	var syns, acks, fins [][]byte
	for i := range n {
		p := pkt{src: clientOf(i), dst: vip4, sport: uint16(20000 + i), dport: 80, syn: true}
		syns = append(syns, buildFrame(t, p))
		p.syn, p.ack, p.payload = false, true, 10
		acks = append(acks, buildFrame(t, p))
		if i < 100 {
			fins = append(fins, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: uint16(20000 + i), dport: 80, ack: true, fin: true}))
		}
	}
	owner := make([]int, n)
	for i, f := range run(e, mem, syns...) {
		owner[i] = realOfFrame(f.Data)
	}
	run(e, mem, acks...)
	if compact {
		compactWhilePolling(t, j, e)
		files, _ := journalFiles(dir)
		if len(files) != 2 || !strings.Contains(strings.Join(files, " "), "snap-") {
			t.Fatalf("after a compaction the journal holds %v, want a snapshot and a segment", files)
		}
	}
	run(e, mem, fins...)
	if st := j.Stats(); st.Dropped != 0 {
		t.Fatalf("journal dropped %d entries", st.Dropped)
	}
	var size int64
	files, _ := journalFiles(dir)
	for _, p := range files {
		b, _ := os.ReadFile(p)
		readRecords(b, func(_ int64, msg []byte) { size += int64(recordHead + len(msg)) })
	}
	t.Logf("journal: %d bytes for %d connections (%d of them half closed): %.0f bytes a connection", size, n, len(fins), float64(size)/n)
	// The daemon is killed: the files stay, mapped by no one.
	e.Close()
	if err := j.release(false); err != nil {
		t.Fatal(err)
	}

	e2, mem2 := newTestEngine(t, cfg)
	st, err := e2.RestoreJournal(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Installed == 0 || st.Refused != 0 || st.Expired != 0 {
		t.Fatalf("restore: %+v", st)
	}
	t.Logf("restore: %+v (%.0f entries/s)", st, float64(st.Entries)/st.Took.Seconds())
	if got := e2.SyncStats(); got.Received != 0 {
		t.Errorf("a restore counts as %d sync entries received", got.Received)
	}
	checkConnStates(t, e2, n, m, "after the restore")
	var mid [][]byte
	for i := 100; i < n; i++ {
		mid = append(mid, buildFrame(t, pkt{src: clientOf(i), dst: vip4, sport: uint16(20000 + i), dport: 80, ack: true, payload: 100}))
	}
	sent := run(e2, mem2, mid...)
	if len(sent) != len(mid) {
		t.Fatalf("the restored engine forwarded %d of %d mid-flow packets", len(sent), len(mid))
	}
	for j, f := range sent {
		if got := realOfFrame(f.Data); got != owner[100+j] {
			t.Fatalf("connection %d: restored engine sent it to real %d, first one to %d", 100+j, got, owner[100+j])
		}
	}
	// Long after, every entry's time has run out.
	e3, _ := newTestEngine(t, cfg)
	if st, err := e3.RestoreJournal(dir, time.Now().Add(time.Hour)); err != nil || st.Installed != 0 || st.Expired != st.Entries {
		t.Errorf("an hour later: %+v %v", st, err)
	}
}

// TestJournalLifecycle: a journal opened where a predecessor left files
// deletes them with its first snapshot; a clean Close removes the
// directory; RestoreJournal of a missing directory restores nothing.
func TestJournalLifecycle(t *testing.T) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 3)
	dir := filepath.Join(t.TempDir(), "state")
	e, _ := newTestEngine(t, cfg)
	if st, err := e.RestoreJournal(dir, time.Now()); err != nil || st.Files != 0 {
		t.Fatalf("missing dir: %+v %v", st, err)
	}
	j1, err := OpenJournal(dir, 2, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j1.release(false); err != nil {
		t.Fatal(err)
	}
	old, _ := journalFiles(dir)
	if len(old) != 2 {
		t.Fatalf("predecessor files: %v", old)
	}
	j2, err := OpenJournal(dir, 1, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No worker polls here, so the writer keeps its segment past the
	// second the compaction waits.
	if err := j2.Compact(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("predecessor file %s left after the first snapshot", p)
		}
	}
	if err := j2.Close(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a clean Close left %s: %v", dir, err)
	}
}

// TestJournalAddAllocs: the worker's journal write allocates nothing, and
// a benchmark says what it costs.
func TestJournalAddAllocs(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), 1, JournalOptions{SegmentSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(true)
	w := j.Writer(0)
	c := journalConn(1)
	now := time.Now()
	if n := testing.AllocsPerRun(10000, func() { _ = w.Add(&c, now); w.Flush(now, false) }); n != 0 {
		t.Errorf("%v allocations an entry", n)
	}
	jw := w.(*JournalWriter)
	r := testing.Benchmark(func(b *testing.B) {
		for i := range b.N {
			if i&(1<<20-1) == 0 {
				jw.cur = newSegWriter(jw.cur.seg) // from the start again, never full
			}
			if err := w.Add(&c, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	t.Logf("journal Add: %d ns an entry", r.NsPerOp())
}

// TestJournalRestoreRate: 50 000 journaled connections restore into a
// fresh engine; the log says how fast.
func TestJournalRestoreRate(t *testing.T) {
	const n = 50000
	dir := t.TempDir()
	j, err := OpenJournal(dir, 1, JournalOptions{SegmentSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w := j.Writer(0)
	now := time.Now()
	for i := range n {
		c := journalConn(i)
		c.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), uint16(1024+i%60000))
		if err := w.Add(&c, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.release(false); err != nil {
		t.Fatal(err)
	}
	e, _ := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 80, 3))
	st, err := e.RestoreJournal(dir, time.Now())
	if err != nil || st.Installed != n {
		t.Fatalf("restore: %+v %v", st, err)
	}
	t.Logf("restored %d entries in %v: %.0f entries/s", st.Installed, st.Took, float64(st.Installed)/st.Took.Seconds())
}
