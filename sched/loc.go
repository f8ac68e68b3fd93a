package sched

import (
	"sync"
	"sync/atomic"
	"time"
)

// Constants of ip_vs_lblc.c / ip_vs_lblcr.c.
const (
	locTabBits        = 10 // IP_VS_LBLC_TAB_BITS
	locTabSize        = 1 << locTabBits
	locTabMask        = locTabSize - 1
	locMaxSize        = locTabSize * 16 // tbl->max_size: garbage collection starts above it
	locCheckInterval  = int64(60 * time.Second)
	locEntryTimeout   = int64(6 * time.Minute)
	locExpiration     = 24 * time.Hour // DEFAULT_EXPIRATION
	locFullCheckEvery = 30             // COUNT_FOR_FULL_EXPIRATION
	locDefaultEntries = 2 * locMaxSize
	locShards         = 64
	locMaxTicks       = 1 << 20 // bound on timer ticks replayed at once (about two years)
)

// locSched is ip_vs_lblc (set == false) and ip_vs_lblcr (set == true): a table from destination address to the
// server (lblc) or set of servers (lblcr) that last served it, falling back to weighted least-connection.
//
// The kernel hashes entries into 1024 chains, inserts at the chain head, and a timer collects them; this table
// does the same in preallocated arrays so that Pick never allocates, and replays the timer's ticks lazily (each
// Pick first runs the ticks that fell due), so expiry is what the kernel's timer would have done at those instants.
// Lookups take one of 64 shard mutexes (the kernel reads under RCU and locks only to write); the weighted
// least-connection choice inside is the lock-free tree of wlc.
type locSched struct {
	set    bool
	expire int64 // lblc_expiration / lblcr_expiration in ns
	base   time.Time
	now    func() time.Time // injected clock, nil for the monotonic clock

	mu sync.Mutex // serialises Update
	st atomic.Pointer[leastTree]

	shards [locShards]struct {
		sync.Mutex // guards the chains of the buckets b with b%locShards == shard, and their entries
		_          [56]byte
	}
	heads [locTabSize]int32
	ents  []locEntry
	elems []setElem // lblcr set members

	poolMu   sync.Mutex // guards the free lists
	freeEnt  int32
	freeElem int32

	entries atomic.Int32 // the kernel's tbl->entries, which drives collection

	gcMu     sync.Mutex   // held while ticks run
	nextTick atomic.Int64 // ns since base of the next timer tick
	rover    int          // gcMu
	counter  int          // gcMu
}

type locEntry struct {
	addr    [16]byte
	next    int32 // chain, -1 ends
	setHead int32 // lblcr: first set member, -1 when empty
	setSize int32
	dest    *Dest // lblc
	lastuse int64
	lastmod int64 // lblcr: last change of the set
}

type setElem struct {
	dest *Dest
	next int32
}

func newLocSched(opts Options, set bool) *locSched {
	s := &locSched{set: set, expire: int64(locExpiration), now: opts.Now}
	if opts.LBLCExpiration > 0 {
		s.expire = int64(opts.LBLCExpiration)
	}
	if s.now != nil {
		s.base = s.now()
	} else {
		s.base = time.Now()
	}
	n := opts.LBLCMaxEntries
	if n <= 0 {
		n = locDefaultEntries
	}
	s.ents = make([]locEntry, n)
	for i := range s.ents {
		s.ents[i] = locEntry{next: int32(i + 1), setHead: -1}
	}
	s.ents[n-1].next = -1
	if set {
		s.elems = make([]setElem, 2*n)
		for i := range s.elems {
			s.elems[i].next = int32(i + 1)
		}
		s.elems[len(s.elems)-1].next = -1
	}
	for i := range s.heads {
		s.heads[i] = -1
	}
	s.nextTick.Store(locCheckInterval)
	s.counter = 1
	return s
}

func (s *locSched) Name() string {
	if s.set {
		return "lblcr"
	}
	return "lblc"
}

// clock returns nanoseconds since the scheduler was made. Without an injected clock it reads only the monotonic
// clock (time.Since), which costs about half of time.Now.
func (s *locSched) clock() int64 {
	if s.now != nil {
		return int64(s.now().Sub(s.base))
	}
	return int64(time.Since(s.base))
}

// locHash is ip_vs_lblc_hashkey / ip_vs_lblcr_hashkey.
func locHash(a *[16]byte, v6 bool) uint32 { return hash32(foldAddr(a, v6), locTabBits) }

func (s *locSched) shard(b uint32) *sync.Mutex { return &s.shards[b%locShards].Mutex }

