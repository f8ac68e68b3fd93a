package afxdp

import (
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// Stats implements link.Backend. Per socket ("eth0/3") it reports the
// kernel's XDP_STATISTICS:
//
//	xsk-rx-ring-full      frames dropped because the RX ring was full (the
//	                      worker fell behind)
//	xsk-fill-ring-empty   frames dropped because the fill ring had no free
//	                      frame (frames not recycled fast enough)
//	xsk-rx-dropped        the socket's other receive drops: rx_dropped less
//	                      the fill-ring ones, mostly frames longer than a
//	                      chunk (see FrameSizeFor)
//	xsk-rx-invalid-descs  bad descriptors on the fill ring
//	xsk-tx-invalid-descs  bad descriptors on the TX ring
//
// and its own transmit losses (tx-full, tx-oversize, tx-error, tx-no-if as
// "xsk-tx-..."). Events get tx_ring_empty_descs ("xsk-tx-ring-empty": kicks
// that found nothing more to send; in copy mode every poll of an idle
// worker counts too), the frames sent in place ("xsk-tx-in-place":
// received frames that left by their own socket uncopied) and, per
// interface queue, the steering program's verdicts ("steer-service",
// "pass-nomatch", ...); the verdict
// "steer-no-socket" (steered, but the queue had no socket, so the kernel got
// it) is a loss and goes to Drops.
func (b *Backend) Stats() link.Stats {
	var s link.Stats
	for _, q := range b.queues {
		var ks unix.XDPStatistics
		ok := q.kernelStats(&ks)
		if ok {
			fillEmpty := ks.Rx_fill_ring_empty_descs
			s.AddDrop(q.name, "xsk-rx-ring-full", ks.Rx_ring_full)
			s.AddDrop(q.name, "xsk-fill-ring-empty", fillEmpty)
			s.AddDrop(q.name, "xsk-rx-dropped", ks.Rx_dropped-min(ks.Rx_dropped, fillEmpty))
			s.AddDrop(q.name, "xsk-rx-invalid-descs", ks.Rx_invalid_descs)
			s.AddDrop(q.name, "xsk-tx-invalid-descs", ks.Tx_invalid_descs)
			s.AddEvent(q.name, "xsk-tx-ring-empty", ks.Tx_ring_empty_descs)
		}
		s.AddEvent(q.name, "xsk-tx-in-place", q.ip.sent.Load())
		s.AddDrop(q.name, "xsk-tx-full", q.txFull.Load())
		s.AddDrop(q.name, "xsk-tx-oversize", q.txOversize.Load())
		s.AddDrop(q.name, "xsk-tx-error", q.txErr.Load())
		s.AddDrop(q.name, "xsk-tx-no-if", q.txNoIf.Load())
	}
	for _, xi := range b.ifaces {
		if xi.steer == nil {
			continue
		}
		rows, err := xi.steer.QueueCounters()
		if err != nil {
			continue
		}
		for _, c := range rows {
			queue := xi.name + "/other"
			if c.Queue >= 0 {
				queue = xi.name + "/" + strconv.Itoa(c.Queue)
			}
			reason := strings.ReplaceAll(c.Name, "_", "-")
			if reason == "steer-nosocket" {
				s.AddDrop(queue, "steer-no-socket", c.Count)
				continue
			}
			s.AddEvent(queue, reason, c.Count)
		}
	}
	return s
}

// kernelStats reads the socket's XDP_STATISTICS; false once it is closed.
func (q *xdpQueue) kernelStats(ks *unix.XDPStatistics) bool {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	if q.b.closed.Load() {
		return false
	}
	size := uint32(unsafe.Sizeof(*ks))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(q.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(ks)), uintptr(unsafe.Pointer(&size)), 0)
	return errno == 0
}
