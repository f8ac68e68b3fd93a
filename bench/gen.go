package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"
)

// The generator runs as a child process (`xvs-bench __gen CONFIG`) inside
// the generator namespace, pinned to one core. It prepares its AF_XDP socket
// and frames, prints a ready line, then executes GenCommands read as JSON
// lines from stdin, answering each with a GenResult line. Keeping one process
// for the warm-up and the measured run keeps its flow sequence going, so the
// measured run continues where the warm-up stopped.

// GenConfig is the generator's setup.
type GenConfig struct {
	Iface   string
	Queue   int
	SrcMAC  string
	DstMAC  string
	SrcBase netip.Addr
	Dsts    []netip.Addr
	DstPort uint16
	Proto   Proto
	Size    int
	// Flows is the number of distinct flows, cycled; 0 means never repeat
	// (SYN loads: every frame a new connection).
	Flows uint64
	// FlowOffset is the first flow sent.
	FlowOffset uint64
	// NewEvery, if positive, makes every NewEvery-th frame one of a flow
	// never sent before (indexes from Flows up, see Load.NewEvery).
	NewEvery uint64 `json:",omitempty"`
	// Frames is the UMEM size in frames (default 4096).
	Frames int
}

// GenCommand asks for one bounded run. The run ends at Duration or after
// Count frames, whichever comes first; at least one of them must be set.
type GenCommand struct {
	Duration time.Duration
	Count    uint64
	// Rate caps the send rate in frames per second; 0 sends as fast as the
	// socket takes them.
	Rate float64
}

// GenResult reports one run.
type GenResult struct {
	// Sent counts frames the kernel completed (handed to the link); frames
	// a full veth queue dropped are included, as on a real wire.
	Sent    uint64
	Elapsed time.Duration
	// CPU is the generator process's user+system time during the run.
	CPU   time.Duration
	Error string `json:",omitempty"`
}

const (
	genFrameSize = 2048
	genBatch     = 32 // copy-mode AF_XDP sends at most 32 frames per sendto
	// noRepeatFlows bounds the flow index of SYN loads: 2^24 sources fit the
	// 198.19.0.0/16 range (PortsPerAddr per address) many times over.
	noRepeatFlows = 1 << 24
)

// genReady is the line the generator prints when it can take commands.
const genReady = "ready"

// RunGenerator is the child's main: it serves commands from in until EOF.
func RunGenerator(cfg GenConfig, in io.Reader, out io.Writer) error {
	g, err := newGenerator(cfg)
	if err != nil {
		return err
	}
	defer g.close()
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var c GenCommand
		var res GenResult
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			res.Error = err.Error()
		} else {
			res, err = g.run(c)
			if err != nil {
				res.Error = err.Error()
			}
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return sc.Err()
}

// newGenerator opens the AF_XDP socket (in the calling thread's network
// namespace) and writes every UMEM frame's constant part.
func newGenerator(cfg GenConfig) (*generator, error) {
	srcMAC, err := net.ParseMAC(cfg.SrcMAC)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	dstMAC, err := net.ParseMAC(cfg.DstMAC)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	fb, err := NewFrameBuilder(FlowSpec{
		SrcMAC: srcMAC, DstMAC: dstMAC, SrcBase: cfg.SrcBase, Dsts: cfg.Dsts,
		DstPort: cfg.DstPort, Proto: cfg.Proto, Size: cfg.Size,
	})
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	if cfg.Frames == 0 {
		cfg.Frames = 4096
	}
	ifc, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	xsk, err := newSocketRetry(ifc.Index, cfg.Queue, &xdp.SocketOptions{
		NumFrames: cfg.Frames, FrameSize: genFrameSize,
		FillRingNumDescs: 64, CompletionRingNumDescs: cfg.Frames,
		RxRingNumDescs: 0, TxRingNumDescs: cfg.Frames / 2,
	})
	if err != nil {
		return nil, fmt.Errorf("generator: AF_XDP socket on %s: %w", cfg.Iface, err)
	}
	g := &generator{xsk: xsk, fb: fb, frames: cfg.Frames, flows: cfg.Flows, flow: cfg.FlowOffset, newEvery: cfg.NewEvery}
	if g.flows == 0 {
		g.flows = noRepeatFlows
	}
	g.flow %= g.flows
	g.descs = make([]xdp.Desc, genBatch)
	for k := range cfg.Frames {
		fb.Init(xsk.GetFrame(xdp.Desc{Addr: uint64(k * genFrameSize), Len: uint32(fb.Len())}))
	}
	return g, nil
}

