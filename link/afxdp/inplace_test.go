package afxdp

import (
	"fmt"
	"testing"
	"time"

	"github.com/xvs-project/xvs/link"
)

// A turn sends a received, echoed batch back: in place, through copies,
// or both.
type turn func(l *echoLab, frames []link.Frame)

// turnInPlace sends the batch as it is: every frame goes on the TX ring in
// place.
func turnInPlace(l *echoLab, frames []link.Frame) { l.q.Send(frames) }

// turnMixed sends every other frame from a Go buffer outside the UMEM, the
// received frame's Handle kept (the address must tell it apart, as for a
// worker's parked frame), and scribbles over the received frame after the
// copy: had that one been lent instead of the buffer, its echo would come
// back wrong or not at all.
func turnMixed(l *echoLab, frames []link.Frame) {
	out := l.out[:len(frames)]
	for i := range frames {
		out[i] = frames[i]
		if i%2 == 0 {
			continue
		}
		f := &frames[i]
		buf := l.bufs[i][:]
		copy(buf[link.MinHeadroom:], f.Data())
		out[i] = link.Frame{Buf: buf, Off: link.MinHeadroom, Len: f.Len, Ifindex: f.Ifindex, Handle: f.Handle}
		clear(f.Data())
	}
	l.q.Send(out)
}

// turnTwice sends every frame twice in one batch: the second must be
// copied, for a frame can be lent only once.
func turnTwice(l *echoLab, frames []link.Frame) {
	out := l.out[:0]
	for i := range frames {
		out = append(out, frames[i], frames[i])
	}
	l.q.Send(out)
}

// serveWith echoes frames until stop closes, as a worker would: Recv, the
// turn's Send, Release of the whole batch.
func (l *echoLab) serveWith(tn turn, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	frames := make([]link.Frame, 64)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := l.q.Recv(frames)
		if n == 0 {
			continue
		}
		echo(frames[:n])
		tn(l, frames[:n])
		l.q.Release(frames[:n])
	}
}

// numberedTrips sends n numbered datagrams in bursts of burst and checks
// each echo's content; it returns how many came back, each datagram
// counted up to copies times.
func (l *echoLab) numberedTrips(t *testing.T, n, burst, copies int) int {
	t.Helper()
	seen := make([]int, n)
	buf := make([]byte, 128)
	got := 0
	for sent := 0; sent < n; {
		for i := 0; i < burst && sent < n; i++ {
			if _, err := l.client.Write(fmt.Appendf(nil, "xvs echo %06d", sent)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		for got < sent*copies {
			l.client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			k, err := l.client.Read(buf)
			if err != nil {
				break
			}
			var seq int
			if _, err := fmt.Sscanf(string(buf[:k]), "xvs echo %06d", &seq); err != nil || k != 15 || seq >= sent {
				t.Fatalf("echo %q: not one that was sent", buf[:k])
			}
			if seen[seq]++; seen[seq] > copies {
				t.Fatalf("echo %q came back %d times", buf[:k], seen[seq])
			}
			got++
		}
	}
	return got
}

// foreignFrame receives one datagram and returns its echo, copied into a
// Go buffer and sent to the client's discard port (nobody listens there,
// so numberedTrips does not see it), for foreign.
func (l *echoLab) foreignFrame(t *testing.T) link.Frame {
	t.Helper()
	l.client.Write([]byte("xvs echo"))
	rx := make([]link.Frame, 64)
	var n int
	for start := time.Now(); n == 0; n = l.q.Recv(rx) {
		if time.Since(start) > time.Second {
			t.Fatal("no frame to copy")
		}
	}
	defer l.q.Release(rx[:n])
	echo(rx[:1])
	buf := make([]byte, 2048)
	copy(buf[link.MinHeadroom:], rx[0].Data())
	p := buf[link.MinHeadroom:]
	p[36], p[37] = 0, 7 // UDP discard
	return link.Frame{Buf: buf, Off: link.MinHeadroom, Len: rx[0].Len, Ifindex: rx[0].Ifindex}
}

// foreign transmits copies of f on the socket as another queue's worker
// would, until stop closes.
func (l *echoLab) foreign(f link.Frame, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	out := make([]link.Frame, 8)
	for i := range out {
		out[i] = f
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		l.q.transmit(out, false) // not own: a foreign worker
		time.Sleep(200 * time.Microsecond)
	}
}

// settle waits until every lent frame's completion has come and the frame
// is back on the fill ring, as the next batches would do, and checks the
// books: nothing lent, no TX frame in flight.
func (l *echoLab) settle(t *testing.T) {
	t.Helper()
	q := l.q
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		q.transmit(nil, true) // reap, and kick what a failed kick left
		q.Release(nil)        // refill
		q.txMu.Lock()
		out, lent, tx := q.ip.out, q.ip.inFlight, q.inFlight
		q.txMu.Unlock()
		if out == 0 && lent == 0 && tx == 0 {
			return
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("after 2s: %d frames lent and not back, %d without completion, %d TX frames in flight", out, lent, tx)
		}
	}
}

// TestInPlace sends numbered datagrams through the steering program and
// the own socket's in-place transmit: a frame that leaves by the socket it
// came in on goes from the RX ring to the TX ring uncopied and back to the
// fill ring on its completion. Twelve times as many datagrams as the UMEM
// has receive frames pass, so lent frames must come back; every echo is
// checked, and nothing may be lost at a rate the rings hold.
//
//	client ns                     director ns
//	c0 198.18.0.2  ── veth ──  d0 198.18.0.1 (VIP 198.18.0.100:9 on lo)
//	                             └ AF_XDP socket d0/0: echo, in place
func TestInPlace(t *testing.T) {
	const rxFrames = 256
	for _, tc := range []struct {
		name   string
		turn   turn
		copies int // echoes per datagram
		// inPlace is the share of echoes sent in place, in halves.
		inPlace int
		// foreign: another goroutine transmits copies on the socket
		// meanwhile, as another interface's worker does on NAT, so it
		// reads lent frames' completions too.
		foreign bool
	}{
		{"in-place", turnInPlace, 1, 2, false},
		{"mixed", turnMixed, 1, 1, false},
		{"twice", turnTwice, 2, 1, false},
		{"foreign-completions", turnInPlace, 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newEchoLab(t, Options{RxFrames: rxFrames, TxFrames: 128})
			stop, done := make(chan struct{}), make(chan struct{})
			if tc.foreign {
				fdone := make(chan struct{})
				go l.foreign(l.foreignFrame(t), stop, fdone)
				defer func() { <-fdone }()
			}
			go l.serveWith(tc.turn, stop, done)
			const n = 12 * rxFrames
			got := l.numberedTrips(t, n, 100, tc.copies)
			close(stop)
			<-done
			if got < n*tc.copies*9/10 {
				t.Errorf("%d of %d echoes came back", got, n*tc.copies)
			}
			l.settle(t)
			sent := l.q.ip.sent.Load()
			if want := uint64(got * tc.inPlace / 2); sent < want {
				t.Errorf("%d echoes sent in place, want at least %d", sent, want)
			}
			if tc.inPlace < 2 && sent > uint64(n) {
				t.Errorf("%d echoes sent in place of %d datagrams: a copy was lent", sent, n)
			}
			for _, d := range l.b.Stats().Drops {
				if d.Count != 0 {
					t.Errorf("drop %s %s: %d", d.Queue, d.Reason, d.Count)
				}
			}
		})
	}
}

