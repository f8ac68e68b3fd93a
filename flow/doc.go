// Package flow owns the vocabulary every layer of xvs shares about a packet's
// flow: the 5-tuple (Tuple), the 16-byte address form all layers use (IPv4
// stored v4-mapped, ::ffff:a.b.c.d) with its netip conversions, the IP
// protocol numbers and the TCP flag bits.
//
// It exists so that each of these facts has one home. encap parses frames
// into a Tuple, conntrack keys its table by one, sched hashes one, and the
// forwarder hands the same value from one to the next instead of copying it
// field by field. (The idea is tailscale's types/ipproto and
// net/flowtrack.Tuple; the code is ours.)
//
// flow is a leaf: it imports only the standard library, so every other
// package may import it.
package flow
