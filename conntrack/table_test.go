package conntrack

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/xvs-project/xvs/flow"
)

func TestSizes(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s != 104 {
		t.Errorf("Conn is %d bytes, want 104", s)
	}
	// A Key is a flow.Tuple (37 bytes of fields, 38 with its tail byte)
	// and the kind. It is never stored: entries keep the fields as words.
	if s := unsafe.Sizeof(Key{}); s != 40 {
		t.Errorf("Key is %d bytes, want 40", s)
	}
	if s := unsafe.Sizeof(bucket{}); s != 64 {
		t.Errorf("bucket is %d bytes, want 64", s)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative capacity", Config{Capacity: -1}},
		{"negative memory", Config{MemoryCap: -1}},
		{"shards not power of two", Config{Shards: 3}},
		{"too many shards", Config{Shards: 512}},
		{"negative timeout", Config{Timeouts: Timeouts{UDP: -time.Second}}},
		{"memory below one entry", Config{MemoryCap: 100}},
		{"too big per shard", Config{Capacity: 1 << 30, Shards: 1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err %v, want ErrBadConfig", tt.name, err)
		}
	}
	tab, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Capacity() != DefaultCapacity || len(tab.shards) != 256 {
		t.Errorf("defaults: capacity %d shards %d", tab.Capacity(), len(tab.shards))
	}
	tab, _ = New(Config{Capacity: 1 << 20, MemoryCap: 1 << 20})
	if tab.Capacity() != (1<<20)/entryBytes {
		t.Errorf("memory cap: capacity %d, want %d", tab.Capacity(), (1<<20)/entryBytes)
	}
}

func TestInsertLookupNAT(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 1000})
	fwd := clientKey(1, flow.TCP)
	rk := replyOf(fwd, real1, 8080)
	c := mustInsert(t, tab, fwd, &rk, Value{Service: 7, Dest: 3, DestGen: 9})
	if got := tab.Lookup(&fwd); got != c {
		t.Fatalf("forward lookup: %p, want %p", got, c)
	}
	if got := tab.Lookup(&rk); got != c {
		t.Fatalf("reply lookup: %p, want %p", got, c)
	}
	if c.Key() != fwd || c.Service() != 7 || c.Dest() != 3 || c.DestGen() != 9 {
		t.Errorf("fields: key %v svc %d dest %d gen %d", c.Key(), c.Service(), c.Dest(), c.DestGen())
	}
	if c.State() != StateNone || c.Template() != nil || c.IsTemplate() {
		t.Errorf("state %v template %v", c.State(), c.Template())
	}
	// Other spaces and near misses do not match.
	for _, k := range []Key{
		func() Key { k := fwd; k.Kind = KindReply; return k }(),
		func() Key { k := fwd; k.Kind = KindTemplate; return k }(),
		func() Key { k := fwd; k.Kind = 9; return k }(),
		func() Key { k := fwd; k.SrcPort++; return k }(),
		func() Key { k := fwd; k.Proto = flow.UDP; return k }(),
		func() Key { k := fwd; k.Dst[15]++; return k }(),
		func() Key { k := rk; k.Src = real2; return k }(),
		func() Key { k := rk; k.SrcPort = 80; return k }(),
		func() Key { k := rk; k.Kind = KindConn; return k }(),
	} {
		if got := tab.Lookup(&k); got != nil {
			t.Errorf("lookup %v found %v", k, got.Key())
		}
	}
	// Duplicates by either key.
	if got, err := tab.Insert(fwd, &rk, Value{}); !errors.Is(err, ErrExists) || got != c {
		t.Errorf("duplicate forward: %v %p", err, got)
	}
	other := clientKey(2, flow.TCP)
	other.Src = fwd.Src
	other.SrcPort = fwd.SrcPort
	other.Dst = addr("198.18.1.2")
	if got, err := tab.Insert(other, &rk, Value{}); !errors.Is(err, ErrExists) || got != c {
		t.Errorf("duplicate reply: %v %p", err, got)
	}
	if tab.Len() != 1 {
		t.Errorf("len %d", tab.Len())
	}
}

