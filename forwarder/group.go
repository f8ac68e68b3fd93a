package forwarder

import (
	"time"

	"github.com/xvs-project/xvs/internal/pollwait"
	"github.com/xvs-project/xvs/link"
)

// Pinned workers (Options.WorkerCPUs) are served one thread per worker
// CPU, however many queues land on it (more queues than worker CPUs: the
// NAT director's two interfaces, or a veth's queue per CPU, on one worker
// CPU). With a thread per queue, a frame for an idle queue had to wait for
// its thread to be woken and to preempt the busy one on their shared CPU,
// which the kernel's scheduler does only once the running thread's slice
// is up: measured on the bench's labs, over a millisecond at p99 under
// half load. One thread takes every queue's pending frames in turn, a
// batch of each at most, and waits once for all of them, so a frame waits
// no longer than the batches ahead of it.
//
// The wait is pollwait's, which can spin a while before it sleeps
// (Options.WorkerSpin): a frame that finds the thread spinning does not pay
// a wake-up (on the bench's labs 50 µs halved the median round trip under
// half load), but the spin follows every burst, so at a load with gaps it
// is CPU time the thread spends on nothing, and at p99 the bench found it
// a help in some runs and a loss in others (a frame that waits mostly
// waits behind a batch, not a wake-up). That trade is the operator's, and
// the default does not spin. Unpinned workers share their CPUs with the
// rest of the system, so they never spin: they wait in their queue's own
// Recv.

// workerGroup is the workers one thread serves, and how it waits for them.
type workerGroup struct {
	workers []*worker
	pollers []link.Poller
	wait    *pollwait.Waiter
}

// groupWorkers splits workers among the worker CPUs as Run pins them
// (worker i on cpus[i%len(cpus)]): one group per CPU in use, each spinning
// for spin when busy. ok is false when the workers are not pinned, or when
// some queue cannot be waited on with others (not a link.Poller, or WaitFD
// -1); the workers then run a thread each.
func groupWorkers(workers []*worker, cpus []int, spin time.Duration) (groups []workerGroup, ok bool) {
	if len(cpus) == 0 || len(workers) == 0 {
		return nil, false
	}
	groups = make([]workerGroup, min(len(cpus), len(workers)))
	for i, w := range workers {
		p, isPoller := w.q.(link.Poller)
		if !isPoller || p.WaitFD() < 0 {
			return nil, false
		}
		g := &groups[i%len(cpus)]
		g.workers = append(g.workers, w)
		g.pollers = append(g.pollers, p)
	}
	for i := range groups {
		fds := make([]int, len(groups[i].pollers))
		for j, p := range groups[i].pollers {
			fds[j] = p.WaitFD()
		}
		groups[i].wait = pollwait.New(fds...)
		groups[i].wait.Spin(spin)
	}
	return groups, true
}

// choreRounds is how many rounds with frames a group's idle queues wait
// for their chores (parked frames, held fragments, sync flushes): doing
// them each round cost a round a clock reading and a sync flush per idle
// queue, a tenth of a busy NAT group's time.
const choreRounds = 32

// run serves the group's queues until stop is closed: a batch from each
// queue that has frames, in turn, while any has; the other queues' chores
// every choreRounds rounds and before every wait that sleeps (a spinning
// round is as short as a round with frames, so it does them as often); one
// wait for all of them when none has frames.
func (g *workerGroup) run(stop <-chan struct{}) {
	for round := 0; ; round++ {
		select {
		case <-stop:
			return
		default:
		}
		got := 0
		chores := round%choreRounds == 0
		for i, w := range g.workers {
			if n := g.pollers[i].TryRecv(w.rx); n > 0 {
				got += w.serve(n)
			} else if chores {
				w.chores()
			}
		}
		if got > 0 {
			g.wait.Got()
			continue
		}
		if !chores && !g.wait.Spinning() {
			for _, w := range g.workers {
				w.chores()
			}
		}
		g.wait.Wait()
	}
}
