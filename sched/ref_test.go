package sched

// Slow reference schedulers, written from the kernel's ip_vs_<name>.c the way the kernel writes them: a list walked
// from its head, marks kept as list positions, tables rebuilt on every edit. The oracle tests run them beside the
// fast schedulers on the same *Dest values and demand identical choices.

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

type refSched interface {
	pick(f *Flow, now int64) *Dest
	update(list []*Dest)
}

func newRef(name string, opts Options, rng func() uint32) refSched {
	switch name {
	case "rr":
		return &refRR{cur: -1}
	case "wrr":
		return &refWRR{cl: -1, fresh: true}
	case "lc", "wlc", "sed", "nq", "fo", "ovf":
		return &refLeast{name: name}
	case "twos":
		return &refTwos{rng: rng}
	case "sh":
		return &refSH{flags: opts.Flags}
	case "dh":
		return &refDH{}
	case "mh":
		m := opts.MHTableSize
		if m == 0 {
			m = 4093
		}
		return &refMH{m: uint32(m), flags: opts.Flags}
	case "lblc", "lblcr":
		exp := int64(opts.LBLCExpiration)
		if exp == 0 {
			exp = int64(locExpiration)
		}
		r := &refLoc{set: name == "lblcr", expire: exp, counter: 1, nextTick: int64(60e9)}
		return r
	}
	panic("no reference for " + name)
}

func overloaded(d *Dest) bool { return d.Overloaded() }
func weight(d *Dest) int32    { return d.Weight() }

// ip_vs_dest_conn_overhead, 32-bit int.
func refOverhead(d *Dest) int32 { return d.ActiveConns()<<8 + d.InactiveConns() }

// ---- rr ----

type refRR struct {
	list []*Dest
	cur  int // list position of sched_data, -1 = head
}

func (r *refRR) pick(*Flow, int64) *Dest {
	n := len(r.list)
	p := r.cur
	last := p
	dest := p
	pass := 0
	for {
		for dest = dest + 1; dest < n; dest++ {
			d := r.list[dest]
			if !overloaded(d) && weight(d) > 0 {
				r.cur = dest
				return d
			}
			if dest == last {
				return nil
			}
		}
		pass++
		dest = -1
		if !(pass < 2 && p != -1) {
			return nil
		}
	}
}

// update replays ip_vs_rr_del_dest for each removed server, then takes the new list.
func (r *refRR) update(list []*Dest) {
	cur := r.list
	keep := map[*Dest]bool{}
	for _, d := range list {
		keep[d] = true
	}
	var curDest *Dest
	if r.cur >= 0 {
		curDest = cur[r.cur]
	}
	for i := 0; i < len(cur); {
		d := cur[i]
		if keep[d] {
			i++
			continue
		}
		if d == curDest {
			if i == 0 {
				curDest = nil
			} else {
				curDest = cur[i-1]
			}
		}
		cur = append(cur[:i:i], cur[i+1:]...)
	}
	r.list = append([]*Dest(nil), list...)
	r.cur = -1
	for i, d := range r.list {
		if d == curDest {
			r.cur = i
		}
	}
}

// ---- wrr ----

type refWRR struct {
	list       []*Dest
	cl         int // -1 = head
	cw, mw, di int64
	fresh      bool
}

func (r *refWRR) update(list []*Dest) {
	r.list = append([]*Dest(nil), list...)
	var g, mx int64
	for _, d := range list {
		w := int64(weight(d))
		if w > 0 {
			if g > 0 {
				g = refGCD(w, g)
			} else {
				g = w
			}
		}
		if w > mx {
			mx = w
		}
	}
	if g == 0 {
		g = 1
	}
	r.cl = -1
	r.di = g
	r.mw = mx - (g - 1)
	if r.fresh {
		r.cw = r.mw
		r.fresh = false
		return
	}
	if r.cw > r.mw || r.cw == 0 {
		r.cw = r.mw
	} else if r.di > 1 {
		r.cw = (r.cw/r.di)*r.di + 1
	}
}