// TestInPlaceRingFull: with the link down no kick sends, so lent frames
// fill the TX ring; the frames after them cannot go on it and are counted
// as tx-full and released as usual. Once the link is back the ring is
// kicked out, every lent frame comes back and echoes flow again.
func TestInPlaceRingFull(t *testing.T) {
	const txFrames = 64
	l := newEchoLab(t, Options{RxFrames: 256, TxFrames: txFrames})
	for i := 0; i < 200; i++ {
		l.client.Write([]byte("xvs echo"))
	}
	time.Sleep(50 * time.Millisecond) // on the RX ring
	l.dir.IP(t, "link set d0 down")
	frames := make([]link.Frame, 64)
	got := 0
	for i := 0; i < 4; i++ {
		n := l.q.Recv(frames)
		got += n
		echo(frames[:n])
		l.q.Send(frames[:n])
		l.q.Release(frames[:n])
	}
	if got <= txFrames {
		t.Fatalf("received %d frames: too few to fill a TX ring of %d", got, txFrames)
	}
	if lent := l.q.ip.out; lent != txFrames {
		t.Errorf("%d frames lent, want a ring's worth (%d)", lent, txFrames)
	}
	if full := l.q.txFull.Load(); full != uint64(got-txFrames) {
		t.Errorf("tx-full %d, want %d (received %d, ring %d)", full, got-txFrames, got, txFrames)
	}
	l.dir.IP(t, "link set d0 up")
	l.settle(t)

	// The echoes that waited on the ring through the outage.
	stale, buf := 0, make([]byte, 64)
	for {
		l.client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		k, err := l.client.Read(buf)
		if err != nil {
			break
		}
		if string(buf[:k]) != "xvs echo" {
			t.Fatalf("echo %q", buf[:k])
		}
		stale++
	}
	t.Logf("%d echoes of the %d lent frames came after the outage", stale, txFrames)

	stop, done := make(chan struct{}), make(chan struct{})
	go l.serve(stop, done)
	const n = 1000
	back := l.numberedTrips(t, n, 50, 1)
	close(stop)
	<-done
	if back < n*9/10 {
		t.Errorf("after the link came back: %d of %d echoes", back, n)
	}
	l.settle(t)
}
