package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// The wake probe times what a packet pays each time its path crosses from
// one core to another on this machine: the kernel, or a worker, on one core
// wakes a thread sleeping on the other. A probe's round trip through the
// lab crosses a few times (xvs NAT four times, DR and TUN twice, kernel
// forwarding never, since veth forwards in the sender's softirq), so the
// latency rows are read against this figure.

// WakeResult is one wake series: a thread on From hands a token to a
// thread on To through an eventfd and times how long the answer takes,
// Samples times with a gap between hand-overs (which lets both cores go
// idle, as they do between probes).
type WakeResult struct {
	From, To int
	// PeerSpins: the thread on To polls its eventfd instead of sleeping in
	// read, as a worker spinning with --worker-spin does; only the wake
	// back to From remains.
	PeerSpins bool
	Samples   int
	P50, P99  time.Duration
	Err       string `json:",omitempty"`
}

// wakeSeries are the series the latency phase runs: the generator's core
// to itself, to the director's core with the peer asleep, and with the peer
// spinning.
func (r *runner) wakeSeries() []WakeResult {
	from, to := r.genCPU(), r.dirCPU()
	if from < 0 || to < 0 {
		return nil
	}
	var out []WakeResult
	for _, s := range []struct {
		to   int
		spin bool
	}{{from, false}, {to, false}, {to, true}} {
		w, err := MeasureWake(from, s.to, s.spin, r.opts.ProbeCount, r.opts.ProbeInterval)
		if err != nil {
			w.Err = err.Error()
		}
		out = append(out, w)
	}
	return out
}

// MeasureWake runs one wake series of n round trips, gap apart, on two
// threads pinned for its length.
func MeasureWake(from, to int, peerSpins bool, n int, gap time.Duration) (WakeResult, error) {
	res := WakeResult{From: from, To: to, PeerSpins: peerSpins}
	if n <= 0 || n > 1_000_000 {
		return res, fmt.Errorf("wake: %d round trips", n)
	}
	peerFlags := unix.EFD_CLOEXEC
	if peerSpins {
		peerFlags |= unix.EFD_NONBLOCK
	}
	toPeer, err := unix.Eventfd(0, peerFlags)
	if err != nil {
		return res, fmt.Errorf("wake: eventfd: %w", err)
	}
	defer unix.Close(toPeer)
	back, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return res, fmt.Errorf("wake: eventfd: %w", err)
	}
	defer unix.Close(back)

	peerReady, peerDone := make(chan error, 1), make(chan error, 1)
	go func() { wakePeer(to, toPeer, back, peerReady, peerDone) }()
	if err := <-peerReady; err != nil {
		return res, err
	}
	type timed struct {
		d   []time.Duration
		err error
	}
	timer := make(chan timed, 1)
	go func() {
		d, err := wakeTimer(from, toPeer, back, n, gap)
		timer <- timed{d, err}
	}()
	t := <-timer
	if t.err != nil {
		// The peer waits for a token still: the stop token ends it.
		return res, errors.Join(t.err, writeToken(toPeer, stopToken), <-peerDone)
	}
	if err := <-peerDone; err != nil {
		return res, err
	}
	slices.Sort(t.d)
	res.Samples = len(t.d)
	res.P50, res.P99 = p50p99(t.d)
	return res, nil
}

// Tokens: an eventfd read returns the sum of what was written since, and a
// writer waits for each answer, so a read sees one token.
const (
	pingToken = 1
	stopToken = 2
)

// wakeTimer, pinned to cpu, sends n ping tokens gap apart, times each
// answer, and sends the stop token.
func wakeTimer(cpu, toPeer, back, n int, gap time.Duration) ([]time.Duration, error) {
	unpin, err := pinThread(cpu)
	if err != nil {
		return nil, err
	}
	defer unpin()
	var buf [8]byte
	out := make([]time.Duration, 0, n)
	for range n {
		time.Sleep(gap)
		start := time.Now()
		if err := writeToken(toPeer, pingToken); err != nil {
			return out, err
		}
		if _, err := unix.Read(back, buf[:]); err != nil {
			return out, fmt.Errorf("wake: read: %w", err)
		}
		out = append(out, time.Since(start))
	}
	return out, writeToken(toPeer, stopToken)
}

