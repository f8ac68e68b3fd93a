package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// The bare bounce is the ceiling of the AF_XDP path: frames redirected to an
// AF_XDP socket, a destination MAC written (real servers in turn, no lookup),
// and transmitted, with nothing else. Two-armed it copies each frame from
// the receiving socket's UMEM to the sending one's (asavie/xdp has no shared
// UMEM); one-armed it transmits the received frame in place. It runs as a
// child in the director namespace until SIGTERM.

// BounceConfig is the bounce child's setup.
type BounceConfig struct {
	In, Out string   // interfaces; equal on a one-armed lab
	DstMACs []string // written in turn as destination
	Frames  int      // UMEM frames per socket (default 4096)
}

// BounceStats is what the bounce prints when it stops.
type BounceStats struct {
	Received, Sent, TxFull uint64
}

const bounceBatch = 64

// RunBounce attaches the redirect program to cfg.In and forwards until
// SIGTERM or SIGINT, then prints BounceStats as JSON.
func RunBounce(cfg BounceConfig, out io.Writer) error {
	if cfg.Frames == 0 {
		cfg.Frames = 4096
	}
	var macs [][6]byte
	for _, s := range cfg.DstMACs {
		m, err := net.ParseMAC(s)
		if err != nil || len(m) != 6 {
			return fmt.Errorf("bounce: bad MAC %q", s)
		}
		macs = append(macs, [6]byte(m))
	}
	if len(macs) == 0 {
		return errors.New("bounce: no destination MAC")
	}
	in, err := net.InterfaceByName(cfg.In)
	if err != nil {
		return fmt.Errorf("bounce: %w", err)
	}
	outIf, err := net.InterfaceByName(cfg.Out)
	if err != nil {
		return fmt.Errorf("bounce: %w", err)
	}
	coll, err := loadCollection("bounce", redirectSpec(1))
	if err != nil {
		return err
	}
	defer coll.Close()
	oneArm := in.Index == outIf.Index
	half := cfg.Frames / 2
	rxOpts := &xdp.SocketOptions{
		NumFrames: cfg.Frames, FrameSize: genFrameSize,
		FillRingNumDescs: cfg.Frames, CompletionRingNumDescs: cfg.Frames,
		RxRingNumDescs: half, TxRingNumDescs: 0,
	}
	if oneArm {
		rxOpts.TxRingNumDescs = half
	}
	rx, err := newSocketRetry(in.Index, 0, rxOpts)
	if err != nil {
		return fmt.Errorf("bounce: rx socket on %s: %w", cfg.In, err)
	}
	defer rx.Close()
	tx := rx
	if !oneArm {
		tx, err = newSocketRetry(outIf.Index, 0, &xdp.SocketOptions{
			NumFrames: cfg.Frames, FrameSize: genFrameSize,
			FillRingNumDescs: 64, CompletionRingNumDescs: cfg.Frames,
			RxRingNumDescs: 0, TxRingNumDescs: half,
		})
		if err != nil {
			return fmt.Errorf("bounce: tx socket on %s: %w", cfg.Out, err)
		}
		defer tx.Close()
	}
	if err := coll.Maps["xsks"].Put(uint32(0), uint32(rx.FD())); err != nil {
		return fmt.Errorf("bounce: register socket: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: coll.Programs["redirect"], Interface: in.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return fmt.Errorf("bounce: attach to %s: %w", cfg.In, err)
	}
	defer l.Close()

	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; stop.Store(true) }()

	b := &bouncer{rx: rx, tx: tx, macs: macs, srcMAC: [6]byte(outIf.HardwareAddr), oneArm: oneArm, frames: cfg.Frames}
	b.prime()
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	b.loop(&stop)
	return json.NewEncoder(out).Encode(b.stats)
}

type bouncer struct {
	rx, tx  *xdp.Socket
	macs    [][6]byte
	srcMAC  [6]byte
	next    int
	oneArm  bool
	frames  int
	txHead  int // two-armed: next TX frame (FIFO)
	txOut   int // two-armed: TX frames in flight
	fillBuf []xdp.Desc
	txBuf   []xdp.Desc
	// One-armed: addresses of frames in the TX ring, oldest first
	// (completions come back in submission order).
	ring      []uint64
	rHead, rN int
	stats     BounceStats
}