func TestInsertBadKeys(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 10})
	fwd := clientKey(1, flow.TCP)
	bad := fwd
	bad.Kind = KindReply
	if _, err := tab.Insert(bad, nil, Value{}); !errors.Is(err, ErrBadKey) {
		t.Errorf("reply kind as forward: %v", err)
	}
	rk := replyOf(fwd, real1, 80)
	rk.DstPort++
	if _, err := tab.Insert(fwd, &rk, Value{}); !errors.Is(err, ErrBadKey) {
		t.Errorf("reply to another port: %v", err)
	}
	rk = replyOf(fwd, real1, 80)
	rk.Kind = KindConn
	if _, err := tab.Insert(fwd, &rk, Value{}); !errors.Is(err, ErrBadKey) {
		t.Errorf("reply of kind conn: %v", err)
	}
	if _, err := tab.Insert(fwd, nil, Value{State: StateUDP}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("TCP with UDP state: %v", err)
	}
	if _, err := tab.InsertTemplate(fwd, Value{}, time.Minute); !errors.Is(err, ErrBadKey) {
		t.Errorf("template with conn kind: %v", err)
	}
	tk := fwd
	tk.Kind = KindTemplate
	if _, err := tab.InsertTemplate(tk, Value{}, 0); !errors.Is(err, ErrBadConfig) {
		t.Errorf("template without timeout: %v", err)
	}
	if tab.Len() != 0 {
		t.Errorf("len %d after failed inserts", tab.Len())
	}
}

// TestTimeouts follows entries through states and the clock.
func TestTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		proto   uint8
		packets []struct {
			dir   Dir
			flags uint8
		}
		state State
		ttl   time.Duration
	}{
		{"new", flow.TCP, nil, StateNone, 2 * time.Second},
		{"syn", flow.TCP, []struct {
			dir   Dir
			flags uint8
		}{{DirInput, flow.TCPSyn}}, StateSynRecv, time.Minute},
		{"established", flow.TCP, []struct {
			dir   Dir
			flags uint8
		}{{DirInput, flow.TCPSyn}, {DirOutput, flow.TCPSyn | flow.TCPAck}, {DirInput, flow.TCPAck}}, StateEstablished, 15 * time.Minute},
		{"closed by rst", flow.TCP, []struct {
			dir   Dir
			flags uint8
		}{{DirInput, flow.TCPSyn}, {DirOutput, flow.TCPRst}}, StateClose, 10 * time.Second},
		{"udp", flow.UDP, []struct {
			dir   Dir
			flags uint8
		}{{DirInput, 0}}, StateUDP, 5 * time.Minute},
		{"icmp", flow.ICMP, []struct {
			dir   Dir
			flags uint8
		}{{DirInput, 0}}, StateICMP, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, clk := newTable(t, Config{Capacity: 10})
			fwd := clientKey(1, tt.proto)
			rk := replyOf(fwd, real1, 80)
			c := mustInsert(t, tab, fwd, &rk, Value{})
			for _, p := range tt.packets {
				tab.Observe(c, p.dir, p.flags, 40)
			}
			if c.State() != tt.state {
				t.Fatalf("state %v, want %v", c.State(), tt.state)
			}
			clk.Advance(tt.ttl - 300*time.Millisecond)
			if tab.Lookup(&fwd) == nil {
				t.Fatalf("gone before its timeout %v", tt.ttl)
			}
			if n := tab.Reap(100); n != 0 {
				t.Fatalf("reaped %d before timeout", n)
			}
			clk.Advance(time.Second)
			if tab.Lookup(&fwd) != nil || tab.Lookup(&rk) != nil {
				t.Fatalf("found after its timeout %v", tt.ttl)
			}
			if n := tab.Reap(100); n != 1 || tab.Len() != 0 {
				t.Fatalf("reaped %d, len %d", n, tab.Len())
			}
			if st := tab.Stats(); st.Expired != 1 || st.Conns != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestObserveRefreshesAndCounts(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 10})
	fwd := clientKey(1, flow.UDP)
	rk := replyOf(fwd, real1, 53)
	c := mustInsert(t, tab, fwd, &rk, Value{})
	for range 10 {
		clk.Advance(4 * time.Minute)
		tab.Observe(c, DirInput, 0, 100)
		tab.Observe(c, DirOutput, 0, 1000)
	}
	if tab.Lookup(&fwd) != c {
		t.Fatal("a flow with traffic every 4 min expired")
	}
	all := walkAll(tab, 0)
	if len(all) != 1 {
		t.Fatalf("walk: %d entries", len(all))
	}
	ci := all[0]
	if ci.InPkts != 10 || ci.OutPkts != 10 || ci.InBytes != 1000 || ci.OutBytes != 10000 {
		t.Errorf("counters in %d/%d out %d/%d", ci.InPkts, ci.InBytes, ci.OutPkts, ci.OutBytes)
	}
	if ci.State != StateUDP || ci.Expires < 4*time.Minute || ci.Expires > 5*time.Minute {
		t.Errorf("state %v expires %v", ci.State, ci.Expires)
	}
	if !ci.HasReply || ci.Reply != rk || ci.Key != fwd {
		t.Errorf("keys %v / %v", ci.Key, ci.Reply)
	}
}

