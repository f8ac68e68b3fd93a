// Package afxdp owns xvs's AF_XDP backend, a link.Backend: xvs's steering
// program (internal/xdpprog) on every served interface hands the service
// traffic (and, on NAT, the real servers' replies) to one AF_XDP socket per
// receive queue and leaves everything else to the kernel.
//
// Each socket has its own UMEM, split into receive frames (the fill and RX
// rings) and transmit frames (the TX and completion rings). A received
// frame is handed to the worker in place, at the kernel's headroom
// (XDP_PACKET_HEADROOM, 256 bytes, more than link.MinHeadroom), and goes
// back to the fill ring on Release. Send copies each frame into a transmit
// frame of the egress interface's socket for the same queue number: the
// transmit side of a socket may be used by the worker of any interface, so
// it is guarded by a mutex taken once per batch (the one lock on the
// packet path; the receive side is the serving worker's alone). A frame
// that leaves by the socket it came in on (DR, TUN) is not copied: its
// receive frame is lent to the TX ring and goes back to the fill ring when
// its completion comes (inplace.go).
//
// The sockets are this package's own (xsk.go): it sets up the UMEM and maps
// the four rings from the kernel's ABI, binds with XDP_USE_NEED_WAKEUP,
// publishes a batch with one store per ring, and makes no system call
// while frames keep coming; a kick (sendto) is a raw, non-blocking system
// call made only when the TX ring asks for one (always, in veth's copy
// mode). A queue waits for frames through internal/pollwait: a busy worker
// in a raw poll of at most a millisecond, an idle one in the runtime's poll,
// giving its P up every few milliseconds itself so that sysmon need not take
// it (pollwait says why both matter). A queue is a link.Poller, so pinned
// workers serve all the queues of their CPU from one thread (forwarder).
// Options.LibrarySocket drives the queues with asavie/xdp's Socket
// instead, as before (queue_lib.go).
//
// The UMEM chunk size (2048 or 4096, see FrameSizeFor) bounds the MTU the
// backend can serve; a larger one is refused with an *MTUError at Open
// rather than losing every long frame in the kernel.
//
// With Options.PinDir the steering links are pinned on a bpffs and the
// programs hold (drop) service traffic no socket takes, so a daemon that
// dies leaves the interfaces dropping, not resetting, its connections, and
// the next Open adopts the links (pin.go). Close unpins and detaches.
//
// Its losses are link.Stats: the sockets' XDP_STATISTICS and transmit
// failures per queue, and the steering program's per-queue verdicts.
package afxdp
