// Package conntrack is xvs's connection table: the entries that map each
// flow to its real server, as IPVS's ip_vs_conn table does.
//
// It owns:
//   - lookups by forward key (client -> VIP), NAT reply key (real server ->
//     client) and persistence template key, lock-free and allocation-free;
//   - the IPVS TCP state machine (NextState, the kernel's tcp_states tables
//     for input, output and input-only directions), UDP and ICMP states, and
//     the kernel's timeouts per state (ipvsadm --set tcp tcpfin udp);
//   - persistence templates that outlive their connections until their
//     timeout, and never expire while they control one;
//   - incremental expiry (Reap, Run) with an injectable clock;
//   - bounded memory: a capacity changeable at run time, slabs and indexes
//     that grow shard by shard, and eviction under pressure that drops
//     embryonic (never-established) entries first and counts every eviction;
//   - per-entry packet and byte counters, and paged listing (Walk) for
//     ipvsadm -Lc;
//   - what connection sync needs of the table: Install and
//     InstallTemplate put an entry a sync message describes in with its
//     state and timeout (a later message restates it), and per-connection
//     sync marks (MarkSynced, SinceSync, LearntFromSync) kept in the
//     control word's spare bits, so a master remembers what it sent
//     without memory of its own.
//
// It refers to services and real servers by opaque IDs and knows nothing of
// packets beyond tuples and TCP flags.
//
// # Layout
//
// The table is split into shards by a keyed hash of the client's address and
// port, so a NAT connection's forward and reply keys share a shard. Each
// shard has a slab of 104-byte, pointer-free entries in 128 KB chunks and an
// open-addressing index of 64-byte, 12-slot buckets. A bucket has a control
// byte per slot (7 bits of the key's hash) and each slot 6 more hash bits
// beside the entry's number, so a probe reads an entry only when 13 bits
// match: a hit reads one bucket line and the entry's key and control words
// (64 bytes, on two lines for 7 entries in 8), and a miss or an insert's
// duplicate check almost never reads an entry. Filled to capacity, a NAT
// connection (two keys) costs about 122 bytes of resident memory, a DR one
// about 115.
//
// A big table's memory is outside the Go heap: once a table has 2 MB of
// chunks, further chunks and every index of 64 KB or more come from regions
// mapped 2 MB aligned and advised for transparent huge pages before first
// touch, so that a random lookup in a gigabyte of entries does not miss the
// TLB twice (the Go runtime does not advise its heap, and with THP in
// madvise mode nothing else gets huge pages). Chunks hold no Go pointers:
// they name their table by a registry number. Replaced indexes rest 50 ms
// before their memory is reused; everything is unmapped when the Table is
// collected. Under the race detector, and off Linux, the same regions come
// from the Go heap.
//
// In a big table a lookup is two dependent cache misses, the bucket and
// then the entry. Lookup pays them one after the other; LookupBatch overlaps
// those of 32 keys, and LookupConns does the same for a batch of packets
// that may be clients' or NAT replies (the reply keys of the misses only).
// Insert starts the misses it will wait on (its keys'
// buckets, the entry the free list hands out) before its locked
// instructions, which would take them one at a time, and the reaper does the
// same for the buckets of a batch of expired entries.
//
// Every entry word is atomic: lookups read them without locks and validate
// the key against a sequence number that changes when an entry is reused;
// inserts and removals lock only their shard; Observe changes state and
// expiry with one CAS.
//
// # Concurrency contract
//
// A *Conn returned by Lookup or Insert is for the packet at hand. After the
// entry is removed the slab does not reuse it for 50 ms (longer than a
// worker's batch), so a worker that raced with the removal reads stale
// values, not another connection's — unless the shard is at its memory
// limit, where reuse is immediate (oldest first). A *Conn does not keep its
// Table alive: once the Table is unreachable its memory may be unmapped.
// Hooks run without locks and may interleave; see Hooks.
package conntrack
