package connsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/netns"
)

// DaemonConfig is one sync daemon, as ipvsadm --start-daemon configures it.
type DaemonConfig struct {
	// Interface carries the multicast (--mcast-interface).
	Interface string
	// SyncID is --syncid; a backup with 0 takes every sync ID.
	SyncID uint8
	// MaxLen is --sync-maxlen; 0 means DefaultMaxLen for a master.
	MaxLen int
	// Group and Port are --mcast-group and --mcast-port; zero values mean
	// Group and Port.
	Group netip.Addr
	Port  int
	// Peers, when set, replace the group (xvs only; IPVS has no unicast
	// sync): a master sends every datagram to each peer, a backup sends
	// its dump request to each, and neither joins a group (unicast.go).
	// IPv4 peers only; a zero port is Port. A group beside them is an
	// error.
	Peers []netip.AddrPort
	// TTL is --mcast-ttl (default 1: sync stays on the link); unicast
	// datagrams keep the system's TTL, so peers may be routed.
	TTL int
	// SockSize is a backup's receive buffer in bytes (IPVS's
	// sync_sock_size); 0 means DefaultBackupBuffer. A full-table dump
	// arrives as a burst of datagrams, which the kernel's default buffer
	// (about 60 of them) would drop while the backup is descheduled.
	SockSize int
	// NetNS is the path of the network namespace the daemon's sockets live
	// in; empty for the caller's.
	NetNS string
}

func (c *DaemonConfig) defaults() error {
	if c.Port == 0 {
		c.Port = Port
	}
	if len(c.Peers) > 0 {
		if err := c.unicastPeers(); err != nil {
			return err
		}
	} else if !c.Group.IsValid() {
		c.Group = Group
	}
	if c.TTL == 0 {
		c.TTL = 1
	}
	if c.MaxLen == 0 {
		c.MaxLen = DefaultMaxLen
	}
	if len(c.Peers) == 0 && !c.Group.Is4() {
		return fmt.Errorf("sync group %v: only IPv4 groups are supported", c.Group)
	}
	return nil
}

// Master sends sync messages. Writers (one per forwarding worker, so that
// the packet path takes no lock) fill messages and send them through the
// master's one socket.
type Master struct {
	cfg DaemonConfig
	fd  int
	src netip.Addr // the address it sends from
	// peers are cfg.Peers as the socket takes them, built once so that
	// a send allocates nothing; nil for a multicast master.
	peers []unix.Sockaddr
	Sent  atomic.Uint64 // datagrams
	Lost  atomic.Uint64 // datagrams the socket refused
	// Requests counts the dump requests ServeRequests heard.
	Requests atomic.Uint64
	// PeerMessages and PeerConns count the messages of another master
	// that Serve heard, and their entries.
	PeerMessages, PeerConns atomic.Uint64
}

// NewMaster opens the master's socket: UDP from the interface's primary
// IPv4 address, connected to the group, multicast loop off, the given TTL,
// and no path-MTU discovery (the kernel's make_send_sock). With cfg.Peers
// the socket is a unicast one instead (newUnicast).
func NewMaster(cfg DaemonConfig) (*Master, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if len(cfg.Peers) > 0 {
		return newUnicast(cfg, cfg.Port)
	}
	return openMaster(cfg, func(fd int, ifi *net.Interface, src netip.Addr) error {
		mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
		return steps(
			step{"IP_MULTICAST_IF", func() error { return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq) }},
			step{"IP_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0) }},
			step{"IP_MULTICAST_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, cfg.TTL) }},
			step{"IP_MTU_DISCOVER", func() error {
				return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
			}},
			step{"bind", func() error { return unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}) }},
			step{"connect", func() error { return unix.Connect(fd, &unix.SockaddrInet4{Addr: cfg.Group.As4(), Port: cfg.Port}) }},
		)
	})
}

// openMaster opens a master's UDP socket in cfg's namespace, from the
// interface's primary IPv4 address, and has setup (NewMaster's multicast
// options, newUnicast's binding) make it ready; on an error nothing stays
// open.
func openMaster(cfg DaemonConfig, setup func(fd int, ifi *net.Interface, src netip.Addr) error) (*Master, error) {
	m := &Master{cfg: cfg, fd: -1}
	for _, p := range cfg.Peers {
		m.peers = append(m.peers, &unix.SockaddrInet4{Addr: p.Addr().As4(), Port: int(p.Port())})
	}
	err := netns.Do(cfg.NetNS, func() error {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return err
		}
		if m.src, err = primary4(ifi); err != nil {
			return err
		}
		if m.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP); err != nil {
			m.fd = -1
			return err
		}
		return setup(m.fd, ifi, m.src)
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("sync master on %s: %w", cfg.Interface, err)
	}
	return m, nil
}

// step is one call setting up a socket, named for its error.
type step struct {
	name string
	do   func() error
}

