package conntrack

import (
	"sync/atomic"
	"unsafe"

	"github.com/xvs-project/xvs/flow"
)

// Conn is one entry of the table: a connection or a persistence template.
// It is 13 atomic words (104 bytes), pointer-free, and lives in a slab chunk,
// possibly outside the Go heap; the table reuses it after the entry is
// removed, and unmaps it when the Table is collected, so a *Conn must not be
// used once its Table is unreachable. A *Conn from Lookup or Insert is for
// the packet at hand: do not keep it past the current batch.
// (A removed entry is not reused for at least 50 ms, so a worker that raced
// with its removal reads stale but harmless values.) Only pass the table a
// *Conn it returned: a Conn made elsewhere has no slab around it.
type Conn struct {
	w [numWords]atomic.Uint64
}

// Word layout. Every word is read and written atomically: lookups run without
// locks while a shard's writer reuses entries, and the race detector holds us
// to that.
const (
	wSrc0, wSrc1 = 0, 1 // forward key source address (the client)
	wDst0, wDst1 = 2, 3 // forward key destination (the VIP, or template's)
	// wPorts: SrcPort<<48 | DstPort<<32 | Proto<<24 | reply source port<<8 |
	// meta. It is written last when an entry is (re)filled and its meta
	// sequence changes with every reuse, so a reader that sees the same
	// wPorts before and after reading the key read one entry's key.
	wPorts = 4
	// wRep0, wRep1: a NAT connection's reply source (the real server).
	// A template keeps its timeout in ticks in wRep0.
	wRep0, wRep1 = 5, 6
	// wCtl is the entry's mutable state, changed only by CAS so that state,
	// expiry and liveness move together:
	//   bits  0-31 expiry tick
	//   bits 32-39 state (connection)     | bits 32-55 controlled conns (template)
	//   bits 40-55 sync marks (connection; see install_mark.go)
	//   bit  56 live, 57 no output seen yet, 58 orphan (template out of the index)
	wCtl = 7
	// wSvc: service<<32 | dest. A free entry keeps its free time here.
	wSvc = 8
	// wGen: dest generation in the low half. The high half counts output
	// packets (connection); it is unused for a template.
	wGen = 9
	// wTmpl: the controlling template's reference in the low half (free
	// entries link the free list there); input packets in the high half.
	wTmpl = 10
	// wBytesIn: input bytes<<16 | the entry's offset in its chunk.
	wBytesIn = 11
	// wBytesOut: output bytes<<16.
	wBytesOut = 12
	numWords  = 13
)

// meta, the low byte of wPorts.
const (
	typeMask   = 0x03
	typeFree   = 0
	typeConn   = 1
	typeTmpl   = 2
	metaReply  = 0x04 // the connection has a reply key
	metaSeqOne = 0x08 // sequence in bits 3-7
)

// wCtl bits.
const (
	ctlExpMask   = 0xffffffff
	ctlLive      = 1 << 56
	ctlNoOutput  = 1 << 57
	ctlOrphan    = 1 << 58
	ctlCountMask = 0xffffff // template controlled-conn count, at bit 32
	maxControl   = ctlCountMask
)

func ctlState(ctl uint64) State   { return State(ctl >> 32) }
func ctlCount(ctl uint64) uint32  { return uint32(ctl>>32) & ctlCountMask }
func ctlExpiry(ctl uint64) uint32 { return uint32(ctl) }
func withExpiry(ctl uint64, e uint32) uint64 {
	return ctl&^ctlExpMask | uint64(e)
}

func connCtl(s State, exp uint32, bits uint64) uint64 {
	return ctlLive | bits | uint64(s)<<32 | uint64(exp)
}

func tmplCtl(n uint32, exp uint32, bits uint64) uint64 {
	return ctlLive | bits | uint64(n)<<32 | uint64(exp)
}

// set stores v in word i unless it is there already: an atomic store is a
// locked instruction, which waits for all the stores before it, and filling
// an entry is a dozen of them.
func (c *Conn) set(i int, v uint64) {
	if c.w[i].Load() != v {
		c.w[i].Store(v)
	}
}

// packPorts builds wPorts.
func packPorts(sport, dport uint16, proto uint8, rport uint16, meta uint8) uint64 {
	return uint64(sport)<<48 | uint64(dport)<<32 | uint64(proto)<<24 | uint64(rport)<<8 | uint64(meta)
}

