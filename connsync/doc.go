// Package connsync owns IPVS connection synchronisation: the datagrams a
// master director multicasts so that a backup knows the connections it will
// have to carry on after a failover, in the kernel's own wire format
// (net/netfilter/ipvs/ip_vs_sync.c), so xvs can pair with a kernel IPVS
// director or with another xvs.
//
// The codec: version 1 messages (an 8-byte header whose
// first byte is zero, then connection entries of 36 bytes for IPv4 or 72 for
// IPv6 plus options, each entry starting on a 4-byte boundary) are written
// and read; version 0 messages (IPv4 only, 24-byte entries, no timeout) are
// read, since a kernel with net.ipv4.vs.sync_version=0 still sends them.
//
// Decoding follows the kernel's receiver in what it refuses: a defect in the
// framing (a size that is not the datagram's length, an entry running past
// the end, an option of length zero or repeated) drops the whole datagram,
// as the kernel does, while an entry the kernel would skip alone (an
// unknown mandatory option, a protocol or state it has no table for) is
// skipped and counted. Decode never allocates: entries are handed to a
// callback one at a time in a reused Conn whose PE fields alias the input.
//
// Around it: Policy, the kernel's rule for when a master sends a
// connection (sync_threshold, sync_period, refresh and retries), and the
// daemons' sockets as the kernel opens them: Master with one Writer per
// forwarding worker, so the packet path takes no lock, and Backup; their
// counts (Stats). Beyond the kernel: a backup that starts asks the masters
// for their whole tables with an empty version 1 message (Request,
// RequestDump), which every kernel receiver takes as a message of no
// connections, and a master hears it (ServeRequests) and answers with a
// dump in ordinary messages (request.go says why this shape). A master can
// also take another master's messages of its sync ID (Serve), which is how
// a split brain heals without losing connections: the director that
// yields sends its table in a last dump before its master stops, and the
// one that stays master installs it.
//
// Beyond the kernel too: unicast peers in place of the multicast group
// (DaemonConfig.Peers, unicast_linux.go), for networks that carry no
// multicast; the datagrams are the same.
package connsync
