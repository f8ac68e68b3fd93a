package control

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/vrrp"
)

// syncFake is an engine's sync side in memory: it keeps what it installs,
// and its dumpers write dumpSize entries of client 198.19.1.x per request.
type syncFake struct {
	mu        sync.Mutex
	installed map[netip.AddrPort]connsync.Conn
	learnt    []bool // of every dumper made
	dumps     atomic.Int64
	dumpSize  int
	// handNet is the third byte of the clients HandOver writes, handSize
	// how many; handOvers counts its calls.
	handNet, handSize int
	handOvers         atomic.Int64
}

func newSyncFake(dumpSize int) *syncFake {
	return &syncFake{installed: map[netip.AddrPort]connsync.Conn{}, dumpSize: dumpSize}
}

func (f *syncFake) InstallSync(c *connsync.Conn) {
	f.mu.Lock()
	f.installed[c.Client] = *c
	f.mu.Unlock()
}

func (f *syncFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.installed)
}

func (f *syncFake) NewSyncDumper(w *connsync.Writer, learnt bool) SyncDumper {
	f.mu.Lock()
	f.learnt = append(f.learnt, learnt)
	f.mu.Unlock()
	return &fakeDumper{f: f, w: w, kick: make(chan struct{}, 1)}
}

func (f *syncFake) HandOver(ctx context.Context, w *connsync.Writer) (int, error) {
	f.handOvers.Add(1)
	for i := range f.handSize {
		c := syncConn(netip.AddrFrom4([4]byte{198, 19, byte(f.handNet), byte(i)}), 50000)
		if err := w.Add(&c, time.Now()); err != nil {
			return i, err
		}
	}
	w.Flush(time.Now(), true)
	return f.handSize, ctx.Err()
}

func (f *syncFake) SyncFigures() SyncFigures {
	return SyncFigures{Dumps: uint64(f.dumps.Load()), Refused: map[string]uint64{"no-service": 1}}
}

type fakeDumper struct {
	f    *syncFake
	w    *connsync.Writer
	kick chan struct{}
}

func (d *fakeDumper) Request() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *fakeDumper) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
			for i := range d.f.dumpSize {
				c := syncConn(netip.AddrFrom4([4]byte{198, 19, 1, byte(i)}), 40000)
				if err := d.w.Add(&c, time.Now()); err != nil {
					panic(err)
				}
			}
			d.w.Flush(time.Now(), true)
			d.f.dumps.Add(1)
		}
	}
}