func refGCD(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (r *refWRR) pick(*Flow, int64) *Dest {
	n := len(r.list)
	if r.mw == 0 {
		return nil
	}
	dest := r.cl
	last := r.cl
	stop := -2
	lastPass, restarted := false, false
	for {
		for dest = dest + 1; dest < n; dest++ {
			d := r.list[dest]
			if !overloaded(d) && int64(weight(d)) >= r.cw {
				r.cl = dest
				return d
			}
			if dest == stop {
				r.cl = dest
				return nil
			}
		}
		r.cw -= r.di
		if r.cw <= 0 {
			r.cw = r.mw
			if lastPass || last == -1 {
				r.cl = -1
				return nil
			}
			restarted = true
		}
		lastPass = r.cw <= r.di
		if lastPass && restarted && last != -1 {
			stop = last
		}
		dest = -1
	}
}

// ---- lc, wlc, sed, nq, fo, ovf ----

type refLeast struct {
	name string
	list []*Dest
}

func (r *refLeast) update(list []*Dest) { r.list = append([]*Dest(nil), list...) }

func (r *refLeast) pick(*Flow, int64) *Dest {
	switch r.name {
	case "lc":
		return refLC(r.list)
	case "wlc":
		return refWLC(r.list)
	case "sed":
		return refSED(r.list)
	case "nq":
		return refNQ(r.list)
	case "fo":
		return refFO(r.list)
	default:
		return refOVF(r.list)
	}
}

func refLC(list []*Dest) *Dest {
	var least *Dest
	var loh uint32
	for _, d := range list {
		if overloaded(d) || weight(d) == 0 {
			continue
		}
		doh := uint32(refOverhead(d))
		if least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}

func refWLC(list []*Dest) *Dest {
	i := 0
	var least *Dest
	var loh int32
	for ; i < len(list); i++ {
		if d := list[i]; !overloaded(d) && weight(d) > 0 {
			least, loh = d, refOverhead(d)
			break
		}
	}
	if least == nil {
		return nil
	}
	for i++; i < len(list); i++ {
		d := list[i]
		if overloaded(d) {
			continue
		}
		doh := refOverhead(d)
		if int64(loh)*int64(weight(d)) > int64(doh)*int64(weight(least)) {
			least, loh = d, doh
		}
	}
	return least
}

func refSED(list []*Dest) *Dest {
	i := 0
	var least *Dest
	var loh uint32
	for ; i < len(list); i++ {
		if d := list[i]; !overloaded(d) && weight(d) > 0 {
			least, loh = d, uint32(d.ActiveConns()+1)
			break
		}
	}
	if least == nil {
		return nil
	}
	for i++; i < len(list); i++ {
		d := list[i]
		if overloaded(d) {
			continue
		}
		doh := uint32(d.ActiveConns() + 1)
		if int64(loh)*int64(weight(d)) > int64(doh)*int64(weight(least)) {
			least, loh = d, doh
		}
	}
	return least
}

func refNQ(list []*Dest) *Dest {
	var least *Dest
	var loh uint32
	for _, d := range list {
		if overloaded(d) || weight(d) == 0 {
			continue
		}
		doh := uint32(d.ActiveConns() + 1)
		if d.ActiveConns() == 0 {
			return d
		}
		if least == nil || int64(loh)*int64(weight(d)) > int64(doh)*int64(weight(least)) {
			least, loh = d, doh
		}
	}
	return least
}

func refFO(list []*Dest) *Dest {
	var h *Dest
	var hw int32
	for _, d := range list {
		if !overloaded(d) && weight(d) > hw {
			h, hw = d, weight(d)
		}
	}
	return h
}

func refOVF(list []*Dest) *Dest {
	var h *Dest
	var hw int32
	for _, d := range list {
		w := weight(d)
		if overloaded(d) || d.ActiveConns() > w || w == 0 {
			continue
		}
		if h == nil || w > hw {
			h, hw = d, w
		}
	}
	return h
}

// ---- twos ----

type refTwos struct {
	list []*Dest
	rng  func() uint32
}

func (r *refTwos) update(list []*Dest) { r.list = append([]*Dest(nil), list...) }

func (r *refTwos) pick(*Flow, int64) *Dest {
	var choice1, choice2 *Dest
	var total int64
	for _, d := range r.list {
		if !overloaded(d) && weight(d) > 0 {
			total += int64(weight(d))
			choice1 = d
		}
	}
	if choice1 == nil {
		return nil
	}
	total++
	// The kernel sums in int and overflows past 2^31; sched (documented) draws 64 random bits past 2^32.
	draw := func() int64 {
		if total <= 1<<32 {
			return int64(uint64(r.rng()) % uint64(total))
		}
		hi := uint64(r.rng())
		return int64((hi<<32 | uint64(r.rng())) % uint64(total))
	}
	r1 := draw()
	r2 := draw()
	var w1, w2 int32 = -1, -1
	var o1, o2 int32
	for _, d := range r.list {
		if overloaded(d) || weight(d) <= 0 {
			continue
		}
		w := weight(d)
		r1 -= int64(w)
		r2 -= int64(w)
		if r1 <= 0 && w1 == -1 {
			choice1, w1, o1 = d, w, refOverhead(d)
		}
		if r2 <= 0 && w2 == -1 {
			choice2, w2, o2 = d, w, refOverhead(d)
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if choice2 != nil && w2*o1 > w1*o2 {
		choice1 = choice2
	}
	return choice1
}

// ---- sh, dh ----

func refFold(a *[16]byte, v6 bool) uint32 {
	if !v6 {
		return binary.BigEndian.Uint32(a[12:])
	}
	var x uint32
	for i := 0; i < 16; i += 4 {
		x ^= binary.BigEndian.Uint32(a[i:])
	}
	return x
}

func refIsV6(a *[16]byte) bool {
	for i := 0; i < 10; i++ {
		if a[i] != 0 {
			return true
		}
	}
	return a[10] != 0xff || a[11] != 0xff
}

func refHash32(v uint32, b uint) uint32 { return (v * 0x61C88647) >> (32 - b) }

func refPort(f *Flow) uint16 {
	if f.Proto == 6 || f.Proto == 17 || f.Proto == 132 {
		return f.SrcPort
	}
	return 0
}

type refSH struct {
	flags   Flags
	buckets [256]*Dest
}

func (r *refSH) update(list []*Dest) {
	p, count := 0, 0
	for i := range r.buckets {
		if len(list) == 0 {
			r.buckets[i] = nil
			continue
		}
		d := list[p]
		r.buckets[i] = d
		count++
		if count >= int(weight(d)) {
			p = (p + 1) % len(list)
			count = 0
		}
	}
}

func refUnavailable(d *Dest) bool { return weight(d) <= 0 || overloaded(d) }

func (r *refSH) hashkey(f *Flow, port uint16, offset uint32) uint32 {
	return (offset + refHash32(uint32(port)+refFold(&f.Src, f.Family == 6), 8)) & 255
}

func (r *refSH) pick(f *Flow, _ int64) *Dest {
	var port uint16
	if r.flags&FlagSHPort != 0 {
		port = refPort(f)
	}
	if r.flags&FlagSHFallback == 0 {
		d := r.buckets[r.hashkey(f, port, 0)]
		if d == nil || refUnavailable(d) {
			return nil
		}
		return d
	}
	ihash := r.hashkey(f, port, 0)
	d := r.buckets[ihash]
	if d == nil {
		return nil
	}
	if !refUnavailable(d) {
		return d
	}
	for offset := uint32(0); offset < 256; offset++ {
		roffset := (offset + ihash) % 256
		d := r.buckets[r.hashkey(f, port, roffset)]
		if d == nil {
			break
		}
		if !refUnavailable(d) {
			return d
		}
	}
	return nil
}

type refDH struct{ buckets [256]*Dest }

func (r *refDH) update(list []*Dest) {
	p := 0
	for i := range r.buckets {
		if len(list) == 0 {
			r.buckets[i] = nil
			continue
		}
		r.buckets[i] = list[p]
		p = (p + 1) % len(list)
	}
}

func (r *refDH) pick(f *Flow, _ int64) *Dest {
	d := r.buckets[(uint64(refFold(&f.Dst, f.Family == 6))*2654435761)&255]
	if d == nil || refUnavailable(d) {
		return nil
	}
	return d
}

// ---- mh ----

// refSipHash is generic SipHash-c-d over a byte message with key (k0, k1), as lib/siphash.c computes it.
func refSipHash(c, d int, k0, k1 uint64, msg []byte) uint64 {
	v0 := uint64(0x736f6d6570736575) ^ k0
	v1 := uint64(0x646f72616e646f6d) ^ k1
	v2 := uint64(0x6c7967656e657261) ^ k0
	v3 := uint64(0x7465646279746573) ^ k1
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13) ^ v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16) ^ v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21) ^ v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17) ^ v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg) - len(msg)%8
	for i := 0; i < n; i += 8 {
		m := binary.LittleEndian.Uint64(msg[i:])
		v3 ^= m
		for j := 0; j < c; j++ {
			round()
		}
		v0 ^= m
	}
	b := uint64(len(msg)) << 56
	for i, x := range msg[n:] {
		b |= uint64(x) << (8 * i)
	}
	v3 ^= b
	for j := 0; j < c; j++ {
		round()
	}
	v0 ^= b
	v2 ^= 0xff
	for j := 0; j < d; j++ {
		round()
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func refHsip(v uint32, key uint64) uint32 {
	var msg [4]byte
	binary.LittleEndian.PutUint32(msg[:], v)
	return uint32(refSipHash(1, 3, key, key, msg[:]))
}

type refMH struct {
	m      uint32
	flags  Flags
	lookup []*Dest
}

func refMHKey(addr uint32, port uint16, key uint64, offset uint32) uint32 {
	return refHsip(offset+uint32(port)+addr, key)
}

func (r *refMH) update(list []*Dest) {
	// The one place xvs departs from ip_vs_mh on purpose: it builds from the servers sorted by address and
	// port, not in list order, so that every director builds the same table (see mhSched).
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b *Dest) int {
		if c := bytes.Compare(a.Addr[:], b.Addr[:]); c != 0 {
			return c
		}
		return int(a.Port) - int(b.Port)
	})
	m := r.m
	if r.lookup == nil {
		r.lookup = make([]*Dest, m)
	}
	var g int64
	var mw int64
	for _, d := range list {
		w := int64(d.lastWeight.Load())
		if w > 0 {
			if g > 0 {
				g = refGCD(w, g)
			} else {
				g = w
			}
		}
		if w > mw {
			mw = w
		}
	}
	if g < 1 {
		for i := range r.lookup {
			r.lookup[i] = nil
		}
		return
	}
	tabBits := bits.Len32(m) / 2
	shift := bits.Len32(uint32(mw/g)) - tabBits
	if shift < 0 {
		shift = 0
	}
	type setup struct {
		offset, skip, perm uint32
		turns              int
	}
	ds := make([]setup, len(list))
	for i, d := range list {
		a := refFold(&d.Addr, refIsV6(&d.Addr))
		ds[i].offset = refMHKey(a, d.Port, 2654435761, 0) % m
		ds[i].skip = refMHKey(a, d.Port, 2654446892, 0)%(m-1) + 1
		ds[i].perm = ds[i].offset
		lw := int64(d.lastWeight.Load())
		ds[i].turns = int((lw / g) >> shift)
		if ds[i].turns == 0 && lw != 0 {
			ds[i].turns = 1
		}
	}
	table := make([]bool, m)
	n, dt := uint32(0), 0
	for n < m {
		p := 0
		for p < len(list) {
			s := &ds[p]
			if s.turns < 1 {
				p++
				continue
			}
			c := s.perm
			for table[c] {
				s.perm += s.skip
				if s.perm >= m {
					s.perm -= m
				}
				c = s.perm
			}
			table[c] = true
			r.lookup[c] = list[p]
			n++
			if n == m {
				return
			}
			dt++
			if dt >= s.turns {
				dt = 0
				p++
			}
		}
	}
}