// TestNoOutput: a connection without a reply key runs the input-only table
// for DirInput packets until an output packet shows up.
func TestNoOutput(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 10})
	fwd := clientKey(1, flow.TCP)
	c := mustInsert(t, tab, fwd, nil, Value{State: StateEstablished})
	if s := tab.Observe(c, DirInput, flow.TCPFin|flow.TCPAck, 40); s != StateFinWait {
		t.Errorf("DR FIN: %v, want FIN_WAIT (input-only table)", s)
	}
	fwd2 := clientKey(2, flow.TCP)
	c2 := mustInsert(t, tab, fwd2, nil, Value{State: StateEstablished})
	tab.Observe(c2, DirOutput, flow.TCPAck, 40)
	if s := tab.Observe(c2, DirInput, flow.TCPFin|flow.TCPAck, 40); s != StateCloseWait {
		t.Errorf("FIN after an output packet: %v, want CLOSE_WAIT (input table)", s)
	}
}

func TestHooks(t *testing.T) {
	var bound, unbound, active, inactive, wasActive int
	tab, clk := newTable(t, Config{Capacity: 10, Hooks: Hooks{
		Bound: func(c *Conn) { bound++ },
		Activity: func(c *Conn, a bool) {
			if a {
				active++
			} else {
				inactive++
			}
		},
		Unbound: func(c *Conn, was bool) {
			unbound++
			if was {
				wasActive++
			}
			if c.Dest() != 5 {
				t.Errorf("Unbound sees dest %d", c.Dest())
			}
		},
	}})
	fwd := clientKey(1, flow.TCP)
	c := mustInsert(t, tab, fwd, nil, Value{Dest: 5})
	handshake(tab, c) // NONE -> SYN_RECV (active) -> ... -> ESTABLISHED
	tab.Observe(c, DirInput, flow.TCPFin, 40)
	tab.Observe(c, DirInput, flow.TCPSyn, 40) // FIN_WAIT -> SYN_RECV: active again
	clk.Advance(2 * time.Minute)
	tab.Reap(10)
	if bound != 1 || unbound != 1 || active != 2 || inactive != 1 || wasActive != 1 {
		t.Errorf("bound %d unbound %d active %d inactive %d wasActive %d", bound, unbound, active, inactive, wasActive)
	}
}

