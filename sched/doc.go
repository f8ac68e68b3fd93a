// Package sched owns connection scheduling for xvs: the Scheduler interface,
// every IPVS algorithm (rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos),
// per-server weights, upper/lower connection thresholds with the kernel's
// overload flag, and the sh/mh flags (sh-fallback, sh-port, mh-fallback,
// mh-port). It is the registry of scheduler names and of the flags each takes
// (Names, Known, FlagsFor, ParseFlags, ParseIPVSFlag): service validation,
// the ipvsadm parser and the forwarder ask it rather than keep lists. It
// never touches packets or the connection table: callers hand it a Flow and
// get a *Dest, and report connection changes on the Dest.
//
// # Same choices as the kernel
//
// For the same list of servers (in the kernel's list order: ip_vs_ctl adds new
// servers at the head), the same weights, thresholds and connection counts, and
// the same hash inputs, each scheduler returns the server that
// net/netfilter/ipvs/ip_vs_<name>.c returns, including the kernel's integer
// types (32-bit overheads, s64 cross products in wlc/sed/nq/lblc, int
// arithmetic in twos), tie-breaking (first in list order), and the effect of
// edits (Update plays the role of add_dest/del_dest/upd_dest). The tests hold
// reference ports of the kernel code and compare choices over random event
// sequences.
//
// Where the structure differs from the kernel but the choice does not:
//
//   - lc, wlc, sed, nq, fo, ovf (and the least-connection step of lblc/lblcr)
//     keep a tournament tree over the server list instead of scanning it on
//     every new connection. Each Dest reports counter, weight and overload
//     changes to the tree, which refreshes the O(log n) nodes above it
//     lock-free (versioned compare-and-swap with Jayanti's double refresh);
//     Pick reads the root. Ties go to the lower list position, which is exactly
//     the kernel's "first found, replaced only when strictly better" scan. The
//     cost moves from Pick (O(1)) to AddConn/RemoveConn/SetActive (O(log n)).
//   - wrr lays out the cycle of (pass, server) pairs the kernel's mark walks
//     through — sum(weight)/gcd slots — and Pick advances an atomic cursor,
//     skipping servers unavailable right now as the kernel skips them within a
//     pass. Its restart after an edit (cw carried over, list head) and its
//     state after finding nothing are the kernel's. A cycle longer than 65536
//     slots falls back to the kernel's walk under a short mutex.
//   - rr advances its cursor with compare-and-swap; a removed server moves the
//     cursor back to its surviving predecessor as ip_vs_rr_del_dest does.
//   - twos keeps a Fenwick tree of effective weights (weight when available,
//     else 0) so that the kernel's "subtract weights until r <= 0" walk becomes
//     an O(log n) descent. Randomness comes from math/rand/v2 (per-thread
//     ChaCha8, no lock, no allocation).
//   - sh, dh, mh build their tables in Update and publish them with
//     atomic.Pointer. mh hashes with the kernel's hsiphash (SipHash-1-3 on
//     64-bit little-endian machines) and keys, so a table of the same size
//     built from the same list holds the same servers in the same slots as
//     the kernel's. When no server in the table is available, the
//     mh-fallback walk (up to M rehashes) is skipped since it can only fail.
//   - lblc and lblcr keep the kernel's 1024-chain table in preallocated arrays
//     (so Pick does not allocate) behind 64 shard mutexes, and replay the
//     kernel's 60-second garbage-collection timer lazily: a Pick first runs the
//     ticks that fell due, so entries expire when the kernel's would have.
//     Entries naming a server that left stay (unavailable) until replaced or
//     collected, like the kernel's trash. A full table stops caching, like a
//     failed kmalloc.
//
// Deliberate differences: mh builds from its servers sorted by address and
// port, not in list order, so that directors given the same servers in any
// order build the same table (the kernel's equals xvs's when its list is in
// that order); MaglevTable reports a digest of it. twos sums and walks
// weights in 64 bits, drawing 64 random bits when the sum exceeds 2^32,
// where the kernel's int arithmetic has overflowed (sums above 2^31-1); a
// Dest belongs to one Scheduler at a time (the last that installed it).
//
// # Concurrency
//
// Pick is safe for many goroutines and does not allocate. Update builds new
// state off the packet path and swaps it in atomically; concurrent Picks see
// the old or the new state. Under concurrent Picks the rr/wrr sequence is the
// kernel's up to interleaving; the least-connection trees are exact whenever no
// change is in flight.
package sched
