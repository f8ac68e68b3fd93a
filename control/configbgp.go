package control

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// BGP announcement in the YAML format
//
// A bgp: block at the top makes the director a BGP speaker that announces
// each healthy service's VIP (as a /32 or /128) to the routers in front of
// it, so several directors can share the VIPs behind an ECMP router:
//
//	bgp:
//	  asn: 65001              # the director's AS (required)
//	  router-id: 198.18.1.2   # an IPv4 address (required)
//	  next-hop: 198.18.1.2    # optional, one per family ([198.18.1.2, 2001:db8::2]);
//	                          # default: each session's local address
//	  listen-port: 179        # listen for passive neighbors' routers (default: never listen)
//	  communities: ["65000:100", "65000:200"]
//	  med: 10                 # optional MULTI_EXIT_DISC
//	  neighbors:
//	    - address: 198.18.1.1 # the router (required)
//	      asn: 65000          # its AS (required); equal to asn makes it iBGP
//	      hold-time: 3        # seconds, 3..65535 (default 90)
//	      passive: false      # wait for the router to connect (default false)
//	      port: 179           # the router's BGP port (default 179)
//
// A session over IPv4 has an IPv4 local address, which cannot be the next
// hop of a /128: give next-hop an IPv6 address for the IPv6 VIPs there.
// The announcer listens for connections only with listen-port, which a
// passive neighbor needs. Package announce has the session side.

// BGPConfig is the file's bgp: block.
type BGPConfig struct {
	// ASN is the director's autonomous system; RouterID its BGP identifier.
	ASN      uint32
	RouterID netip.Addr
	// NextHop4 and NextHop6 are the next hops announced for IPv4 and
	// IPv6 prefixes; the zero Addr means each session's local address.
	NextHop4, NextHop6 netip.Addr
	// ListenPort is where the announcer accepts sessions (passive
	// neighbors); 0 means it never listens.
	ListenPort uint16
	// Communities are attached to every announced prefix, each as RFC
	// 1997's AS<<16 | value.
	Communities []uint32
	// MED, if set, is the MULTI_EXIT_DISC of every announced prefix.
	MED *uint32
	// Neighbors are the routers the director peers with, in file order.
	Neighbors []BGPNeighbor
}

// BGPNeighbor is one router of the bgp: block.
type BGPNeighbor struct {
	Address netip.Addr
	ASN     uint32
	// HoldTime is the hold time offered in OPEN; keepalives go every
	// third of it. (RFC 4271's 0, no keepalives, is not offered: GoBGP
	// reads 0 as its default.)
	HoldTime time.Duration
	// Passive waits for the router to open the session.
	Passive bool
	// Port is the router's BGP port.
	Port uint16
}

// DefaultBGPHoldTime and DefaultBGPPort are a neighbor's defaults (RFC
// 4271's suggested hold time; the well-known port).
const (
	DefaultBGPHoldTime = 90 * time.Second
	DefaultBGPPort     = 179
)

// SameBGP reports whether two bgp: blocks say the same thing.
func SameBGP(a, b *BGPConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return SameBGPGlobal(a, b) && slices.Equal(a.Neighbors, b.Neighbors)
}

// SameBGPGlobal reports whether two bgp: blocks agree on everything but
// their neighbors: what a running announcer cannot change without a
// restart (the neighbors it can add and remove).
func SameBGPGlobal(a, b *BGPConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	medEq := (a.MED == nil) == (b.MED == nil) && (a.MED == nil || *a.MED == *b.MED)
	return a.ASN == b.ASN && a.RouterID == b.RouterID && a.NextHop4 == b.NextHop4 && a.NextHop6 == b.NextHop6 &&
		a.ListenPort == b.ListenPort &&
		slices.Equal(a.Communities, b.Communities) && medEq
}

// FormatCommunity writes an RFC 1997 community as "AS:VALUE".
func FormatCommunity(c uint32) string { return fmt.Sprintf("%d:%d", c>>16, c&0xffff) }