// Chunks of the slab: 128 KB each, a 64-byte header and 1259 entries, so a
// 2 MB huge page holds 16 of them exactly. A chunk holds no Go pointer, so
// it can live outside the Go heap (see arena): the header names the table by
// registry number and the shard by index. A *Conn finds its chunk from the
// offset it keeps in wBytesIn (dividing by the constant chunkSize is a
// multiply).
const (
	chunkBytes  = 128 << 10
	chunkHeader = 64
	chunkSize   = (chunkBytes - chunkHeader) / (numWords * 8)
)

// A chunk fits its 128 KB (this fails to compile otherwise).
var _ [chunkBytes - unsafe.Sizeof(chunk{})]byte

type chunk struct {
	tab   uint32 // the table's registry number
	shard uint32 // the shard's index in the table
	base  uint32 // local number of ents[0]
	_     [chunkHeader - 12]byte
	ents  [chunkSize]Conn
}

func (c *Conn) chunk() *chunk {
	off := uintptr(c.w[wBytesIn].Load() & 0xffff)
	return (*chunk)(unsafe.Add(unsafe.Pointer(c), -int(unsafe.Offsetof(chunk{}.ents)+off*unsafe.Sizeof(Conn{}))))
}

// local is the entry's number within its shard.
func (c *Conn) local() uint32 {
	return c.chunk().base + uint32(c.w[wBytesIn].Load()&0xffff)
}

// Key returns the forward key: client -> VIP for a connection, the template
// key for a template.
func (c *Conn) Key() Key {
	for {
		p := c.w[wPorts].Load()
		var k Key
		k.Src = wordsAddr(c.w[wSrc0].Load(), c.w[wSrc1].Load())
		k.Dst = wordsAddr(c.w[wDst0].Load(), c.w[wDst1].Load())
		k.SrcPort, k.DstPort, k.Proto = uint16(p>>48), uint16(p>>32), uint8(p>>24)
		if p&typeMask == typeTmpl {
			k.Kind = KindTemplate
		}
		if c.w[wPorts].Load() == p {
			return k
		}
	}
}

// replyKey returns the NAT reply key, if the connection has one.
func (c *Conn) replyKey() (Key, bool) {
	p := c.w[wPorts].Load()
	if p&metaReply == 0 {
		return Key{}, false
	}
	return Key{Tuple: flow.Tuple{Src: wordsAddr(c.w[wRep0].Load(), c.w[wRep1].Load()), Dst: wordsAddr(c.w[wSrc0].Load(), c.w[wSrc1].Load()), SrcPort: uint16(p >> 8), DstPort: uint16(p >> 48), Proto: uint8(p >> 24)}, Kind: KindReply}, true
}

// Service returns the service ID given at insert.
func (c *Conn) Service() uint32 { return uint32(c.w[wSvc].Load() >> 32) }

// Dest returns the real server ID given at insert.
func (c *Conn) Dest() uint32 { return uint32(c.w[wSvc].Load()) }

// DestGen returns the real server generation given at insert.
func (c *Conn) DestGen() uint32 { return uint32(c.w[wGen].Load()) }

// State returns the connection's state; StateNone for a template.
func (c *Conn) State() State {
	if c.IsTemplate() {
		return StateNone
	}
	return ctlState(c.w[wCtl].Load())
}

// IsTemplate reports whether c is a persistence template.
func (c *Conn) IsTemplate() bool { return c.w[wPorts].Load()&typeMask == typeTmpl }

// Template returns the persistence template controlling c, or nil.
func (c *Conn) Template() *Conn {
	ref := uint32(c.w[wTmpl].Load())
	if ref == 0 || c.IsTemplate() {
		return nil
	}
	t := tableByID(c.chunk().tab)
	if t == nil {
		return nil
	}
	return t.entryByRef(ref)
}

// Reusable reports whether a new connection attempt (a SYN without ACK) on c
// should replace it: a TCP connection in TIME_WAIT or CLOSE is finished, so
// the forwarder expires it and schedules afresh, instead of the old IPVS
// behaviour of dropping the SYN and waiting for the client to retry.
// (The kernel's conn_reuse_mode also excludes connections controlled by a
// template; here the template outlives the connection and the new one binds
// to it again, so they are reusable too.)
func (c *Conn) Reusable() bool {
	p := c.w[wPorts].Load()
	if p&typeMask != typeConn || uint8(p>>24) != flow.TCP {
		return false
	}
	ctl := c.w[wCtl].Load()
	if ctl&ctlLive == 0 {
		return false
	}
	s := ctlState(ctl)
	return s == StateTimeWait || s == StateClose
}
