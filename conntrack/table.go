package conntrack

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// Config configures a Table.
type Config struct {
	// Capacity is the most live entries (connections and templates);
	// 0 means DefaultCapacity. SetCapacity changes it at run time.
	Capacity int
	// MemoryCap optionally bounds the table's memory in bytes; the capacity
	// is then at most MemoryCap/128 entries. Memory grows shard by shard as
	// entries arrive, up to that bound.
	MemoryCap int64
	// Shards is a power of two up to 256; 0 picks one from Capacity
	// (16 up to 128 k entries, then one per 8 k entries, at most 256).
	Shards int
	// Clock returns monotonic nanoseconds; nil means a coarse clock that a
	// background goroutine advances every millisecond. Tests inject one.
	Clock func() int64
	// Timeouts per state; zero fields take the kernel's defaults.
	Timeouts Timeouts
	// Hooks tell the caller about entries coming and going.
	Hooks Hooks
	// Sloppy lets a TCP packet that is not a SYN create a connection, as
	// the kernel's sloppy_tcp does (see AcceptsNew).
	Sloppy bool
}

// Hooks are called off the hot path or cheaply, never under a shard lock.
// They may run concurrently, and the hooks of one entry may arrive out of
// order (an Activity after the Unbound of a racing removal); the arguments
// are such that counters kept by adding them up come out right regardless.
// Hooks must not call Reap.
type Hooks struct {
	// Bound: a new connection or template was inserted. It runs in Insert,
	// after the entry became visible: count the connection as active or not
	// by the state it was inserted in (Value.State, NONE by default, which
	// is inactive), since another goroutine may already have moved it.
	Bound func(c *Conn)
	// Activity: a connection moved between active and inactive (State.Active).
	Activity func(c *Conn, active bool)
	// Unbound: an entry expired, was removed or evicted. wasActive is the
	// activity it had when it went. c is readable until the hook returns.
	Unbound func(c *Conn, wasActive bool)
}

// Value is what Insert stores beside the key.
type Value struct {
	Service, Dest, DestGen uint32
	// Template is the persistence template controlling the connection, from
	// Lookup or InsertTemplate of this table; nil for none.
	Template *Conn
	// State is a TCP connection's initial state: StateNone (the default;
	// the first Observe moves it, as in the kernel) or, say, StateEstablished
	// for a sloppy mid-flow entry. Other protocols ignore it.
	State State
}

// DefaultCapacity is the capacity of a table configured without one.
const DefaultCapacity = 1 << 20

// Table is the connection table: lock-free lookups, per-shard locked inserts
// and removals, incremental expiry, bounded memory.
type Table struct {
	shards []shard
	shift  uint // hc >> shift is the shard number
	seed   seeds
	clock  func() int64
	epoch  int64
	hooks  Hooks
	sloppy bool
	memCap int64
	id     uint32 // registry number, in chunk headers
	arena  *arena // the slab and index memory outside the Go heap

	capacity  atomic.Int64 // effective: min(configured, MemoryCap/entryBytes)
	live      atomic.Int64 // connections + templates
	templates atomic.Int64
	class     [numClasses]atomic.Int64 // live connections per eviction class
	full      atomic.Uint64
	timeouts  [numStates]atomic.Uint32 // ticks

	reapMu    sync.Mutex // guards the reap cursor
	reapShard int
	reapPos   uint32
}

// New makes a table.
func New(cfg Config) (*Table, error) {
	if cfg.Capacity < 0 || cfg.MemoryCap < 0 || cfg.Shards < 0 {
		return nil, fmt.Errorf("negative capacity, memory cap or shards: %w", ErrBadConfig)
	}
	capacity := cfg.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	shards := cfg.Shards
	if shards == 0 {
		shards = min(max(1<<bits.Len(uint(capacity/8192)), 16), 256)
	}
	if shards&(shards-1) != 0 || shards > 256 {
		return nil, fmt.Errorf("shards %d: not a power of two up to 256: %w", cfg.Shards, ErrBadConfig)
	}
	t := &Table{
		shards: make([]shard, shards),
		shift:  uint(64 - bits.TrailingZeros(uint(shards))),
		clock:  cfg.Clock,
		hooks:  cfg.Hooks,
		sloppy: cfg.Sloppy,
		memCap: cfg.MemoryCap,
		arena:  &arena{},
	}
	for i := range t.seed {
		t.seed[i] = rand.Uint64() | 1
	}
	startCoarseClock()
	if t.clock == nil {
		t.clock = coarseNow
	}
	t.epoch = t.clock() - tickNs
	def := DefaultTimeouts()
	want, defs := cfg.Timeouts.byState(), def.byState()
	for s := range want {
		d := want[s]
		if d < 0 {
			return nil, fmt.Errorf("timeout of %v: negative: %w", State(s), ErrBadConfig)
		}
		if d == 0 {
			d = defs[s]
		}
		t.timeouts[s].Store(toTicks(d))
	}
	for i := range t.shards {
		t.shards[i].init(uint32(i))
	}
	if err := t.setCapacity(capacity); err != nil {
		return nil, err
	}
	// Chunks name the table by number; when it is collected, its number
	// is freed and its memory outside the heap unmapped.
	t.id = register(t)
	runtime.AddCleanup(t, releaseTable, tableRes{t.id, t.arena})
	return t, nil
}