// bgpBlock reads the YAML file's bgp: block; nil without one.
func (p *parser) bgpBlock(root *yaml.Node) (*BGPConfig, error) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	n := lookupValue(doc, "bgp")
	if n == nil {
		return nil, nil
	}
	c := &BGPConfig{}
	var nbNode *yaml.Node
	err := p.fields(n, "bgp", map[string]func(*yaml.Node, string) error{
		"asn": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 1, 1<<32-1)
			c.ASN = uint32(x)
			return err
		},
		"router-id": func(v *yaml.Node, f string) error {
			a, err := p.addr(v, f)
			if err == nil && !a.Is4() {
				err = p.failf(v, f, "%s is not an IPv4 address (a BGP identifier is 4 bytes)", a)
			}
			c.RouterID = a
			return err
		},
		"next-hop": func(v *yaml.Node, f string) error {
			var words []string
			if err := p.strings(v, f, &words); err != nil {
				return err
			}
			for _, w := range words {
				a, err := netip.ParseAddr(strings.TrimSpace(w))
				switch {
				case err != nil:
					return p.failf(v, f, "%q is not an IP address", w)
				case a.IsUnspecified() || a.IsMulticast():
					return p.failf(v, f, "%s cannot be a next hop", a)
				}
				a = a.Unmap()
				slot := &c.NextHop4
				if a.Is6() {
					slot = &c.NextHop6
				}
				if slot.IsValid() {
					return p.failf(v, f, "two next hops of one family (%s, %s)", *slot, a)
				}
				*slot = a
			}
			return nil
		},
		"listen-port": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 1, 65535)
			c.ListenPort = uint16(x)
			return err
		},
		"communities": func(v *yaml.Node, f string) error {
			var words []string
			if err := p.strings(v, f, &words); err != nil {
				return err
			}
			for _, w := range words {
				cm, err := parseCommunity(w)
				if err != nil {
					return p.failf(v, f, "%v", err)
				}
				c.Communities = append(c.Communities, cm)
			}
			return nil
		},
		"med": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 0, 1<<32-1)
			m := uint32(x)
			c.MED = &m
			return err
		},
		"neighbors": func(v *yaml.Node, f string) error {
			nbNode = v
			if v.Kind != yaml.SequenceNode {
				return p.failf(v, f, "expected a list of neighbors")
			}
			for i, nn := range v.Content {
				nb, err := p.bgpNeighbor(nn, fmt.Sprintf("%s[%d]", f, i))
				if err != nil {
					return err
				}
				for _, o := range c.Neighbors {
					if o.Address == nb.Address {
						return p.failf(nn, fmt.Sprintf("%s[%d].address", f, i), "neighbor %s is listed twice", nb.Address)
					}
				}
				c.Neighbors = append(c.Neighbors, nb)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	switch {
	case c.ASN == 0:
		return nil, p.failf(n, "bgp.asn", "is required")
	case !c.RouterID.IsValid():
		return nil, p.failf(n, "bgp.router-id", "is required")
	case len(c.Neighbors) == 0:
		if nbNode == nil {
			nbNode = n
		}
		return nil, p.failf(nbNode, "bgp.neighbors", "lists no neighbor")
	}
	for i, nb := range c.Neighbors {
		if nb.Passive && c.ListenPort == 0 {
			return nil, p.failf(nbNode.Content[i], fmt.Sprintf("bgp.neighbors[%d].passive", i),
				"a passive neighbor connects to the director: set bgp.listen-port")
		}
	}
	return c, nil
}

func (p *parser) bgpNeighbor(n *yaml.Node, path string) (BGPNeighbor, error) {
	nb := BGPNeighbor{HoldTime: DefaultBGPHoldTime, Port: DefaultBGPPort}
	err := p.fields(n, path, map[string]func(*yaml.Node, string) error{
		"address": func(v *yaml.Node, f string) error {
			a, err := p.addr(v, f)
			if err == nil && (a.IsUnspecified() || a.IsMulticast()) {
				err = p.failf(v, f, "%s cannot be a neighbor", a)
			}
			nb.Address = a
			return err
		},
		"asn": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 1, 1<<32-1)
			nb.ASN = uint32(x)
			return err
		},
		"hold-time": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 3, 65535) // RFC 4271's minimum
			nb.HoldTime = time.Duration(x) * time.Second
			return err
		},
		"passive": func(v *yaml.Node, f string) error { return p.bool(v, f, &nb.Passive) },
		"port": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 1, 65535)
			nb.Port = uint16(x)
			return err
		},
	})
	if err != nil {
		return nb, err
	}
	if !nb.Address.IsValid() {
		return nb, p.failf(n, path+".address", "is required")
	}
	if nb.ASN == 0 {
		return nb, p.failf(n, path+".asn", "is required")
	}
	return nb, nil
}

// parseCommunity reads "AS:VALUE" (each 0..65535) or one 32-bit number.
func parseCommunity(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("community %q: want AS:VALUE", s)
		}
		return uint32(v), nil
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("community %q: want AS:VALUE, each 0..65535", s)
	}
	return uint32(a)<<16 | uint32(b), nil
}
