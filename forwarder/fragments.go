package forwarder

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/service"
)

// Fragments without reassembly.
//
// IPVS sees whole datagrams because netfilter reassembles before it; xvs
// forwards every fragment on its own (no reassembly buffers, no added
// latency for in-order fragments) and gives the fragments of one datagram
// what their first fragment got:
//
//   - The first fragment carries the ports. It is promoted to a TCP/UDP
//     packet (encap.ParseFragment) and goes through the normal path: lookup,
//     scheduling, NAT with the transport-checksum update (the checksum
//     covers the whole datagram, so the incremental update stays exact), DR,
//     TUN. The worker then remembers (src, dst, proto, ID) → real server,
//     direction and rewritten address in a small per-worker table.
//   - A later fragment finds that entry and gets the same treatment without
//     a transport header: the address rewrite (plus the IPv4 header checksum)
//     for NAT in both directions, the MACs for DR, an outer header for TUN.
//   - A later fragment that arrives before its first fragment is copied
//     into one of fragHoldSlots preallocated slots and released as soon as
//     the first fragment has made its entry; after fragHoldTime it is dropped
//     and counted as DropFragWait.
//
// Everything is per worker: no locks, no allocation per packet (the table
// and the slots are allocated once, on the first fragment a worker sees).
// That is correct only if every fragment of a datagram reaches the same
// worker, and it does: NIC RSS hashes fragments on addresses only (the L4
// hash types exclude fragmented packets, first fragments included), and the
// kernel's flow dissector, which AF_PACKET's PACKET_FANOUT_HASH uses, stops
// at an IPv4 or IPv6 fragment (without FLOW_DISSECTOR_F_PARSE_1ST_FRAG, also
// at the first one), so the hash covers addresses and protocol (and an IPv6
// flow label, which a sender keeps per flow). xvs never sets
// PACKET_FANOUT_FLAG_DEFRAG: it would make the kernel reassemble, and a
// reassembled datagram larger than the MTU could not be sent on as it is.
// The connection table is shared by all workers, so a first fragment whose
// flow's whole packets land on another worker still finds its connection.
//
// Times. A datagram's fragments leave the sender back to back; reordering
// between them happens within a path, in microseconds to a few
// milliseconds. fragHoldTime (250 ms) covers that with two orders of
// magnitude to spare and is still shorter than the 200 ms-1 s after which
// TCP (RTO) or a UDP application retries with a new datagram, so holding
// longer would only pin slots for datagrams already given up; a short hold
// also limits what a flood of orphan fragments can occupy. An entry lives
// fragLife (1 s) after its first fragment, or until its fragments add up to
// the whole datagram, whichever comes first. The kernel's reassembly waits
// 30 s (ipfrag_time), but it keeps the fragments; an entry only steers them.
const (
	fragTableSize = 1024 // entries per worker; a power of two
	fragProbes    = 8    // slots looked at per lookup or insert
	fragHoldSlots = 64   // out-of-order fragments held per worker
	fragHoldMax   = 2048 // the longest frame that can be held

	fragLife      = int64(time.Second)
	fragHoldTime  = int64(250 * time.Millisecond)
	fragSweepTime = int64(10 * time.Millisecond) // how often held slots are checked for expiry
)

// fragHeadroom is in front of a held frame, as a backend leaves it in front
// of a received one, for a tunnel header and a VLAN tag.
const fragHeadroom = link.MinHeadroom

// verdictHeld is the verdict of a fragment copied into a hold slot: the
// worker does nothing more with the frame it received.
const verdictHeld = verdictDrop

// fragKey names a datagram: comparable, pointer-free.
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
}

// fragEntry is what a datagram's first fragment got.
type fragEntry struct {
	key     fragKey
	expires int64 // clock value; 0 or in the past: free
	real    uint32
	gen     uint32
	addr    [16]byte // reply: the source (VIP) the fragments get
	reply   bool     // a NAT reply (real server → client)
	dropped bool     // the first fragment was dropped: so are the others
	got     int      // payload bytes seen
	total   int      // the datagram's payload length, once its last fragment was seen
}

// heldFrag is an out-of-order fragment waiting for its first fragment.
type heldFrag struct {
	buf      [fragHeadroom + fragHoldMax]byte
	n        int
	ifindex  int
	key      fragKey
	deadline int64
	used     bool
	done     bool // released or expired in this sweep; freed after Send
}