func (s *locSched) find(b uint32, a *[16]byte) int32 {
	for i := s.heads[b]; i >= 0; i = s.ents[i].next {
		if s.ents[i].addr == *a {
			return i
		}
	}
	return -1
}

func (s *locSched) link(b uint32, i int32) {
	s.ents[i].next = s.heads[b]
	s.heads[b] = i
}

func (s *locSched) unlink(b uint32, i int32) {
	p := &s.heads[b]
	for *p != i {
		p = &s.ents[*p].next
	}
	*p = s.ents[i].next
}

func (s *locSched) allocEnt() int32 {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	i := s.freeEnt
	if i >= 0 {
		s.freeEnt = s.ents[i].next
	}
	return i
}

func (s *locSched) allocElem() int32 {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	i := s.freeElem
	if i >= 0 {
		s.freeElem = s.elems[i].next
	}
	return i
}

// freeEntry returns an unlinked entry and its set members to the pools.
func (s *locSched) freeEntry(i int32) {
	e := &s.ents[i]
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	for j := e.setHead; j >= 0; {
		next := s.elems[j].next
		s.elems[j] = setElem{next: s.freeElem}
		s.freeElem = j
		j = next
	}
	*e = locEntry{next: s.freeEnt, setHead: -1}
	s.freeEnt = i
}

// member reports whether d is in the installed list: the kernel's IP_VS_DEST_F_AVAILABLE. A removed server stays
// referenced by entries, as in the kernel's trash, until they are replaced or expire. The Dest's binding answers
// at once; the map covers the moment in Update when bindings already point at the next list.
func member(t *leastTree, d *Dest) bool {
	if b := d.watch.Load(); b != nil && b.w == watcher(t) {
		return true
	}
	_, ok := t.pos[d]
	return ok
}

// overloadedFor is the lblc/lblcr is_overloaded(): more active connections than weight while some server has
// fewer than half its weight. (The kernel does not look at the threshold flag for a cached server here.)
func overloadedFor(t *leastTree, d *Dest) bool {
	if d.active.Load() <= d.weight.Load() {
		return false
	}
	for _, x := range t.dests {
		if x.active.Load()*2 < x.weight.Load() {
			return true
		}
	}
	return false
}

func (s *locSched) Pick(f *Flow) *Dest {
	t := s.st.Load()
	now := s.clock()
	s.runTicks(now)
	b := locHash(&f.Dst, f.Family == 6)
	mu := s.shard(b)
	mu.Lock()
	defer mu.Unlock()
	if s.set {
		return s.pickSet(t, b, f, now)
	}
	i := s.find(b, &f.Dst)
	if i >= 0 {
		e := &s.ents[i]
		e.lastuse = now
		if d := e.dest; member(t, d) && d.weight.Load() > 0 && !overloadedFor(t, d) {
			return d
		}
	}
	d := t.pick()
	if d == nil {
		return nil
	}
	// ip_vs_lblc_new: keep an entry that already names d; otherwise the old entry is deleted and a new one hashed
	// at the chain head. The kernel counts the new one without uncounting the old; so does entries.
	if i >= 0 {
		if s.ents[i].dest == d {
			return d
		}
		s.unlink(b, i)
	} else if i = s.allocEnt(); i < 0 {
		return d // table full: like a failed kmalloc, schedule without caching
	}
	e := &s.ents[i]
	e.addr, e.dest, e.lastuse = f.Dst, d, now
	s.link(b, i)
	s.entries.Add(1)
	return d
}

// pickSet is ip_vs_lblcr_schedule.
func (s *locSched) pickSet(t *leastTree, b uint32, f *Flow, now int64) *Dest {
	i := s.find(b, &f.Dst)
	if i < 0 {
		d := t.pick()
		if d == nil {
			return nil
		}
		if i = s.allocEnt(); i < 0 {
			return d
		}
		e := &s.ents[i]
		e.addr, e.lastuse, e.setHead, e.setSize = f.Dst, now, -1, 0
		s.setInsert(e, d, false, now)
		s.link(b, i)
		s.entries.Add(1)
		return d
	}
	e := &s.ents[i]
	e.lastuse = now
	d := s.setMin(t, e)
	if e.setSize > 1 && now > e.lastmod+s.expire {
		if m := s.setMax(e); m != nil {
			s.setErase(e, m, now)
		}
	}
	if d != nil && !overloadedFor(t, d) {
		return d
	}
	if d = t.pick(); d == nil {
		return nil
	}
	s.setInsert(e, d, true, now)
	return d
}

