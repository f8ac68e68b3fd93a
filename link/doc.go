// Package link owns the contract between xvs's forwarding engine (package
// forwarder) and the wire: the Frame a packet travels in, with the headroom
// every backend leaves in front of it (MinHeadroom); the Queue one worker
// serves and the Backend that opens the queues of a set of interfaces; the
// steering Rules that tell a backend which traffic to hand to the workers;
// the Hop a frame leaves by; and the Stats a backend keeps of its own.
//
// The backends are its subpackages, siblings that import link and nothing
// of each other:
//
//   - afxdp: AF_XDP sockets fed by xvs's XDP steering program
//     (internal/xdpprog), one per receive queue of every interface;
//   - afpacket: packet sockets with TPACKET rings, a socket filter and an
//     nftables table (afpacket/nft), for hosts where AF_XDP cannot run;
//   - linktest: an in-memory backend and a static router, so tests and
//     benchmarks run the whole engine without a kernel;
//   - backends: Open, which picks one of the real two by name ("xdp",
//     "afpacket" or "auto") for the daemon and for library users.
//
// Both real backends compile the same Rules into their own form (an eBPF
// map, a cBPF filter and nftables rules), so they steer exactly the same
// traffic.
package link
