package afxdp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// xsk is one AF_XDP socket and its UMEM, set up and driven by this package
// from the kernel's ABI (linux/if_xdp.h) rather than by asavie/xdp's
// Socket, whose rings are unexported and whose Transmit kicks through the
// runtime's syscall path on every call. Owning the rings lets the worker
// update a ring once per batch, look at the rings before making any system
// call, and kick only when the kernel asks for it (need_wakeup).
//
// The receive side (rx and fill) is the serving worker's; the transmit side
// (tx and comp) is used under the queue's txMu.
type xsk struct {
	fd   int
	umem []byte
	// maps are the four ring mappings, unmapped by close.
	maps [][]byte

	rx, tx     descRing
	fill, comp addrRing

	// wakeup: bound with XDP_USE_NEED_WAKEUP, so a ring's flags say when
	// the kernel needs a system call to go on. Without it (a kernel that
	// refused the flag) every transmit is kicked.
	wakeup bool
}

// ring is the part of an AF_XDP ring that both kinds share: the shared
// producer and consumer indexes and flags word, and this side's own index
// (the producer of a ring it fills, the consumer of a ring it drains), kept
// locally so that only the kernel's index is read from shared memory.
type ring struct {
	prod, cons, flags *uint32
	mask              uint32
	local             uint32
}

// descRing is an RX or TX ring of frame descriptors.
type descRing struct {
	ring
	slots []unix.XDPDesc
}

// addrRing is a fill or completion ring of UMEM addresses.
type addrRing struct {
	ring
	slots []uint64
}

// ready returns how many entries the kernel has produced that this side has
// not consumed yet (RX, completion).
func (r *ring) ready() uint32 { return atomic.LoadUint32(r.prod) - r.local }

// consume gives n consumed entries back to the kernel: one store for the
// whole batch.
func (r *ring) consume(n uint32) {
	r.local += n
	atomic.StoreUint32(r.cons, r.local)
}

// room returns how many entries this side can produce (fill, TX).
func (r *ring) room() uint32 { return r.mask + 1 - (r.local - atomic.LoadUint32(r.cons)) }

// produce publishes the n entries written after the last produce: one
// store for the whole batch, after the entries (Go's atomics order it).
func (r *ring) produce(n uint32) {
	r.local += n
	atomic.StoreUint32(r.prod, r.local)
}

// pending reports whether the kernel has not consumed all this side
// produced (TX).
func (r *ring) pending() bool { return atomic.LoadUint32(r.cons) != r.local }

// needWakeup reports the kernel's XDP_RING_NEED_WAKEUP flag on the ring.
func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0 }

// xskConfig sizes an xsk.
type xskConfig struct {
	ifindex, queue int
	frameSize      int
	nRX, nTX       int // frames, and the sizes of fill+RX and TX+completion rings
	// noWakeup binds without XDP_USE_NEED_WAKEUP (tests).
	noWakeup bool
}