func TestReusableAndExpire(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 10})
	fwd := clientKey(1, flow.TCP)
	rk := replyOf(fwd, real1, 80)
	c := mustInsert(t, tab, fwd, &rk, Value{Dest: 1})
	handshake(tab, c)
	if c.Reusable() {
		t.Fatal("ESTABLISHED reusable")
	}
	tab.Observe(c, DirInput, flow.TCPFin|flow.TCPAck, 40)
	tab.Observe(c, DirOutput, flow.TCPFin|flow.TCPAck, 40)
	if c.State() != StateTimeWait || !c.Reusable() {
		t.Fatalf("state %v reusable %v", c.State(), c.Reusable())
	}
	// The forwarder expires it and inserts the new flow at once.
	tab.Expire(c)
	if tab.Lookup(&fwd) != nil || tab.Lookup(&rk) != nil {
		t.Fatal("found after Expire")
	}
	c2 := mustInsert(t, tab, fwd, &rk, Value{Dest: 2})
	if tab.Lookup(&fwd) != c2 || c2 == c {
		t.Fatal("reinsert after Expire")
	}
	tab.Expire(c) // expiring a removed entry is a no-op
	if tab.Lookup(&fwd) != c2 || tab.Stats().Flushed != 1 {
		t.Fatalf("double expire disturbed the new entry: %+v", tab.Stats())
	}
	u := clientKey(9, flow.UDP)
	uc := mustInsert(t, tab, u, nil, Value{})
	if uc.Reusable() {
		t.Error("UDP reusable")
	}
	tab.Expire(uc) // UDP flush: gone at once
	if tab.Lookup(&u) != nil {
		t.Error("UDP found after Expire")
	}
}

func TestInsertReplacesExpired(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 10})
	fwd := clientKey(1, flow.UDP)
	c := mustInsert(t, tab, fwd, nil, Value{Dest: 1})
	clk.Advance(6 * time.Minute)
	c2, err := tab.Insert(fwd, nil, Value{Dest: 2})
	if err != nil || c2.Dest() != 2 || tab.Lookup(&fwd) != c2 || tab.Len() != 1 {
		t.Fatalf("insert over expired: %v, len %d", err, tab.Len())
	}
	_ = c
	if st := tab.Stats(); st.Expired != 1 {
		t.Errorf("expired %d", st.Expired)
	}
}

func TestSetTimeouts(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 10})
	tcp, fin, udp := tab.Timeouts()
	if tcp != 15*time.Minute || fin != 2*time.Minute || udp != 5*time.Minute {
		t.Fatalf("defaults %v %v %v", tcp, fin, udp)
	}
	tab.SetTimeouts(0, -time.Second, 0)
	if a, b, c := tab.Timeouts(); a != tcp || b != fin || c != udp {
		t.Fatalf("zero/negative changed timeouts: %v %v %v", a, b, c)
	}
	tab.SetTimeouts(time.Hour, 0, 10*time.Second)
	if a, b, c := tab.Timeouts(); a != time.Hour || b != fin || c != 10*time.Second {
		t.Fatalf("set: %v %v %v", a, b, c)
	}
	u := clientKey(1, flow.UDP)
	c := mustInsert(t, tab, u, nil, Value{})
	tab.Observe(c, DirInput, 0, 1)
	clk.Advance(11 * time.Second)
	if tab.Lookup(&u) != nil {
		t.Error("UDP entry outlived the new 10 s timeout")
	}
}

func TestWalkPages(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 5000, Shards: 8})
	want := map[Key]bool{}
	for i := range uint32(3000) {
		k := clientKey(i, flow.TCP)
		c := mustInsert(t, tab, k, nil, Value{})
		if i%3 == 0 {
			tab.Expire(c)
			continue
		}
		want[k] = true
	}
	for _, page := range []int{1, 7, 1000, 0} {
		got := walkAll(tab, page)
		if len(got) != len(want) {
			t.Fatalf("page %d: %d entries, want %d", page, len(got), len(want))
		}
		seen := map[Key]bool{}
		for _, ci := range got {
			if !want[ci.Key] || seen[ci.Key] {
				t.Fatalf("page %d: unexpected or repeated %v", page, ci.Key)
			}
			seen[ci.Key] = true
		}
	}
	// fn returning false stops, and the cursor goes on from there.
	var first []Key
	next, done := tab.Walk(0, 0, func(ci ConnInfo) bool {
		first = append(first, ci.Key)
		return len(first) < 5
	})
	if done || len(first) != 5 {
		t.Fatalf("stop: done %v, %d", done, len(first))
	}
	rest := 0
	for !done {
		next, done = tab.Walk(next, 100, func(ConnInfo) bool { rest++; return true })
	}
	if rest+5 != len(want) {
		t.Errorf("resumed walk saw %d, want %d", rest, len(want)-5)
	}
}