// fragState is one worker's fragment tracking.
type fragState struct {
	clock     func() int64 // monotonic ns; nil: the real clock
	seed      uint64
	table     []fragEntry // fragTableSize
	held      []heldFrag  // fragHoldSlots
	nHeld     int
	release   bool  // a first fragment made an entry while fragments were held
	releasing bool  // held fragments are being processed: do not hold again
	nextSweep int64 // clock value of the next expiry check
	out       []link.Frame
	fr        encap.Frag
}

// fragEpoch anchors the default clock.
var fragEpoch = time.Now()

func (fs *fragState) now() int64 {
	if fs.clock != nil {
		return fs.clock()
	}
	return int64(time.Since(fragEpoch))
}

// init allocates the table and the slots: once, on the first fragment.
func (fs *fragState) init() {
	fs.table = make([]fragEntry, fragTableSize)
	fs.held = make([]heldFrag, fragHoldSlots)
	fs.out = make([]link.Frame, 0, fragHoldSlots)
	fs.seed = rand.Uint64() | 1 // keyed, so a sender cannot aim at one bucket
}

func (fs *fragState) bucket(k *fragKey) int {
	h := fs.seed ^ uint64(k.id)<<8 ^ uint64(k.proto)
	for _, w := range [4]uint64{
		binary.LittleEndian.Uint64(k.src[:8]), binary.LittleEndian.Uint64(k.src[8:]),
		binary.LittleEndian.Uint64(k.dst[:8]), binary.LittleEndian.Uint64(k.dst[8:]),
	} {
		h = (h ^ w) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	}
	return int(h & (fragTableSize - 1))
}

// lookup returns the live entry of datagram k, or nil.
func (fs *fragState) lookup(k *fragKey, now int64) *fragEntry {
	b := fs.bucket(k)
	for i := 0; i < fragProbes; i++ {
		e := &fs.table[(b+i)&(fragTableSize-1)]
		if e.expires > now && e.key == *k {
			return e
		}
	}
	return nil
}

// learn makes (or renews) the entry of datagram k. When every probed slot
// is live, the one closest to expiry is replaced: the table never refuses a
// first fragment, it forgets the oldest datagram.
func (fs *fragState) learn(k *fragKey, now int64) *fragEntry {
	b := fs.bucket(k)
	var victim *fragEntry
	for i := 0; i < fragProbes; i++ {
		e := &fs.table[(b+i)&(fragTableSize-1)]
		if e.expires > now && e.key == *k {
			victim = e
			break
		}
		if victim == nil || e.expires < victim.expires {
			victim = e
		}
	}
	*victim = fragEntry{key: *k, expires: now + fragLife}
	if fs.nHeld > 0 {
		fs.release = true
	}
	return victim
}

// account adds a fragment's bytes to its entry and frees the entry once the
// whole datagram has gone through.
func (fs *fragState) account(e *fragEntry) {
	fr := &fs.fr
	e.got += fr.Len
	if !fr.More {
		e.total = fr.Offset + fr.Len
	}
	if e.total > 0 && e.got >= e.total {
		e.expires = 0
	}
}

// fragment handles a KindFragment packet.
func (p *pipeline) fragment(f *link.Frame) verdict {
	fs := &p.frag
	if fs.table == nil {
		fs.init()
	}
	pkt := &p.pkt
	fr := &fs.fr
	cls := encap.ParseFragment(pkt, fr)
	if cls == encap.FragBad {
		return p.drop(DropMalformed)
	}
	k := fragKey{src: pkt.Src, dst: pkt.Dst, id: fr.ID, proto: fr.Proto}
	now := fs.now()
	switch cls {
	case encap.FragFirst:
		p.last, p.lastReply = nil, false
		v := p.transport(f)
		e := fs.learn(&k, now)
		if r := p.last; r != nil && v != verdictDrop {
			e.real, e.gen, e.reply = r.id, r.gen, p.lastReply
			if e.reply {
				e.addr = pkt.Src // what SNAT wrote: the VIP
			}
		} else {
			e.dropped = true
		}
		fs.account(e)
		return v
	case encap.FragLater:
		if e := fs.lookup(&k, now); e != nil {
			fs.account(e)
			return p.laterFragment(f, e)
		}
		if !fragServed(pkt.Family, fr.Proto) {
			return p.drop(DropNotOurs)
		}
		if fs.releasing {
			// Released, but its entry is gone again (replaced or
			// complete): it cannot be matched any more.
			return p.drop(DropFragWait)
		}
		return p.hold(f, &k, now)
	case encap.FragShortFirst:
		fs.learn(&k, now).dropped = true
		return p.drop(DropFragment)
	}
	// FragOtherFirst: not a TCP/UDP datagram.
	return p.drop(DropNotOurs)
}