// newXSK opens an AF_XDP socket bound to the queue, with a UMEM of
// nRX+nTX frames (receive frames first) and all four rings mapped. The
// fill ring starts empty.
func newXSK(c xskConfig) (_ *xsk, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	x := &xsk{fd: fd}
	defer func() {
		if err != nil {
			x.close()
		}
	}()
	size := (c.nRX + c.nTX) * c.frameSize
	// MAP_POPULATE: the kernel pins the pages at registration anyway.
	if x.umem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("UMEM of %d bytes: %w", size, err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))),
		Len:  uint64(size),
		Size: uint32(c.frameSize),
	}
	if err = setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return nil, fmt.Errorf("XDP_UMEM_REG: %w", err)
	}
	for _, s := range []struct {
		opt, n int
		name   string
	}{
		{unix.XDP_UMEM_FILL_RING, c.nRX, "fill"},
		{unix.XDP_UMEM_COMPLETION_RING, c.nTX, "completion"},
		{unix.XDP_RX_RING, c.nRX, "RX"},
		{unix.XDP_TX_RING, c.nTX, "TX"},
	} {
		if err = unix.SetsockoptInt(fd, unix.SOL_XDP, s.opt, s.n); err != nil {
			return nil, fmt.Errorf("%s ring of %d: %w", s.name, s.n, err)
		}
	}
	var off unix.XDPMmapOffsets
	olen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&olen)), 0); e != 0 {
		return nil, fmt.Errorf("XDP_MMAP_OFFSETS: %w", e)
	}
	if olen != uint32(unsafe.Sizeof(off)) {
		// Kernels before 5.4 have no flags word: no need_wakeup.
		return nil, errors.New("XDP_MMAP_OFFSETS without ring flags (kernel older than 5.4): use Options.LibrarySocket")
	}
	const descSize, addrSize = unsafe.Sizeof(unix.XDPDesc{}), unsafe.Sizeof(uint64(0))
	var base unsafe.Pointer
	if base, err = x.mapRing(&x.rx.ring, off.Rx, unix.XDP_PGOFF_RX_RING, c.nRX, descSize); err != nil {
		return nil, fmt.Errorf("RX ring: %w", err)
	}
	x.rx.slots = unsafe.Slice((*unix.XDPDesc)(base), c.nRX)
	if base, err = x.mapRing(&x.tx.ring, off.Tx, unix.XDP_PGOFF_TX_RING, c.nTX, descSize); err != nil {
		return nil, fmt.Errorf("TX ring: %w", err)
	}
	x.tx.slots = unsafe.Slice((*unix.XDPDesc)(base), c.nTX)
	if base, err = x.mapRing(&x.fill.ring, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, c.nRX, addrSize); err != nil {
		return nil, fmt.Errorf("fill ring: %w", err)
	}
	x.fill.slots = unsafe.Slice((*uint64)(base), c.nRX)
	if base, err = x.mapRing(&x.comp.ring, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, c.nTX, addrSize); err != nil {
		return nil, fmt.Errorf("completion ring: %w", err)
	}
	x.comp.slots = unsafe.Slice((*uint64)(base), c.nTX)

	sa := unix.SockaddrXDP{Ifindex: uint32(c.ifindex), QueueID: uint32(c.queue)}
	if !c.noWakeup {
		sa.Flags = unix.XDP_USE_NEED_WAKEUP
		if err = unix.Bind(fd, &sa); err == nil {
			x.wakeup = true
			return x, nil
		}
		// A kernel or driver that refuses the flag: every kick is made.
		sa.Flags = 0
	}
	if err = unix.Bind(fd, &sa); err != nil {
		return nil, fmt.Errorf("bind to ifindex %d queue %d: %w", c.ifindex, c.queue, err)
	}
	return x, nil
}

// mapRing maps one ring of n entries of size esz at the page offset pgoff
// and points r at its indexes; it returns the address of the first entry.
func (x *xsk) mapRing(r *ring, o unix.XDPRingOffset, pgoff int64, n int, esz uintptr) (unsafe.Pointer, error) {
	m, err := unix.Mmap(x.fd, pgoff, int(o.Desc)+n*int(esz), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	x.maps = append(x.maps, m)
	p := unsafe.Pointer(&m[0])
	r.prod = (*uint32)(unsafe.Add(p, o.Producer))
	r.cons = (*uint32)(unsafe.Add(p, o.Consumer))
	r.flags = (*uint32)(unsafe.Add(p, o.Flags))
	r.mask = uint32(n - 1)
	// The kernel's indexes start at zero, and so do ours.
	return unsafe.Add(p, o.Desc), nil
}

// setsockopt sets an SOL_XDP option from a struct.
func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

// kickTX asks the kernel to send what the TX ring holds. The call is a raw
// system call: sendto with MSG_DONTWAIT on an AF_XDP socket never sleeps
// (copy mode sends a bounded batch, zero-copy mode only wakes the driver),
// so the worker need not tell the runtime, and sysmon does not see a P in a
// system call to retake (each retake hands a locked worker's P to another
// thread and back). A raw call that blocked would be another matter: the
// runtime would count its goroutine as running, and a stop-the-world (GC)
// would wait for it until the call returned, stalling every goroutine;
// the blocking wait of an idle worker (wait) goes through the runtime.
func (x *xsk) kickTX() unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// txNeedsKick reports whether the kernel wants a sendto to go on sending:
// always without need_wakeup; with it, copy-mode sockets keep the flag set
// (only sendto transmits there) and zero-copy drivers clear it while they
// are running.
func (x *xsk) txNeedsKick() bool { return !x.wakeup || x.tx.needWakeup() }

// kickRX wakes a zero-copy driver that stopped for an empty fill ring and
// set the fill ring's need_wakeup flag: a raw, non-blocking recvfrom (see
// kickTX). Copy mode never sets the flag.
func (x *xsk) kickRX() {
	if x.wakeup && x.fill.needWakeup() {
		unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
}

// close closes the socket and unmaps its rings and UMEM. Nothing may use
// the rings or frames afterwards.
func (x *xsk) close() {
	if x.fd >= 0 {
		unix.Close(x.fd)
		x.fd = -1
	}
	for _, m := range x.maps {
		unix.Munmap(m)
	}
	x.maps = nil
	if x.umem != nil {
		unix.Munmap(x.umem)
		x.umem = nil
	}
}