// TestAcceptsNew pins the kernel's tcp_conn_schedule: a TCP packet with RST
// never makes a connection; one with SYN does, ACK or not (no ACK test, for
// active FTP); with sloppy_tcp any other TCP packet does too.
func TestAcceptsNew(t *testing.T) {
	strict, _ := newTable(t, Config{Capacity: 1})
	sloppy, _ := newTable(t, Config{Capacity: 1, Sloppy: true})
	tests := []struct {
		proto, flags    uint8
		strict, sloppy_ bool
	}{
		{flow.TCP, flow.TCPSyn, true, true},
		{flow.TCP, flow.TCPSyn | flow.TCPAck, true, true},
		{flow.TCP, flow.TCPAck, false, true},
		{flow.TCP, flow.TCPRst, false, false},
		{flow.TCP, flow.TCPSyn | flow.TCPRst, false, false},
		{flow.TCP, flow.TCPRst | flow.TCPAck, false, false},
		{flow.TCP, flow.TCPFin | flow.TCPAck, false, true},
		{flow.TCP, 0, false, true},
		{flow.TCP, flow.TCPSyn | flow.TCPFin, true, true},
		{flow.UDP, 0, true, true},
		{flow.UDP, flow.TCPRst, true, true},
	}
	for _, tt := range tests {
		if got := strict.AcceptsNew(tt.proto, tt.flags); got != tt.strict {
			t.Errorf("strict %d %#x: %v", tt.proto, tt.flags, got)
		}
		if got := sloppy.AcceptsNew(tt.proto, tt.flags); got != tt.sloppy_ {
			t.Errorf("sloppy %d %#x: %v", tt.proto, tt.flags, got)
		}
	}
	// A sloppy entry may start ESTABLISHED.
	c := mustInsert(t, sloppy, clientKey(1, flow.TCP), nil, Value{State: StateEstablished})
	if c.State() != StateEstablished || sloppy.Stats().Established != 1 {
		t.Errorf("sloppy entry: %v", c.State())
	}
}

// TestIndexGrowthAndTombstones churns one shard through many inserts and
// removals so its index rebuilds, both to grow and to clear tombstones.
func TestIndexGrowthAndTombstones(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 20000, Shards: 1})
	live := map[uint32]*Conn{}
	for round := range uint32(20) {
		for i := range uint32(1000) {
			id := round*1000 + i
			k := clientKey(id, flow.TCP)
			rk := replyOf(k, real1, 80)
			live[id] = mustInsert(t, tab, k, &rk, Value{Dest: id})
		}
		for id, c := range live {
			if id%2 == round%2 {
				tab.Expire(c)
				delete(live, id)
			}
		}
		for id, c := range live {
			k := clientKey(id, flow.TCP)
			rk := replyOf(k, real1, 80)
			if tab.Lookup(&k) != c || tab.Lookup(&rk) != c || c.Dest() != id {
				t.Fatalf("round %d: lost %d", round, id)
			}
		}
	}
	if tab.Len() != len(live) {
		t.Errorf("len %d, want %d", tab.Len(), len(live))
	}
}

func TestChunkFitsPages(t *testing.T) {
	const page = 8192
	size := unsafe.Sizeof(chunk{})
	if waste := (size+page-1)/page*page - size; waste > 256 {
		t.Errorf("chunk of %d bytes wastes %d bytes of its last page", size, waste)
	}
}

func TestRunReaps(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 10000})
	for i := range uint32(5000) {
		mustInsert(t, tab, clientKey(i, flow.UDP), nil, Value{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tab.Run(ctx); close(done) }()
	clk.Advance(6 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for tab.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if tab.Len() != 0 || tab.Stats().Expired != 5000 {
		t.Fatalf("Run left %d entries: %+v", tab.Len(), tab.Stats())
	}
}
