package forwarder

import (
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/service"
)

// TestRealAccFlush: counts gathered over a batch for more real servers than
// the gathering has slots all arrive, with counts outside a batch going
// straight in.
func TestRealAccFlush(t *testing.T) {
	q := &queueStats{name: "q"}
	q.count(3, 100, realIn) // outside a batch
	q.beginBatch()
	for round := range 3 {
		for id := range uint32(3 * accSlots) {
			q.count(id, int(id), realIn)
			if round == 0 {
				q.count(id, 2*int(id), realOut)
			}
		}
	}
	q.endBatch()
	q.count(3, 1, realOut)
	for id := range uint32(3 * accSlots) {
		rc := q.realStats(id)
		wantIn, wantInB, wantOut, wantOutB := uint64(3), 3*uint64(id), uint64(1), 2*uint64(id)
		if id == 3 {
			wantIn, wantInB, wantOut, wantOutB = wantIn+1, wantInB+100, wantOut+1, wantOutB+1
		}
		if rc.inPkts.load() != wantIn || rc.inBytes.load() != wantInB || rc.outPkts.load() != wantOut || rc.outBytes.load() != wantOutB {
			t.Errorf("real %d: in %d/%d out %d/%d, want %d/%d %d/%d", id, rc.inPkts.load(), rc.inBytes.load(),
				rc.outPkts.load(), rc.outBytes.load(), wantIn, wantInB, wantOut, wantOutB)
		}
	}
	if a := testing.AllocsPerRun(100, func() {
		q.beginBatch()
		for id := range uint32(2 * accSlots) {
			q.count(id, 1, realIn)
		}
		q.endBatch()
	}); a != 0 {
		t.Errorf("%.1f allocations per batch", a)
	}
}

// TestRealCountsPerBatch: a batch of new UDP flows spread over eight real
// servers shows in every real server's figures as soon as the batch is done.
func TestRealCountsPerBatch(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodNAT, 0, 8))
	var frames [][]byte
	for i := range 48 {
		src := netip.AddrFrom4([4]byte{198, 19, 0, byte(i + 1)})
		frames = append(frames, buildFrame(t, pkt{src: src, dst: vip4, sport: 1024, dport: 53, udp: true, payload: 10}))
	}
	if out := run(e, mem, frames...); len(out) != 48 {
		t.Fatalf("sent %d frames, want 48", len(out))
	}
	reals := e.Stats().Services[0].Reals
	if len(reals) != 8 {
		t.Fatalf("%d real servers", len(reals))
	}
	for _, r := range reals {
		// 20 bytes of IPv4, 8 of UDP, 10 of payload.
		if c := r.Counters; c.InPkts != 6 || c.InBytes != 6*38 || c.Conns != 6 {
			t.Errorf("real %v: %d packets, %d bytes, %d connections; want 6, %d, 6", r.Key, c.InPkts, c.InBytes, c.Conns, 6*38)
		}
	}
}