// prime hands the receive frames to the kernel: all of them one-armed
// (frames travel rx -> tx -> completion -> fill), else the rx socket's.
func (b *bouncer) prime() {
	b.fillBuf = make([]xdp.Desc, 0, b.frames)
	b.txBuf = make([]xdp.Desc, 0, bounceBatch)
	n := b.frames
	if b.oneArm {
		n = b.frames / 2 // the rest stays free so completions never outrun the fill ring
	}
	for k := range n {
		b.fillBuf = append(b.fillBuf, xdp.Desc{Addr: uint64(k * genFrameSize), Len: genFrameSize})
	}
	b.rx.Fill(b.fillBuf)
	b.ring = make([]uint64, b.frames)
}

func (b *bouncer) loop(stop *atomic.Bool) {
	pfd := []unix.PollFd{{Fd: int32(b.rx.FD()), Events: unix.POLLIN}}
	for !stop.Load() {
		b.reap()
		n := b.rx.NumReceived()
		if n == 0 {
			if b.tx.NumTransmitted() > 0 {
				b.tx.Transmit(b.txBuf[:0]) // kick pending TX before sleeping
			}
			_, _ = unix.Poll(pfd, 100)
			continue
		}
		n = min(n, bounceBatch, b.tx.NumFreeTxSlots())
		if !b.oneArm {
			n = min(n, b.frames-b.txOut)
		}
		if n == 0 {
			b.tx.Transmit(b.txBuf[:0])
			continue
		}
		descs := b.rx.Receive(n)
		b.stats.Received += uint64(len(descs))
		out := b.txBuf[:0]
		for _, d := range descs {
			mac := &b.macs[b.next]
			if b.next++; b.next == len(b.macs) {
				b.next = 0
			}
			if b.oneArm {
				f := b.rx.GetFrame(d)
				copy(f[0:6], mac[:])
				copy(f[6:12], b.srcMAC[:])
				out = append(out, d)
				continue
			}
			td := xdp.Desc{Addr: uint64(b.txHead * genFrameSize), Len: d.Len}
			if b.txHead++; b.txHead == b.frames {
				b.txHead = 0
			}
			f := b.tx.GetFrame(td)
			copy(f, b.rx.GetFrame(d))
			copy(f[0:6], mac[:])
			copy(f[6:12], b.srcMAC[:])
			out = append(out, td)
		}
		if !b.oneArm {
			b.rx.Fill(descs) // copied out: the frames can take new packets
		}
		// n <= NumFreeTxSlots, so the whole batch fits the TX ring.
		sent := b.tx.Transmit(out)
		b.stats.Sent += uint64(sent)
		b.stats.TxFull += uint64(len(out) - sent)
		if b.oneArm {
			for _, d := range out[:sent] {
				b.ring[(b.rHead+b.rN)%len(b.ring)] = d.Addr
				b.rN++
			}
			b.rx.Fill(out[sent:])
		} else {
			b.txOut += sent
		}
		for range 4 { // copy mode sends 32 frames per kick
			if b.tx.NumTransmitted() == 0 {
				break
			}
			b.tx.Transmit(b.txBuf[:0])
		}
	}
}

// reap takes TX completions: one-armed the frames go back to the fill ring.
func (b *bouncer) reap() {
	n := b.tx.NumCompleted()
	if n == 0 {
		return
	}
	if !b.oneArm {
		b.tx.Complete(n)
		b.txOut -= n
		return
	}
	b.tx.Complete(n)
	b.fillBuf = b.fillBuf[:0]
	for range n {
		b.fillBuf = append(b.fillBuf, xdp.Desc{Addr: b.ring[b.rHead], Len: genFrameSize})
		b.rHead = (b.rHead + 1) % len(b.ring)
		b.rN--
	}
	b.rx.Fill(b.fillBuf)
}
