package connsync

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Unicast sync (DaemonConfig.Peers) is xvs's own: IPVS's daemons speak
// only multicast, and networks without multicast (clouds, some switches)
// still need a backup that knows the connections. The messages are the
// same v1 datagrams; only their addressing differs.

// unicastPeers checks c.Peers (IPv4 unicast addresses, no group beside
// them) and gives a zero port c.Port, in a copy of the caller's slice.
func (c *DaemonConfig) unicastPeers() error {
	if c.Group.IsValid() {
		return fmt.Errorf("sync: a multicast group (%v) and unicast peers cannot be mixed; give one of them", c.Group)
	}
	peers := make([]netip.AddrPort, len(c.Peers))
	for i, p := range c.Peers {
		a := p.Addr().Unmap()
		if !a.Is4() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return fmt.Errorf("sync peer %v: only IPv4 unicast peers are supported", p)
		}
		port := p.Port()
		if port == 0 {
			port = uint16(c.Port)
		}
		peers[i] = netip.AddrPortFrom(a, port)
	}
	c.Peers = peers
	return nil
}

// newUnicast opens a unicast master's socket: UDP from the interface's
// primary IPv4 address and port, bound to the device, unconnected (each
// datagram goes to every peer by sendto), no multicast options and no
// path-MTU discovery. port is the sync port for a master, whose socket
// also hears the peers' dump requests and a split brain's other master
// (Serve), or 0 for a one-off sender (requestPeers). SO_REUSEADDR lets a
// backup's socket bind the port while a master that yields hands its
// table over.
func newUnicast(cfg DaemonConfig, port int) (*Master, error) {
	return openMaster(cfg, func(fd int, ifi *net.Interface, src netip.Addr) error {
		return steps(
			step{"SO_REUSEADDR", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }},
			step{"SO_BINDTODEVICE", func() error { return unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name) }},
			step{"IP_MTU_DISCOVER", func() error {
				return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
			}},
			step{"bind", func() error { return unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4(), Port: port}) }},
		)
	})
}

// sendPeers sends b to every peer; Sent and Lost count datagrams, one per
// peer. It allocates nothing: the sockaddrs are built once.
func (m *Master) sendPeers(b []byte) {
	for _, sa := range m.peers {
		if err := unix.Sendto(m.fd, b, 0, sa); err != nil {
			m.Lost.Add(1)
		} else {
			m.Sent.Add(1)
		}
	}
}

// NewSender is NewMaster for a master that only sends, such as one
// handing its table over as it yields: a unicast one (cfg.Peers) sends
// from an ephemeral port, leaving the sync port to the backup's socket
// (its Serve hears nothing); a multicast one is NewMaster's.
func NewSender(cfg DaemonConfig) (*Master, error) {
	if len(cfg.Peers) == 0 {
		return NewMaster(cfg)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return newUnicast(cfg, 0)
}

// requestPeers is RequestDump for unicast peers.
func requestPeers(cfg DaemonConfig) error {
	m, err := NewSender(cfg)
	if err != nil {
		return fmt.Errorf("sync dump request: %w", err)
	}
	defer m.Close()
	m.sendPeers(Request(cfg.SyncID))
	if m.Sent.Load() == 0 {
		return fmt.Errorf("sync dump request on %s: no peer took it", cfg.Interface)
	}
	return nil
}

// ownConn is the unicast master's socket for reading (Serve), on a
// duplicate descriptor that closes on its own.
func (m *Master) ownConn() (net.PacketConn, error) {
	fd, err := unix.FcntlInt(uintptr(m.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "sync-master")
	defer f.Close()
	return net.FilePacketConn(f)
}
