package forwarder

import "github.com/xvs-project/xvs/link"

// A batch's next hops: a batch mostly goes to a few real servers, and the
// router's Route walks its routes and hashes a neighbour key for every
// packet (NetlinkRouter), while the hop toward a destination does not change
// within a batch any more than the snapshot does. So the pipeline asks the
// router once per batch and destination and keeps the answer in a few
// slots until the batch ends. Only resolved hops are kept: an unresolved
// one is asked for again by each packet, as before, which is what starts
// and watches its resolution.

// hopSlots is how many destinations a batch keeps next hops for.
const hopSlots = 4

// hopCache is the batch's next hops by destination.
type hopCache struct {
	on   bool // between the batch's start and end; off, every call routes
	n    int  // slots in use
	next int  // the slot the next new destination takes once all are used
	dst  [hopSlots][16]byte
	hop  [hopSlots]*link.Hop
}

// route returns the router's next hop toward dst, once per batch and
// resolved destination.
func (p *pipeline) route(dst *[16]byte) *link.Hop {
	c := &p.hops
	if !c.on {
		return p.router.Route(dst)
	}
	for i := range c.dst[:c.n] {
		if c.dst[i] == *dst {
			return c.hop[i]
		}
	}
	h := p.router.Route(dst)
	if h == nil || h.DstMAC == zeroMAC {
		return h
	}
	i := c.n
	if i < hopSlots {
		c.n++
	} else {
		i = c.next
		c.next = (c.next + 1) % hopSlots
	}
	c.dst[i], c.hop[i] = *dst, h
	return h
}

// beginBatch starts keeping next hops; endBatch forgets them.
func (c *hopCache) beginBatch() { c.on = true }

func (c *hopCache) endBatch() {
	clear(c.hop[:c.n])
	c.on, c.n, c.next = false, 0, 0
}