func syncConn(client netip.Addr, port uint16) connsync.Conn {
	return connsync.Conn{Proto: 6, State: 1, Timeout: 900,
		Client:  netip.AddrPortFrom(client, port),
		Virtual: netip.MustParseAddrPort("198.18.0.10:80"),
		Dest:    netip.MustParseAddrPort("198.18.1.2:80")}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSyncDaemons runs the manager over connsync's sockets on a veth pair:
//
//	ns A: SyncDaemons (master 5; later backup 6) ── veth sa/sb ── ns B: SyncDaemons (backup 5; later master 6)
//
// A's master dumps at start and again for B's backup's request, its
// workers' switches carry the packet path's entries, and both roles run at
// once for two sync IDs; the errors are ipvsadm's.
func TestSyncDaemons(t *testing.T) {
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	a.IP(t, "link add sa type veth peer name sb netns "+b.Name(), "addr add 198.18.0.2/24 dev sa", "link set sa up")
	b.IP(t, "addr add 198.18.0.3/24 dev sb", "link set sb up")
	fa, fb := newSyncFake(50), newSyncFake(7)
	da := NewSyncDaemons(2, SyncOptions{Logger: quietLog, NetNS: filepath.Join("/run/netns", a.Name())})
	db := NewSyncDaemons(1, SyncOptions{Logger: quietLog, NetNS: filepath.Join("/run/netns", b.Name())})
	defer da.Close()
	defer db.Close()
	if err := da.Start(SyncMaster, SyncDaemon{Interface: "sa", SyncID: 5}); !errors.Is(err, ErrNoSync) {
		t.Fatalf("start before Attach: %v", err)
	}
	da.Attach(fa)
	db.Attach(fb)

	// Nothing runs: the packet path's entries are counted and dropped.
	c := syncConn(netip.MustParseAddr("198.19.2.1"), 1)
	if err := da.Writer(1).Add(&c, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := da.Status(); st.Unsent != 1 || len(st.Daemons) != 0 {
		t.Fatalf("idle status %+v", st)
	}

	if err := db.Start(SyncBackup, SyncDaemon{Interface: "sb", SyncID: 5}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the join settles
	if err := da.Start(SyncMaster, SyncDaemon{Interface: "sa", SyncID: 5}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the master's first dump", func() bool { return fb.count() == 50 })
	for _, bad := range []struct {
		err  error
		role SyncRole
		cfg  SyncDaemon
	}{
		{ErrDaemonRunning, SyncMaster, SyncDaemon{Interface: "sa"}},
		{ErrNoDevice, SyncBackup, SyncDaemon{Interface: "nosuch0"}},
		{ErrNoDevice, SyncBackup, SyncDaemon{}},
	} {
		if err := da.Start(bad.role, bad.cfg); !errors.Is(err, bad.err) {
			t.Errorf("start %s %+v: %v, want %v", bad.role, bad.cfg, err, bad.err)
		}
	}

	// The packet path, through both workers' switches.
	for i := range 20 {
		c := syncConn(netip.AddrFrom4([4]byte{198, 19, 3, byte(i)}), 2)
		if err := da.Writer(i%2).Add(&c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	da.Writer(0).Flush(time.Now(), true)
	da.Writer(1).Flush(time.Now(), true)
	waitUntil(t, "the packet path's entries", func() bool { return fb.count() == 70 })
	// A backup that restarts asks for a dump and gets one.
	if err := db.Stop(SyncBackup); err != nil {
		t.Fatal(err)
	}
	if err := db.Stop(SyncBackup); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("second stop: %v", err)
	}
	// Meanwhile, with no backup in this process (AllocsPerRun counts every
	// goroutine's allocations, and a receiving backup allocates): the
	// packet path's side allocates nothing, sends included.
	now := time.Now()
	if n := testing.AllocsPerRun(200, func() { _ = da.Writer(0).Add(&c, now); da.Writer(0).Flush(now, true) }); n != 0 {
		t.Errorf("a switched Add and Flush allocate %v times", n)
	}
	before := fa.dumps.Load()
	if err := db.Start(SyncBackup, SyncDaemon{Interface: "sb", SyncID: 5}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the requested dump", func() bool { return fa.dumps.Load() > before })

	// Both roles at once: B is master for sync ID 6, A its backup.
	if err := da.Start(SyncBackup, SyncDaemon{Interface: "sa", SyncID: 6}); err != nil {
		t.Fatal(err)
	}
	if err := db.Start(SyncMaster, SyncDaemon{Interface: "sb", SyncID: 6}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B's dump on A", func() bool { return fa.count() == 7 })
	st := da.Status()
	want := []SyncDaemonStatus{
		{Role: SyncMaster, Config: SyncDaemon{Interface: "sa", SyncID: 5, MaxLen: 1472, Group: connsync.Group, Port: 8848, TTL: 1}},
		{Role: SyncBackup, Config: SyncDaemon{Interface: "sa", SyncID: 6, MaxLen: 1472, Group: connsync.Group, Port: 8848, TTL: 1}},
	}
	if len(st.Daemons) != 2 {
		t.Fatalf("status %+v", st)
	}
	for i := range want {
		if st.Daemons[i].Role != want[i].Role || !st.Daemons[i].Config.Same(&want[i].Config) {
			t.Errorf("daemon %d: %+v, want %+v", i, st.Daemons[i], want[i])
		}
	}
	if st.Master.Sent == 0 || st.Master.Requests == 0 || st.Backup.Conns != 7 || st.Unsent != 1 {
		t.Errorf("counts %+v", st)
	}
	// A backup ran on A when its master started, but not before: the
	// master's dumper leaves learnt entries out; B's master started while
	// B's backup ran: out too.
	if fa.learnt[0] || fb.learnt[0] {
		t.Errorf("learnt flags A %v B %v", fa.learnt, fb.learnt)
	}

	// Stopping a master while its worker adds: the worker never writes
	// through a closed socket, and what comes after is unsent.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := syncConn(netip.MustParseAddr("198.19.4.1"), 3)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = da.Writer(0).Add(&c, time.Now())
			da.Writer(0).Flush(time.Now(), false)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := da.Stop(SyncMaster); err != nil {
		t.Fatal(err)
	}
	unsent := da.Status().Unsent
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
	if da.Status().Unsent <= unsent {
		t.Error("adds after the master stopped were not counted unsent")
	}
	if st := da.Status(); st.Master.Sent == 0 || len(st.Daemons) != 1 {
		t.Errorf("after stop: %+v", st)
	}
}

// TestSyncFollow: keepalived's lvs_sync_daemon follows its VRRP instance,
// and a master that took over from a backup dumps what it learnt.
func TestSyncFollow(t *testing.T) {
	a := testnet.NewNetNS(t)
	a.IP(t, "link add sa type veth peer name sb", "addr add 198.18.0.2/24 dev sa", "link set sa up", "link set sb up")
	f := newSyncFake(0)
	d := NewSyncDaemons(1, SyncOptions{Logger: quietLog, NetNS: filepath.Join("/run/netns", a.Name())})
	defer d.Close()
	d.Attach(f)
	cfg := &SyncConfig{Follow: &SyncFollows{Instance: "VI_1", SyncDaemon: SyncDaemon{Interface: "sa", SyncID: 3}}}
	if err := d.StartFile(cfg, true); err != nil {
		t.Fatal(err)
	}
	roles := func() (out []SyncRole) {
		for _, s := range d.Status().Daemons {
			out = append(out, s.Role)
		}
		return out
	}
	if r := roles(); len(r) != 0 {
		t.Fatalf("before the first state: %v", r)
	}
	steps := []struct {
		inst  string
		state vrrp.State
		want  []SyncRole
	}{
		{"VI_1", vrrp.Backup, []SyncRole{SyncBackup}},
		{"VI_2", vrrp.Master, []SyncRole{SyncBackup}}, // another instance's
		{"VI_1", vrrp.Master, []SyncRole{SyncMaster}},
		{"VI_1", vrrp.Backup, []SyncRole{SyncBackup}},
		{"VI_1", vrrp.Initialize, nil},
	}
	for _, s := range steps {
		d.OnVRRPState(s.inst, s.state)
		if r := roles(); len(r) != len(s.want) || len(r) > 0 && r[0] != s.want[0] {
			t.Errorf("%s %s: roles %v, want %v", s.inst, s.state, r, s.want)
		}
	}
	if st := d.Status(); st.Follow != "VI_1" {
		t.Errorf("follow %q", st.Follow)
	}
	if len(f.learnt) != 1 || !f.learnt[0] {
		t.Errorf("the master after a backup: learnt %v, want [true]", f.learnt)
	}
	// Without VRRP the followed daemon starts as a backup.
	d2 := NewSyncDaemons(1, SyncOptions{Logger: quietLog, NetNS: filepath.Join("/run/netns", a.Name())})
	defer d2.Close()
	d2.Attach(f)
	if err := d2.StartFile(cfg, false); err != nil {
		t.Fatal(err)
	}
	if st := d2.Status(); len(st.Daemons) != 1 || st.Daemons[0].Role != SyncBackup {
		t.Errorf("without VRRP: %+v", st.Daemons)
	}
}

func TestSyncDecodeReasons(t *testing.T) {
	want := []error{connsync.ErrShort, connsync.ErrSize, connsync.ErrTruncated, connsync.ErrEntryVersion,
		connsync.ErrEntryType, connsync.ErrBadOption}
	names := []string{"short", "size", "truncated", "entry-version", "entry-type", "bad-option"}
	for i, e := range connsync.DecodeErrors {
		if e != want[i] || SyncDecodeReason(i) != names[i] {
			t.Errorf("decode error %d: %v labelled %q", i, e, SyncDecodeReason(i))
		}
	}
	if SyncDecodeReason(len(want)) != "unknown" {
		t.Error("past the end")
	}
}