// fragServed reports whether a later fragment may belong to a datagram xvs
// serves: TCP or UDP, or for IPv6 an extension header that can precede them.
func fragServed(family, proto uint8) bool {
	switch proto {
	case 6, 17:
		return true
	case 0, 43, 60: // hop-by-hop, routing, destination options
		return family == 6
	}
	return false
}

// laterFragment forwards a fragment without a transport header as its
// datagram's first fragment was.
func (p *pipeline) laterFragment(f *link.Frame, e *fragEntry) verdict {
	if e.dropped {
		return p.drop(DropFragFirst)
	}
	r := p.snap.real(e.real, e.gen)
	if r == nil {
		return p.drop(DropNoService)
	}
	pkt := &p.pkt
	rc := p.stats.realStats(r.id)
	if e.reply {
		rc.outPkts.add(1)
		rc.outBytes.add(uint64(pkt.IPLen))
		hop := p.nextHop(&pkt.Dst)
		if hop == nil {
			return verdictDrop
		}
		encap.FragmentSetSrc(pkt, e.addr)
		return p.emit(f, hop, &pkt.Dst)
	}
	rc.inPkts.add(1)
	rc.inBytes.add(uint64(pkt.IPLen))
	hop := p.nextHop(&r.addr)
	if hop == nil {
		return verdictDrop
	}
	switch r.method {
	case service.MethodNAT:
		encap.FragmentSetDst(pkt, r.addr)
	case service.MethodTUN:
		return p.tunnel(f, r, hop)
	}
	return p.emit(f, hop, &r.addr)
}

// hold copies an out-of-order fragment into a free slot.
func (p *pipeline) hold(f *link.Frame, k *fragKey, now int64) verdict {
	fs := &p.frag
	if f.Len > fragHoldMax {
		return p.drop(DropFragFull)
	}
	if fs.nHeld == len(fs.held) {
		return p.drop(DropFragFull)
	}
	for i := range fs.held {
		h := &fs.held[i]
		if h.used {
			continue
		}
		h.n = copy(h.buf[fragHeadroom:], f.Data())
		h.ifindex = f.Ifindex
		h.key = *k
		h.deadline = now + fragHoldTime
		h.used, h.done = true, false
		fs.nHeld++
		return verdictHeld
	}
	return p.drop(DropFragFull) // unreachable while nHeld is right
}

// fragments releases the held fragments whose first fragment has arrived
// and drops those that waited too long. The worker calls it after each poll
// while fragments are held; it does not allocate.
func (w *worker) fragments() {
	fs := &w.p.frag
	now := fs.now()
	if !fs.release && now < fs.nextSweep {
		return
	}
	fs.release = false
	fs.nextSweep = now + fragSweepTime
	w.p.snap = w.snap.Load()
	st := w.p.stats
	out := fs.out[:0]
	fs.releasing = true
	for i := range fs.held {
		h := &fs.held[i]
		if !h.used {
			continue
		}
		if fs.lookup(&h.key, now) == nil {
			if now >= h.deadline {
				st.drops[DropFragWait].add(1)
				h.done = true
			}
			continue
		}
		h.done = true
		fr := link.Frame{Buf: h.buf[:], Off: fragHeadroom, Len: h.n, Ifindex: h.ifindex}
		switch w.p.process(&fr) {
		case verdictForward:
			out = append(out, fr)
		case verdictReply:
			w.reply[0] = link.Frame{Buf: w.p.answer[:], Len: w.p.answerLen, Ifindex: w.p.answerIf}
			w.q.Send(w.reply[:])
		case verdictPark:
			w.park(&fr)
		case verdictFragments:
			w.q.Send(w.p.fragFrame[:w.p.nFrags])
			st.tx.add(uint64(w.p.nFrags))
		}
	}
	fs.releasing = false
	if len(out) > 0 {
		w.q.Send(out)
		st.tx.add(uint64(len(out)))
	}
	fs.out = out[:0]
	// Free only after Send: out pointed into the slots.
	for i := range fs.held {
		if h := &fs.held[i]; h.used && h.done {
			h.used, h.done = false, false
			fs.nHeld--
		}
	}
}