// setMin is ip_vs_dest_set_min: weighted least-connection among the set's available members.
func (s *locSched) setMin(t *leastTree, e *locEntry) *Dest {
	var least *Dest
	for j := e.setHead; j >= 0; j = s.elems[j].next {
		d := s.elems[j].dest
		if d.overload.Load() {
			continue
		}
		if least == nil {
			if d.weight.Load() > 0 && member(t, d) {
				least = d
			}
			continue
		}
		if kindWLC.beats(d, least) && member(t, d) {
			least = d
		}
	}
	return least
}

// setMax is ip_vs_dest_set_max: weighted most-connection among members of positive weight.
func (s *locSched) setMax(e *locEntry) *Dest {
	var most *Dest
	for j := e.setHead; j >= 0; j = s.elems[j].next {
		d := s.elems[j].dest
		dw := int64(d.weight.Load())
		if most == nil {
			if dw > 0 {
				most = d
			}
			continue
		}
		if int64(most.connOverhead())*dw < int64(d.connOverhead())*int64(most.weight.Load()) && dw > 0 {
			most = d
		}
	}
	return most
}

// setInsert is ip_vs_dest_set_insert: add d at the head unless (check) it is there already.
func (s *locSched) setInsert(e *locEntry, d *Dest, check bool, now int64) {
	if check {
		for j := e.setHead; j >= 0; j = s.elems[j].next {
			if s.elems[j].dest == d {
				return
			}
		}
	}
	j := s.allocElem()
	if j < 0 {
		return
	}
	s.elems[j] = setElem{dest: d, next: e.setHead}
	e.setHead = j
	e.setSize++
	e.lastmod = now
}

// setErase is ip_vs_dest_set_erase: drop the first member that is d.
func (s *locSched) setErase(e *locEntry, d *Dest, now int64) {
	for p := &e.setHead; *p >= 0; p = &s.elems[*p].next {
		if j := *p; s.elems[j].dest == d {
			*p = s.elems[j].next
			e.setSize--
			e.lastmod = now
			s.poolMu.Lock()
			s.elems[j] = setElem{next: s.freeElem}
			s.freeElem = j
			s.poolMu.Unlock()
			return
		}
	}
}

// runTicks replays the kernel's periodic timer (every 60 s from the scheduler's creation) up to now. A Pick that
// finds another goroutine replaying skips it; the ticks are done by the time that goroutine lets go.
func (s *locSched) runTicks(now int64) {
	if now < s.nextTick.Load() || !s.gcMu.TryLock() {
		return
	}
	defer s.gcMu.Unlock()
	for n := 0; s.nextTick.Load() <= now; n++ {
		at := s.nextTick.Load()
		if n == locMaxTicks {
			// A clock jump of years: everything idle is collectable anyway; resume the cadence from now.
			s.nextTick.Store(now + locCheckInterval)
			return
		}
		s.tick(at)
		s.nextTick.Store(at + locCheckInterval)
	}
}

// tick is ip_vs_lblc_check_expire / ip_vs_lblcr_check_expire at time now.
func (s *locSched) tick(now int64) {
	if s.counter%locFullCheckEvery == 0 {
		// Full check: every bucket, entries unused for the expiration time.
		j := s.rover
		for i := 0; i < locTabSize; i++ {
			j = (j + 1) & locTabMask
			s.sweep(uint32(j), now, s.expire, nil)
		}
		s.rover = j
		s.counter = 1
		return
	}
	entries := int(s.entries.Load())
	if entries <= locMaxSize {
		s.counter++
		return
	}
	goal := (entries - locMaxSize) * 4 / 3
	if goal > locMaxSize/2 {
		goal = locMaxSize / 2
	}
	j := s.rover
	for i := 0; i < locTabSize; i++ {
		j = (j + 1) & locTabMask
		s.sweep(uint32(j), now, locEntryTimeout, &goal)
		if goal <= 0 {
			break
		}
	}
	s.rover = j
}

// sweep drops the entries of bucket b unused for age at now, counting them off goal when given.
func (s *locSched) sweep(b uint32, now, age int64, goal *int) {
	mu := s.shard(b)
	mu.Lock()
	defer mu.Unlock()
	for p := &s.heads[b]; *p >= 0; {
		i := *p
		if now < s.ents[i].lastuse+age {
			p = &s.ents[i].next
			continue
		}
		*p = s.ents[i].next
		s.freeEntry(i)
		s.entries.Add(-1)
		if goal != nil {
			*goal--
		}
	}
}

// Update installs the new list for the weighted least-connection choice. The table is kept: entries naming a
// server that left are treated as unavailable (and replaced on their next use), as the kernel treats servers in
// its trash.
func (s *locSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Store(installTree(kindWLC, dests, s.st.Load(), true))
	return nil
}