func (r *refMH) pick(f *Flow, _ int64) *Dest {
	var port uint16
	if r.flags&FlagMHPort != 0 {
		port = refPort(f)
	}
	a := refFold(&f.Src, f.Family == 6)
	ihash := refMHKey(a, port, 2654435761, 0) % r.m
	d := r.lookup[ihash]
	if r.flags&FlagMHFallback == 0 {
		if d == nil || refUnavailable(d) {
			return nil
		}
		return d
	}
	if d == nil {
		return nil
	}
	if !refUnavailable(d) {
		return d
	}
	for offset := uint32(0); offset < r.m; offset++ {
		roffset := (offset + ihash) % r.m
		d := r.lookup[refMHKey(a, port, 2654435761, roffset)%r.m]
		if d == nil {
			break
		}
		if !refUnavailable(d) {
			return d
		}
	}
	return nil
}

// ---- lblc, lblcr ----

type refEntry struct {
	addr    [16]byte
	dest    *Dest
	set     []*Dest // head first
	lastuse int64
	lastmod int64
}

type refLoc struct {
	set      bool
	expire   int64
	list     []*Dest
	avail    map[*Dest]bool
	buckets  [1024][]*refEntry // head first
	entries  int
	rover    int
	counter  int
	nextTick int64
}

func (r *refLoc) update(list []*Dest) {
	r.list = append([]*Dest(nil), list...)
	r.avail = map[*Dest]bool{}
	for _, d := range list {
		r.avail[d] = true
	}
}

