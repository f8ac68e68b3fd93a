package pathprobe

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/service"
)

// The TAP device's frames: room in front for the outer headers, and the
// largest frame the device's MTU lets through.
const (
	headroom      = 64 // ≥ maxOverhead
	maxFrame      = 14 + 65535
	tapMinIPv6MTU = 1280
)

// maxOverhead is the largest tunnel overhead: IPv6 + UDP + GUE, 52 bytes.
var maxOverhead = encap.TunnelOverhead(6, encap.Tunnel{Type: encap.TunnelGUE})

// tunnelHop is the TAP device of the encapsulating hop, its reader and the
// raw sockets that send the encapsulated probes.
type tunnelHop struct {
	f          *os.File
	index      int
	raw4, raw6 int // -1 when the family has no probe address
	done       chan struct{}
	started    bool // the reader runs and closes done
	counters
}

// tunnelPath is what the reader needs of one TUN path.
type tunnelPath struct {
	tunnel   encap.Tunnel
	src, dst [16]byte
	fd       int
	sa       unix.Sockaddr
}

// counters are the hop's, read by Stats.
type counters struct {
	sent, notOurs, dropped, sendErrors atomic.Uint64
}

// Stats counts the encapsulating hop's frames.
type Stats struct {
	// Sent is probe packets encapsulated and sent toward TUN real servers.
	Sent uint64
	// NotOurs is frames the kernel sent to the TAP device for no path
	// (its own IPv6 multicast, a path just removed).
	NotOurs uint64
	// Dropped is probe packets that could not be encapsulated (not IP,
	// too big for the headroom or the length fields).
	Dropped uint64
	// SendErrors is encapsulated packets the raw socket refused.
	SendErrors uint64
}

// Stats returns the hop's counters.
func (p *Prober) Stats() Stats {
	h := p.tap
	return Stats{Sent: h.sent.Load(), NotOurs: h.notOurs.Load(), Dropped: h.dropped.Load(), SendErrors: h.sendErrors.Load()}
}

// openTunnelHop makes the TAP device and the raw sockets inside the probe
// namespace and starts the reader. The device's MTU leaves room for the
// largest tunnel header within the macvlan's MTU, so the kernel's TCP never
// hands it a probe that would not fit once encapsulated.
func (p *Prober) openTunnelHop(mtu int) (*tunnelHop, error) {
	h := &tunnelHop{raw4: -1, raw6: -1, done: make(chan struct{})}
	var fd int
	err := p.enter(func() error {
		var err error
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0); err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(tapIfName)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return err
		}
		h.f = os.NewFile(uintptr(fd), "/dev/net/tun")
		if p.v4.IsValid() {
			if h.raw4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_RAW); err != nil {
				return err
			}
		}
		if p.v6.IsValid() {
			// IPPROTO_RAW implies IPV6_HDRINCL: the header is ours.
			if h.raw6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_RAW); err != nil {
				return err
			}
			// No link-local address, router solicitations or MLD reports on
			// the TAP device: its only neighbours are the static ones.
			return os.WriteFile("/proc/sys/net/ipv6/conf/"+tapIfName+"/addr_gen_mode", []byte("1"), 0)
		}
		return nil
	})
	if err != nil {
		h.close()
		return nil, err
	}
	link, err := p.nl.LinkByName(tapIfName)
	if err != nil {
		h.close()
		return nil, err
	}
	h.index = link.Attrs().Index
	tmtu := mtu - maxOverhead
	if p.v6.IsValid() && tmtu < tapMinIPv6MTU {
		p.log.Warn("path-true probes: the interface's MTU leaves less than IPv6's minimum for TUN probes",
			"interface", p.iface, "mtu", mtu)
	}
	for _, step := range []func() error{
		func() error { return p.nl.LinkSetMTU(link, tmtu) },
		func() error { return p.nl.LinkSetARPOff(link) },
		func() error { return p.nl.LinkSetUp(link) },
	} {
		if err := step(); err != nil {
			h.close()
			return nil, err
		}
	}
	h.started = true
	go p.readTunnel(h)
	return h, nil
}

// close stops the reader and closes the sockets.
func (h *tunnelHop) close() error {
	var err error
	if h.f != nil {
		err = h.f.Close()
		if h.started {
			<-h.done
		}
	}
	for _, fd := range []int{h.raw4, h.raw6} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	h.raw4, h.raw6 = -1, -1
	return err
}

// readTunnel encapsulates every frame the kernel routes to a TUN path until
// the device is closed.
func (p *Prober) readTunnel(h *tunnelHop) {
	defer close(h.done)
	buf := make([]byte, headroom+maxFrame)
	var pkt encap.Packet
	var id uint16
	for {
		n, err := h.f.Read(buf[headroom:])
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				p.log.Error("path-true probes: the tunnel hop stopped", "interface", p.iface, "err", err)
			}
			return
		}
		id++
		p.forward(h, buf, n, &pkt, id)
	}
}

// forward encapsulates the frame buf[headroom:headroom+n] for the path its
// destination MAC names and sends it. It does not allocate.
func (p *Prober) forward(h *tunnelHop, buf []byte, n int, pkt *encap.Packet, id uint16) {
	f := buf[headroom : headroom+n]
	if n < 14 || [4]byte(f[:4]) != macPrefix {
		h.notOurs.Add(1)
		return
	}
	idx := int(f[4])<<8 | int(f[5])
	ts := p.tunnels.Load()
	if ts == nil || idx >= len(*ts) || (*ts)[idx] == nil {
		h.notOurs.Add(1)
		return
	}
	t := (*ts)[idx]
	encap.Parse(f, pkt)
	off, m, ok := encap.PushTunnel(buf, headroom, n, pkt, t.tunnel, t.src, t.dst, id)
	if !ok || t.fd < 0 {
		h.dropped.Add(1)
		return
	}
	if err := unix.Sendto(t.fd, buf[off+pkt.L3:off+m], 0, t.sa); err != nil {
		h.sendErrors.Add(1)
		return
	}
	h.sent.Add(1)
}

// publishTunnels rebuilds the reader's view of the TUN paths; mu is held.
func (p *Prober) publishTunnels() {
	ts := make([]*tunnelPath, 0, p.next)
	for _, pa := range p.paths {
		if pa.key.method != service.MethodTUN {
			continue
		}
		for len(ts) <= int(pa.idx) {
			ts = append(ts, nil)
		}
		ts[pa.idx] = p.tunnelPathOf(pa)
	}
	p.tunnels.Store(&ts)
}

func (p *Prober) tunnelPathOf(pa *path) *tunnelPath {
	t := pa.key.tunnel
	tp := &tunnelPath{
		tunnel: encap.Tunnel{Type: encap.TunnelType(t.Type), Port: t.Port, Csum: t.Csum != service.TunNoCsum},
		dst:    pa.key.addr.As16(),
	}
	if pa.key.addr.Is4() {
		// As16 of an IPv4 address is its v4-mapped form, as encap wants it.
		tp.src, tp.fd = p.v4.Addr().As16(), p.tap.raw4
		tp.sa = &unix.SockaddrInet4{Addr: pa.key.addr.As4()}
	} else {
		tp.src, tp.fd = p.v6.Addr().As16(), p.tap.raw6
		tp.sa = &unix.SockaddrInet6{Addr: pa.key.addr.As16()}
	}
	return tp
}