// tableRes is what a collected table leaves to release.
type tableRes struct {
	id    uint32
	arena *arena
}

// releaseTable runs once per table, however often it is called.
func releaseTable(r tableRes) {
	if r.arena.release() {
		unregister(r.id)
	}
}

// shardOf picks the shard of a client hash (a shift by 64 gives 0).
func (t *Table) shardOf(hc uint64) *shard { return &t.shards[hc>>t.shift] }

// now is the table's time in ticks.
func (t *Table) now() uint32 { return uint32((t.clock() - t.epoch) / tickNs) }

// entryByRef resolves a template reference (shard<<24 | local, plus one).
func (t *Table) entryByRef(ref uint32) *Conn {
	ref--
	return t.shards[ref>>24].entry(ref & maxLocal)
}

func refOf(sh *shard, local uint32) uint32 { return (sh.id<<24 | local) + 1 }

// entryHashes recomputes the hashes an entry was indexed under.
func (t *Table) entryHashes(c *Conn) (h, hr uint64, reply bool) {
	p := c.w[wPorts].Load()
	hc := t.seed.client(c.w[wSrc0].Load(), c.w[wSrc1].Load(), uint16(p>>48))
	kind := KindConn
	if p&typeMask == typeTmpl {
		kind = KindTemplate
	}
	h = t.seed.full(hc, c.w[wDst0].Load(), c.w[wDst1].Load(), uint16(p>>32), uint8(p>>24), kind)
	if p&metaReply != 0 {
		hr = t.seed.full(hc, c.w[wRep0].Load(), c.w[wRep1].Load(), uint16(p>>8), uint8(p>>24), KindReply)
		reply = true
	}
	return h, hr, reply
}

// alive reports whether an entry with control word ctl is there for lookups
// at time now: live, indexed, and not expired, except that a template does
// not expire while it controls connections.
func alive(ctl uint64, now uint32) bool {
	if ctl&(ctlLive|ctlOrphan) != ctlLive {
		return false
	}
	return before(now, ctlExpiry(ctl))
}

func aliveTemplate(ctl uint64, now uint32) bool {
	if ctl&(ctlLive|ctlOrphan) != ctlLive {
		return false
	}
	return ctlCount(ctl) > 0 || before(now, ctlExpiry(ctl))
}

// Len returns the number of live entries, connections and templates.
func (t *Table) Len() int { return int(t.live.Load()) }

// Capacity returns the effective capacity: the configured one, bounded by
// MemoryCap.
func (t *Table) Capacity() int { return int(t.capacity.Load()) }

// SetCapacity changes the most live entries the table holds. It refuses a
// capacity below the number of live entries (ErrCapacityBelowLive): expire
// entries first. Memory already taken is kept.
func (t *Table) SetCapacity(n int) error {
	if n <= 0 {
		return fmt.Errorf("set capacity %d: not positive: %w", n, ErrBadConfig)
	}
	return t.setCapacity(n)
}

func (t *Table) setCapacity(n int) error {
	eff := int64(n)
	if t.memCap > 0 {
		eff = min(eff, t.memCap/entryBytes)
		if eff < 1 {
			return fmt.Errorf("memory cap %d bytes: below one entry: %w", t.memCap, ErrBadConfig)
		}
	}
	if perShard := eff / int64(len(t.shards)); perShard+perShard/16+chunkSize > maxLocal {
		return fmt.Errorf("capacity %d: over %d per shard with %d shards: %w",
			n, maxLocal*15/16, len(t.shards), ErrBadConfig)
	}
	if live := t.live.Load(); eff < live {
		return fmt.Errorf("set capacity %d: %d entries live: %w", eff, live, ErrCapacityBelowLive)
	}
	t.capacity.Store(eff)
	return nil
}

// SetTimeouts sets the timeouts of ESTABLISHED (tcp), FIN_WAIT (tcpfin) and
// UDP, as ipvsadm --set does; a zero or negative value keeps the current one
// (ipvsadm rejects negative values before they get here). Entries pick up
// the new value at their next packet.
func (t *Table) SetTimeouts(tcp, tcpfin, udp time.Duration) {
	for _, s := range [...]struct {
		st State
		d  time.Duration
	}{{StateEstablished, tcp}, {StateFinWait, tcpfin}, {StateUDP, udp}} {
		if s.d > 0 {
			t.timeouts[s.st].Store(toTicks(s.d))
		}
	}
}

// Timeouts returns the timeouts ipvsadm --set changes.
func (t *Table) Timeouts() (tcp, tcpfin, udp time.Duration) {
	return fromTicks(t.timeouts[StateEstablished].Load()),
		fromTicks(t.timeouts[StateFinWait].Load()),
		fromTicks(t.timeouts[StateUDP].Load())
}

// AcceptsNew reports whether a packet with no entry may create one: any
// non-TCP packet, and a TCP packet with SYN (or, with Config.Sloppy, any TCP
// packet) unless it carries RST — the kernel's tcp_conn_schedule test. A
// SYN|ACK is accepted: the kernel leaves the ACK test out on purpose (active
// FTP). The forwarder asks this before it schedules.
func (t *Table) AcceptsNew(proto, tcpFlags uint8) bool {
	if proto != flow.TCP {
		return true
	}
	return tcpFlags&flow.TCPRst == 0 && (tcpFlags&flow.TCPSyn != 0 || t.sloppy)
}