// wakePeer, pinned to cpu (the outcome of which it sends on ready), answers
// every ping token on back until the stop token, and sends how it ended on
// done. On a non-blocking eventfd it polls.
func wakePeer(cpu, toPeer, back int, ready, done chan<- error) {
	unpin, err := pinThread(cpu)
	if err != nil {
		ready <- err
		return
	}
	defer unpin()
	ready <- nil
	var buf [8]byte
	for {
		_, err := unix.Read(toPeer, buf[:])
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			done <- fmt.Errorf("wake: read: %w", err)
			return
		}
		if binary.NativeEndian.Uint64(buf[:]) >= stopToken {
			done <- nil
			return
		}
		if err := writeToken(back, pingToken); err != nil {
			done <- err
			return
		}
	}
}

// writeToken adds v to the eventfd fd's counter.
func writeToken(fd int, v uint64) error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v) // eventfd counts in host order
	if _, err := unix.Write(fd, b[:]); err != nil {
		return fmt.Errorf("wake: write: %w", err)
	}
	return nil
}

// pinThread locks the calling goroutine to its thread and pins the thread
// to cpu; unpin gives the thread its CPUs back and unlocks it. A pinned
// thread is not left to exit with its goroutine: the bench's children die
// with the thread that started them (Pdeathsig), and any thread may have.
func pinThread(cpu int) (unpin func(), err error) {
	runtime.LockOSThread()
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("wake: CPUs of the thread: %w", err)
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("wake: pin to CPU %d: %w", cpu, err)
	}
	return func() {
		// Should the CPUs not come back, the thread serves others on one
		// CPU: slower, where letting it exit could kill a child.
		_ = unix.SchedSetaffinity(0, &was)
		runtime.UnlockOSThread()
	}, nil
}

// LatencySummary says what the lab's core crossing costs, from the wake
// series and kernel forwarding on either core: the part of every xvs
// row's added latency that a director on its own core pays whatever it
// runs.
func LatencySummary(lat []LatencyResult, wake []WakeResult) []string {
	var out []string
	us := func(d time.Duration) string { return formatNum(float64(d)/1e3, 1) + " µs" }
	same, sameOK := sleepingWake(wake, true)
	cross, crossOK := sleepingWake(wake, false)
	if sameOK && crossOK {
		out = append(out, fmt.Sprintf("Two threads waking each other across the cores take %s at p50 and %s at p99 a round trip; on one core, %s and %s.",
			us(cross.P50), us(cross.P99), us(same.P50), us(same.P99)))
	}
	added, addedOK := rpsAddedP99(lat)
	ki, kci := idleP50(lat, ScKernelFwd), idleP50(lat, ScKernelFwdRPS)
	if addedOK && ki >= 0 && kci >= 0 {
		line := fmt.Sprintf("The kernel's own forwarding, moved to the director's core, adds %s at idle p50 and %s at p99 under half load (kernel-fwd-rps over kernel-fwd)", us(kci-ki), us(added))
		if added > 50*time.Microsecond {
			line += ": in this run, a director on a core of its own misses the 50 µs bar on added p99 even when it is the kernel"
		}
		out = append(out, line+".")
	}
	return out
}

// sleepingWake returns the first measured series with the peer asleep on
// the timer's own core (sameCore) or on the other.
func sleepingWake(wake []WakeResult, sameCore bool) (WakeResult, bool) {
	for _, w := range wake {
		if w.Err == "" && !w.PeerSpins && (w.From == w.To) == sameCore {
			return w, true
		}
	}
	return WakeResult{}, false
}

// rpsAddedP99 is what kernel forwarding adds at p99 under half load when
// it runs on the director's core: kernel-fwd-rps's less kernel-fwd's.
func rpsAddedP99(lat []LatencyResult) (time.Duration, bool) {
	k, kc := loadedP99(lat, ScKernelFwd), loadedP99(lat, ScKernelFwdRPS)
	return kc - k, k >= 0 && kc >= 0
}
