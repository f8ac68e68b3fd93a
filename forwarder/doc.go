// Package forwarder owns xvs's forwarding engine: the Engine that runs one
// worker per receive queue of a link.Backend, next-hop resolution from the
// kernel's routes and neighbours (NetlinkRouter, a Router), and per-queue
// statistics. It is also the library a Go program embeds to run xvs without
// the CLI. The backends that move the frames are link's subpackages (afxdp,
// afpacket, and linktest's in-memory one for tests and benchmarks; backends
// picks a real one by name); the engine knows them only through link.
//
// One packet's path through a worker:
//
//	Queue.Recv ─► encap.Parse ─► VLAN served? strip ─► encap.Check, TTL > 1
//	           ─► conntrack.Lookup ─┬─ hit ────────────────────────────────────┐
//	                                └─ miss: service lookup                    │
//	                                   ─► persistence template                 │
//	                                   ─► sched.Pick                           │
//	                                   ─► conntrack.Insert ────────────────────┤
//	        NAT: DNAT / reply SNAT │ DR: MAC │ TUN: push IPIP/IP6IP6 ◄─────────┘
//	                              ─► egress VLAN tag ─► Queue.Send (batched) ─► counters
//
// Garbage makes no state: a frame of a VLAN not served on its interface
// (see VLAN), one the kernel's receive path would drop (encap.Check: IPv4
// header checksum and options, UDP length, martian addresses), and one
// whose TTL or hop limit would expire here are dropped and counted, each
// with its own DropReason, before any connection is looked up or made.
//
// A director that is not the VRRP master for a service's VIP makes no new
// connection for it (Engine.SetStandby, standby.go): a packet that misses
// the table for a gated service is dropped as DropStandby, while the
// table's connections (synchronised from the master, or its own from
// before) keep forwarding. The gate is a flag per service in the snapshot.
//
// Workers read the configuration through an immutable snapshot that the
// control plane swaps atomically, and look connections up without a lock
// (a new connection locks only its shard of the table for the insert), so
// a configuration change never holds a packet up. The other locks are the
// backends', taken once per batch call rather than per packet: an AF_XDP
// socket's transmit side is shared by the workers of every served
// interface and guarded by its txMu (link/afxdp), so workers sending
// through one socket wait for each other; an AF_PACKET queue takes its own
// lock (uncontended while it runs) on every Recv, Release and Send, so
// Close cannot unmap a ring under its worker (link/afpacket). A next hop
// still being resolved also takes the router's lock, to ask the kernel at
// most once a second.
//
// Per packet the worker takes no locked instruction it can avoid: with a
// big table a batch's connections are looked up together before its
// packets (prefetch.go), a batch asks the router once per destination
// (hops.go), and the per-real-server counters are gathered in plain fields
// and stored once a batch (counters.go). What stays per packet is the
// connection's own accounting (conntrack.Table.Observe), shared with the
// worker that sees the other direction.
//
// Nothing is dropped silently: Engine.Drops lists every loss as a (queue,
// reason, count) record — the workers' DropReasons, the backend's own
// (link.Backend.Stats: for AF_XDP the sockets' kernel counters
// (XDP_STATISTICS), transmit losses and the steering program's per-queue
// verdicts; for AF_PACKET the rings' overruns and transmit losses) and the
// connection table's evictions — and Engine.Stats carries the same records
// in Stats.Drops for the metrics.
//
// A TCP packet without an entry opens one only if it is a SYN (not a RST),
// as in IPVS, unless Options.Sloppy (any service) or Options.ECMP (mh
// services: several active directors behind an ECMP router build the same
// Maglev table, so the director a flow is moved to picks its real server
// again; see adoptsMidFlow and Engine.MaglevTables, which lists the tables'
// digests).
//
// Connection sync (IPVS's sync protocol v1, package connsync's codec and
// sockets) runs in the workers too: with Options.Sync each worker hands
// the connections whose state changed to its own connsync writer, without
// a lock or an allocation (sync_master.go); Engine.InstallSync puts a
// backup's received entries in the table, Engine.DumpSync and SyncDumper
// write the whole table for a backup that joins late, and
// Engine.SyncStats counts both sides (sync.go).
//
// The same entries keep the table across a crash of the process: a
// Journal (journal*.go) is a per-worker writer, fed beside the sync
// writers by TeeSync, that appends them to MAP_SHARED segments under a
// state directory and compacts them by full dumps; RestoreJournal replays
// a killed daemon's journal through the backup installer before the
// workers run (restore.go).
package forwarder