// steps runs the calls in order and stops at the first that fails: a
// later one (connect after a failed bind) must not run on a socket the
// earlier left unready.
func steps(ss ...step) error {
	for _, s := range ss {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func primary4(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				return ip.Unmap(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address to send sync messages from", ifi.Name)
}

// Close closes the socket.
func (m *Master) Close() error {
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	return err
}

// FlushAfter is how long a partly filled message may wait for more entries
// (the kernel's IPVS_SYNC_FLUSH_TIME).
const FlushAfter = 2 * time.Second

// Writer fills one message at a time for one worker. It is not safe for
// concurrent use.
type Writer struct {
	m     *Master
	msg   Message
	buf   []byte
	first time.Time // when the open message got its first entry
}

// NewWriter returns a writer that sends through m.
func (m *Master) NewWriter() *Writer {
	w := &Writer{m: m, buf: make([]byte, 0, m.cfg.MaxLen)}
	w.msg.Reset(w.buf, m.cfg.SyncID, m.cfg.MaxLen)
	return w
}

// Add puts c in the open message, sending the message first if c does not
// fit. now is the caller's clock, for Flush.
func (w *Writer) Add(c *Conn, now time.Time) error {
	err := w.msg.Add(c)
	if errors.Is(err, ErrFull) {
		w.send()
		err = w.msg.Add(c)
	}
	if err == nil && w.msg.Len() == 1 {
		w.first = now
	}
	return err
}

// Flush sends the open message if it has waited FlushAfter (or force).
func (w *Writer) Flush(now time.Time, force bool) {
	if w.msg.Len() > 0 && (force || now.Sub(w.first) >= FlushAfter) {
		w.send()
	}
}

func (w *Writer) send() {
	if w.m.peers != nil {
		w.m.sendPeers(w.msg.Bytes())
	} else if _, err := unix.Write(w.m.fd, w.msg.Bytes()); err != nil {
		w.m.Lost.Add(1)
	} else {
		w.m.Sent.Add(1)
	}
	w.msg.Reset(w.buf, w.m.cfg.SyncID, w.m.cfg.MaxLen)
}

// Backup receives sync messages and hands each entry to a callback.
type Backup struct {
	cfg DaemonConfig
	pc  net.PacketConn
	dec Decoder
	// Counters of what arrived.
	Messages, Dropped, Conns, Skipped atomic.Uint64
	// Ignored counts messages of another sync ID; droppedBy splits
	// Dropped by Decode's error (see Stats).
	Ignored   atomic.Uint64
	droppedBy [len(DecodeErrors)]atomic.Uint64
}

// NewBackup opens the backup's socket: bound to the group and port on the
// interface, joined to the group (the kernel's make_receive_sock). With
// cfg.Peers it binds the port on the interface's addresses instead and
// joins nothing.
func NewBackup(cfg DaemonConfig) (*Backup, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.SockSize <= 0 {
		cfg.SockSize = DefaultBackupBuffer
	}
	unicast := len(cfg.Peers) > 0
	b := &Backup{cfg: cfg, dec: Decoder{SyncID: cfg.SyncID}}
	err := netns.Do(cfg.NetNS, func() error {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			return err
		}
		// A unicast backup binds the wildcard address on the device: the
		// peers send to any of the interface's addresses.
		bindTo := &unix.SockaddrInet4{Port: cfg.Port}
		ss := []step{
			{"SO_REUSEADDR", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }},
			{"SO_RCVBUF", func() error { return setRcvBuf(fd, cfg.SockSize) }},
			{"SO_BINDTODEVICE", func() error { return unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name) }},
			{"bind", func() error { return unix.Bind(fd, bindTo) }},
		}
		if !unicast {
			bindTo.Addr = cfg.Group.As4()
			mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index), Multiaddr: cfg.Group.As4()}
			ss = append(ss, step{"IP_ADD_MEMBERSHIP", func() error {
				return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq)
			}})
		}
		if err := steps(ss...); err != nil {
			unix.Close(fd)
			return err
		}
		f := os.NewFile(uintptr(fd), "sync-backup")
		defer f.Close()
		b.pc, err = net.FilePacketConn(f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sync backup on %s: %w", cfg.Interface, err)
	}
	return b, nil
}

// DefaultBackupBuffer is a backup's receive buffer: some 2700 datagrams
// of 1472 bytes, a dump of about 100 000 connections in flight.
const DefaultBackupBuffer = 4 << 20

// setRcvBuf sets fd's receive buffer to n bytes: past net.core.rmem_max
// with CAP_NET_ADMIN (SO_RCVBUFFORCE, as a root daemon has it), else as
// far as the limit allows. The machine's sysctls stay as they are.
func setRcvBuf(fd, n int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n); err == nil {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
}

// Run reads messages until ctx ends, calling install for every entry (see
// Decoder.Decode for what install may keep).
func (b *Backup) Run(ctx context.Context, install func(*Conn)) error {
	stop := context.AfterFunc(ctx, func() { b.pc.SetReadDeadline(time.Unix(1, 0)) }) //nolint:errcheck // wakes the read
	defer stop()
	defer b.pc.Close()
	buf := make([]byte, 65536)
	for {
		n, _, err := b.pc.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sync backup: %w", err)
		}
		b.Messages.Add(1)
		d, err := b.dec.Decode(buf[:n], install)
		if err != nil {
			b.drop(err)
		}
		if d.Ignored {
			b.Ignored.Add(1)
		}
		b.Conns.Add(uint64(d.Conns))
		b.Skipped.Add(uint64(d.Skipped))
	}
}
