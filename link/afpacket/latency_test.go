package afpacket

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// reflect turns a received UDP/IPv4 frame into the reply: MAC, IP and port
// swapped (the checksums stay valid: they are sums of the swapped words).
func reflect(frames []link.Frame) {
	bounce(frames)
	for i := range frames {
		d := frames[i].Data()
		if len(d) < 14+20+8 {
			continue
		}
		ip := d[14:]
		var a [4]byte
		copy(a[:], ip[12:16])
		copy(ip[12:16], ip[16:20])
		copy(ip[16:20], a[:])
		u := ip[int(ip[0]&15)*4:]
		sp := binary.BigEndian.Uint16(u[0:])
		binary.BigEndian.PutUint16(u[0:], binary.BigEndian.Uint16(u[2:]))
		binary.BigEndian.PutUint16(u[2:], sp)
	}
}

// idleRTTs sends n single UDP requests, one at a time with a pause between
// them (an idle link), through a worker that reflects each back to the
// client, and returns the sorted round-trip times.
func idleRTTs(t *testing.T, o Options, n int) []time.Duration {
	tp := newTopo(t)
	o.Sockets = 1
	b := openOn(t, tp, o)
	q := b.Queues()[0]
	fd := udpSender(t, tp)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		frames := make([]link.Frame, 64)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k := q.Recv(frames)
			reflect(frames[:k])
			q.Send(frames[:k])
			q.Release(frames[:k])
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	payload, reply := make([]byte, 32), make([]byte, 2048)
	var rtts []time.Duration
	for i := 0; i < n; i++ {
		time.Sleep(5 * time.Millisecond)
		start := time.Now()
		if _, err := unix.Write(fd, payload); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Read(fd, reply); err != nil {
			continue // lost: not counted
		}
		rtts = append(rtts, time.Since(start))
	}
	if len(rtts) < n*9/10 {
		t.Fatalf("only %d of %d replies", len(rtts), n)
	}
	slices.Sort(rtts)
	return rtts
}

// TestIdleLatency: a single request on an idle link goes through the
// backend (receive, send back) without waiting for a block to fill or
// time out. The bound leaves a wide margin over what the hand-over costs
// (tens of microseconds) for a loaded 2-core machine, and is far under
// the block retire timeout a TPACKET_V3 ring waits (1 ms or more).
func TestIdleLatency(t *testing.T) {
	rtts := idleRTTs(t, Options{}, 200)
	p50, p90 := rtts[len(rtts)/2], rtts[len(rtts)*9/10]
	t.Logf("idle round trip through the backend: p50 %v p90 %v max %v (%d samples)", p50, p90, rtts[len(rtts)-1], len(rtts))
	if p50 > 500*time.Microsecond {
		t.Fatalf("idle round trip p50 %v, want < 500µs", p50)
	}
}