func (r *refLoc) hash(a *[16]byte, v6 bool) int { return int(refHash32(refFold(a, v6), 10)) }

func (r *refLoc) get(b int, a [16]byte) *refEntry {
	for _, e := range r.buckets[b] {
		if e.addr == a {
			return e
		}
	}
	return nil
}

func (r *refLoc) del(b int, e *refEntry) {
	for i, x := range r.buckets[b] {
		if x == e {
			r.buckets[b] = append(r.buckets[b][:i:i], r.buckets[b][i+1:]...)
			return
		}
	}
}

func (r *refLoc) add(b int, e *refEntry) {
	r.buckets[b] = append([]*refEntry{e}, r.buckets[b]...)
	r.entries++
}

func (r *refLoc) isOverloaded(d *Dest) bool {
	if d.ActiveConns() > weight(d) {
		for _, x := range r.list {
			if x.ActiveConns()*2 < weight(x) {
				return true
			}
		}
	}
	return false
}

func (r *refLoc) tick(now int64) {
	if r.counter%30 == 0 {
		j := r.rover
		for i := 0; i < 1024; i++ {
			j = (j + 1) & 1023
			r.sweep(j, now, r.expire, nil)
		}
		r.rover = j
		r.counter = 1
		return
	}
	if r.entries <= 16384 {
		r.counter++
		return
	}
	goal := (r.entries - 16384) * 4 / 3
	if goal > 16384/2 {
		goal = 16384 / 2
	}
	j := r.rover
	for i := 0; i < 1024; i++ {
		j = (j + 1) & 1023
		r.sweep(j, now, int64(360e9), &goal)
		if goal <= 0 {
			break
		}
	}
	r.rover = j
}

