package conntrack

import "math/bits"

// probe is what an entry must hold to match a key.
type probe struct {
	a0, a1 uint64 // client address (entry words wSrc0, wSrc1)
	b0, b1 uint64 // VIP (wDst0, wDst1) or, for a reply key, real server (wRep0, wRep1)
	ports  uint64 // wPorts bits under mask
	mask   uint64
	reply  uint32 // slot reply bit
}

const (
	fwdMask   = 0xffff<<48 | 0xffff<<32 | 0xff<<24 | typeMask
	replyMask = 0xffff<<48 | 0xff<<24 | 0xffff<<8 | typeMask | metaReply
)

// probeOf builds the probe and hashes of k; ok is false for an unknown Kind.
func (t *Table) probeOf(k *Key, p *probe) (hc, h uint64, ok bool) {
	s0, s1 := addrWords(&k.Src)
	d0, d1 := addrWords(&k.Dst)
	switch k.Kind {
	case KindConn, KindTemplate:
		typ := uint64(typeConn)
		if k.Kind == KindTemplate {
			typ = typeTmpl
		}
		*p = probe{a0: s0, a1: s1, b0: d0, b1: d1, mask: fwdMask,
			ports: uint64(k.SrcPort)<<48 | uint64(k.DstPort)<<32 | uint64(k.Proto)<<24 | typ}
		hc = t.seed.client(s0, s1, k.SrcPort)
		return hc, t.seed.full(hc, d0, d1, k.DstPort, k.Proto, k.Kind), true
	case KindReply:
		*p = probe{a0: d0, a1: d1, b0: s0, b1: s1, mask: replyMask, reply: 1,
			ports: uint64(k.DstPort)<<48 | uint64(k.Proto)<<24 | uint64(k.SrcPort)<<8 | typeConn | metaReply}
		hc = t.seed.client(d0, d1, k.DstPort)
		return hc, t.seed.full(hc, s0, s1, k.SrcPort, k.Proto, KindReply), true
	}
	return 0, 0, false
}

// match compares entry c with p and returns its control word, read while
// c's key was seen unchanged. ok is false on a mismatch or a dead entry.
func (p *probe) match(c *Conn) (ctl uint64, ok bool) {
	w := c.w[wPorts].Load()
	if w&p.mask != p.ports || c.w[wSrc0].Load() != p.a0 || c.w[wSrc1].Load() != p.a1 {
		return 0, false
	}
	if p.reply == 0 {
		if c.w[wDst0].Load() != p.b0 || c.w[wDst1].Load() != p.b1 {
			return 0, false
		}
	} else if c.w[wRep0].Load() != p.b0 || c.w[wRep1].Load() != p.b1 {
		return 0, false
	}
	ctl = c.w[wCtl].Load()
	if ctl&ctlLive == 0 || c.w[wPorts].Load() != w {
		return 0, false
	}
	return ctl, true
}

// find probes the shard's index for p. It takes no lock.
func (sh *shard) find(pr *probe, h uint64) (*Conn, uint64) {
	ix := sh.ix.Load()
	cs := *sh.chunks.Load() // after ix: at least as new as any slot in it
	tag := tagOf(h)
	want := slotHash(h) | pr.reply
	b := ix.home(h)
	for n := uint64(0); n < ix.nb; n++ {
		bk := &ix.b[b]
		c0, c1 := bk.ctrl[0].Load(), bk.ctrl[1].Load()
		// Matches of slots 0-7 at bits 8i, of slots 8-11 at bits 8i+4.
		m := matchTag(c0, tag)>>7 | matchTag(c1, tag)>>3
		for ; m != 0; m &= m - 1 {
			bit := uint(bits.TrailingZeros64(m))
			v := bk.slot[bit>>3+(bit&4)<<1].Load()
			if v&slotCheck != want {
				continue
			}
			local := slotLocal(v)
			ci := int(local / chunkSize)
			if ci >= len(cs) {
				continue
			}
			c := &cs[ci].ents[local%chunkSize]
			if ctl, ok := pr.match(c); ok {
				return c, ctl
			}
		}
		if zeroBytes(c0)|zeroBytes(c1) != 0 {
			return nil, 0
		}
		if b++; b == ix.nb {
			b = 0
		}
	}
	return nil, 0
}

// Lookup finds the entry for k: a connection by its forward key (KindConn)
// or NAT reply key (KindReply), or a persistence template (KindTemplate).
// Expired entries that the reaper has not removed yet are not found. It
// takes no lock and does not allocate.
func (t *Table) Lookup(k *Key) *Conn {
	var p probe
	hc, h, ok := t.probeOf(k, &p)
	if !ok {
		return nil
	}
	c, ctl := t.shardOf(hc).find(&p, h)
	if c == nil {
		return nil
	}
	now := t.now()
	if k.Kind == KindTemplate {
		if !aliveTemplate(ctl, now) {
			return nil
		}
	} else if !alive(ctl, now) {
		return nil
	}
	return c
}
