// Package announce is xvs's BGP speaker: an Announcer embeds GoBGP as a
// library (it opens the sessions, and listens only on the block's
// listen-port, for passive neighbors), peers with the routers of the file's bgp:
// block and announces each healthy service's VIP as a /32 or /128 with
// next hop self, so a router can spread the VIPs' traffic over several
// directors by ECMP. Wanted is the decision of which VIPs are healthy, a
// pure function of the installed services and their health checks.
//
// GoBGP and its dependencies stay behind this package: the control plane
// sees control.BGPConfig and control.BGPStatus only, and nothing on the
// packet path imports it.
package announce