func (r *refLoc) sweep(b int, now, age int64, goal *int) {
	var keep []*refEntry
	for _, e := range r.buckets[b] {
		if now < e.lastuse+age {
			keep = append(keep, e)
			continue
		}
		r.entries--
		if goal != nil {
			*goal--
		}
	}
	r.buckets[b] = keep
}

func (r *refLoc) pick(f *Flow, now int64) *Dest {
	for r.nextTick <= now {
		r.tick(r.nextTick)
		r.nextTick += int64(60e9)
	}
	b := r.hash(&f.Dst, f.Family == 6)
	if r.set {
		return r.pickSet(b, f, now)
	}
	if en := r.get(b, f.Dst); en != nil {
		en.lastuse = now
		d := en.dest
		if r.avail[d] && weight(d) > 0 && !r.isOverloaded(d) {
			return d
		}
	}
	d := refWLC(r.list)
	if d == nil {
		return nil
	}
	if en := r.get(b, f.Dst); en != nil {
		if en.dest == d {
			return d
		}
		r.del(b, en) // no entries-- here: the kernel's count drifts
	}
	r.add(b, &refEntry{addr: f.Dst, dest: d, lastuse: now})
	return d
}

func (r *refLoc) setMin(e *refEntry) *Dest {
	i := 0
	var least *Dest
	var loh int32
	for ; i < len(e.set); i++ {
		d := e.set[i]
		if overloaded(d) {
			continue
		}
		if weight(d) > 0 && r.avail[d] {
			least, loh = d, refOverhead(d)
			break
		}
	}
	if least == nil {
		return nil
	}
	for i++; i < len(e.set); i++ {
		d := e.set[i]
		if overloaded(d) {
			continue
		}
		doh := refOverhead(d)
		if int64(loh)*int64(weight(d)) > int64(doh)*int64(weight(least)) && r.avail[d] {
			least, loh = d, doh
		}
	}
	return least
}

func (r *refLoc) setMax(e *refEntry) *Dest {
	i := 0
	var most *Dest
	var moh int32
	for ; i < len(e.set); i++ {
		if d := e.set[i]; weight(d) > 0 {
			most, moh = d, refOverhead(d)
			break
		}
	}
	if most == nil {
		return nil
	}
	for i++; i < len(e.set); i++ {
		d := e.set[i]
		doh := refOverhead(d)
		if int64(moh)*int64(weight(d)) < int64(doh)*int64(weight(most)) && weight(d) > 0 {
			most, moh = d, doh
		}
	}
	return most
}

func (r *refLoc) setInsert(e *refEntry, d *Dest, check bool, now int64) {
	if check {
		for _, x := range e.set {
			if x == d {
				return
			}
		}
	}
	e.set = append([]*Dest{d}, e.set...)
	e.lastmod = now
}

func (r *refLoc) pickSet(b int, f *Flow, now int64) *Dest {
	if en := r.get(b, f.Dst); en != nil {
		en.lastuse = now
		d := r.setMin(en)
		if len(en.set) > 1 && now > en.lastmod+r.expire {
			if m := r.setMax(en); m != nil {
				for i, x := range en.set {
					if x == m {
						en.set = append(en.set[:i:i], en.set[i+1:]...)
						en.lastmod = now
						break
					}
				}
			}
		}
		if d != nil && !r.isOverloaded(d) {
			return d
		}
		d = refWLC(r.list)
		if d == nil {
			return nil
		}
		r.setInsert(en, d, true, now)
		return d
	}
	d := refWLC(r.list)
	if d == nil {
		return nil
	}
	en := &refEntry{addr: f.Dst, lastuse: now}
	r.setInsert(en, d, false, now)
	r.add(b, en)
	return d
}