func (g *generator) close() { _ = g.xsk.Close() }

type generator struct {
	xsk       *xdp.Socket
	fb        *FrameBuilder
	frames    int
	flows     uint64
	flow      uint64 // next flow to send
	head      int    // next UMEM frame to use: completions return in FIFO order
	submitted uint64 // over the process's life
	completed uint64
	descs     []xdp.Desc
	// newEvery and fresh: the mixed load's new flows (nextFlow).
	newEvery, fresh, seq uint64
}

// nextFlow returns the flow of the next frame: the cycled flows in turn,
// or with newEvery every newEvery-th frame a new one above them (indexes
// flows.. up to noRepeatFlows, then round again).
func (g *generator) nextFlow() uint64 {
	g.seq++
	if g.newEvery > 0 && g.seq%g.newEvery == 0 {
		f := g.flows + g.fresh
		g.fresh++
		if g.flows+g.fresh >= noRepeatFlows {
			g.fresh = 0
		}
		return f
	}
	f := g.flow
	g.flow++
	if g.flow == g.flows {
		g.flow = 0
	}
	return f
}

// errNoBound rejects a command without a duration or count.
var errNoBound = errors.New("generator: command needs a duration or a count")

func (g *generator) run(c GenCommand) (GenResult, error) {
	if c.Duration <= 0 && c.Count == 0 {
		return GenResult{}, errNoBound
	}
	if c.Duration <= 0 || c.Duration > 10*time.Minute {
		c.Duration = 10 * time.Minute // every loop is bounded in time
	}
	if c.Count == 0 {
		c.Count = ^uint64(0)
	}
	cpu0 := selfCPU()
	start := time.Now()
	deadline := start.Add(c.Duration)
	base := g.completed
	var sent uint64 // submitted in this run
	now := start
	for sent < c.Count && now.Before(deadline) {
		g.reap()
		n := uint64(genBatch)
		if c.Rate > 0 {
			allowed := uint64(c.Rate*now.Sub(start).Seconds()) + 1
			if allowed <= sent {
				time.Sleep(20 * time.Microsecond)
				now = time.Now()
				continue
			}
			n = min(n, allowed-sent)
		}
		inflight := g.submitted - g.completed
		n = min(n, uint64(g.xsk.NumFreeTxSlots()), uint64(g.frames)-inflight, c.Count-sent)
		if n == 0 {
			g.xsk.Transmit(g.descs[:0]) // kick: the kernel sends 32 per call
			now = time.Now()
			continue
		}
		d := g.descs[:n]
		l := uint32(g.fb.Len())
		for i := range d {
			addr := uint64(g.head * genFrameSize)
			g.fb.Patch(g.xsk.GetFrame(xdp.Desc{Addr: addr, Len: l}), g.nextFlow())
			d[i] = xdp.Desc{Addr: addr, Len: l}
			g.head++
			if g.head == g.frames {
				g.head = 0
			}
		}
		g.xsk.Transmit(d)
		g.submitted += n
		sent += n
		now = time.Now()
	}
	// Drain: the frames still in the TX ring belong to this run.
	for drainEnd := time.Now().Add(200 * time.Millisecond); g.completed < g.submitted && time.Now().Before(drainEnd); {
		g.xsk.Transmit(g.descs[:0])
		g.reap()
	}
	return GenResult{Sent: g.completed - base, Elapsed: time.Since(start), CPU: selfCPU() - cpu0}, nil
}

func (g *generator) reap() {
	if n := g.xsk.NumCompleted(); n > 0 {
		g.xsk.Complete(n)
		g.completed += uint64(n)
	}
}

// newSocketRetry opens an AF_XDP socket, retrying for a second while the
// queue is still busy: the kernel releases the previous trial's socket
// (and its buffer pool) from a workqueue after that process has exited.
func newSocketRetry(ifindex, queue int, opts *xdp.SocketOptions) (*xdp.Socket, error) {
	deadline := time.Now().Add(time.Second)
	for {
		xsk, err := xdp.NewSocket(ifindex, queue, opts)
		if err == nil || !strings.Contains(err.Error(), "busy") || time.Now().After(deadline) {
			return xsk, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// selfCPU returns this process's user+system time.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
