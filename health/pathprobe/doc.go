// Package pathprobe owns the path-true health probes of DR and TUN real
// servers: it makes a probe travel the way the director forwards packets,
// so a server that listens on RIP:port but lacks the VIP on lo (DR) or
// lacks decapsulation (TUN) fails its check, while the checker itself stays
// health's own TCP, HTTP or HTTPS probe, run by the kernel's TCP.
//
// # How a probe travels
//
// Open makes a probe network namespace owned by the daemon, with a macvlan
// (bridge mode) on the served interface carrying the operator's probe
// address(es) and copies of the interface's routes. The director's own
// namespace holds the VIP (it answers ARP for it), so a probe from there to
// VIP:port would be delivered locally; the probe namespace does not hold it.
// Route gives a checker's health.Net
//
//   - Enter: the probe namespace, so its socket is made there;
//   - Source: the probe address of the VIP's family, which the real server
//     answers directly (on-link, or through its gateway);
//   - Via: VIP:port, the address forwarded packets carry;
//   - Mark: a firewall mark per path (real server address, method, tunnel),
//     which an `ip rule fwmark M lookup T` in the probe namespace sends to
//     the path's own table T.
//
// Table T holds, for every VIP the path serves:
//
//	DR:   VIP via RIP dev xvsprobe onlink   the kernel ARPs for RIP and sends
//	                                        the SYN to VIP:port at RIP's MAC
//	TUN:  VIP via NH dev xvstun onlink      NH the path's own link-local next
//	                                        hop (169.254.h.l, fe80::7876:0:0:hhll)
//	                                        with a permanent neighbour entry
//	                                        NH → 02:78:76:00:hh:ll on xvstun
//
// The kernel has no ipip, gre or fou driver here, so the encapsulating hop
// is ours: xvstun is a TAP device whose frames one goroutine reads; the
// destination MAC names the path, whose tunnel (IPIP / IPv6-in-IPv6, GUE
// with its port and checksum option, GRE) package encap's PushTunnel adds
// exactly as the forwarder does, from the probe address to RIP, and a raw IP
// socket in the probe namespace sends the result out of the macvlan (through
// a gateway if RIP is routed). The real server decapsulates and answers the
// probe address directly, as it answers clients.
//
//	probe ns                                    wire            real server
//	socket (mark M) ─ rule M → table T
//	  DR:  VIP via RIP dev xvsprobe ──────────────────────────► RIP's MAC, dst VIP
//	  TUN: VIP via NH dev xvstun → reader → encap → raw ───────► outer dst RIP
//	xvsprobe (probe address) ◄──────────────── reply from VIP:port
//
// # Life
//
// The namespace is anonymous: it lives as long as the Prober's file
// descriptor (opened close-on-exec), so a daemon that dies, even by
// SIGKILL, leaves nothing behind — no stale namespace whose macvlan would
// keep answering ARP for the probe address. Close deletes the devices at
// once and releases the namespace; Open cleans up after itself when it
// fails. Nothing is ever created in the served interface's namespace: the
// macvlan is made directly inside the probe namespace.
//
// Sync replaces the set of routed probes on a reload: paths that stay keep
// their mark, table and MAC (a kept checker's Net stays valid), routes,
// rules and neighbours of gone ones are removed.
//
// Frames are few (a handful per probe); the reader reuses one buffer,
// looks paths up through an immutable snapshot without a lock, and counts
// what it drops instead of logging it.
package pathprobe
