// Package vrrp owns the Virtual Router Redundancy Protocol a pair of xvs
// directors elects its active one with, interoperable with keepalived:
// version 3 (RFC 5798, RFC 9568) for IPv4 and IPv6 and version 2 (RFC 3768)
// for IPv4.
//
// Two pure halves — the advertisement codec (Marshal, Parse) and the
// per-instance state machine (Machine), which takes events with the time
// they happened and answers with actions (send an advertisement, take or
// drop the virtual addresses), so that timing is tested without sleeping —
// and one that touches the system: Speaker runs an instance on its raw
// socket (multicast or unicast peers), adds and removes its addresses over
// netlink, announces them (gratuitous ARP, unsolicited neighbour
// advertisements) and runs its notify scripts (Scripts).
//
// A split brain (both routers master while the link between them was
// down) ends at the first advert either hears: the lower priority yields,
// and advertises once more as it does, so that the master hears a lower
// priority and announces its addresses again even when the yielding router
// heard it first (a race keepalived leaves open, and the hosts would keep
// pointing at a router that no longer forwards new connections); the
// daemon also asks the master to announce (Speaker.Announce) when a
// director that just became backup requests a sync dump.
package vrrp
