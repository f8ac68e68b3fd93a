package health

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/netns"
)

// Net says where a probe's socket comes from. The zero value dials from the director's own
// namespace with the kernel's choice of source address.
type Net struct {
	// Source binds the probe's socket (keepalived bindto); Port binds its port (bind_port).
	Source netip.Addr
	Port   uint16
	// Device binds the socket to an interface (bind_if, SO_BINDTODEVICE).
	Device string
	// Mark sets SO_MARK (keepalived's checker fwmark), for policy routing of probes.
	Mark uint32
	// Control runs on the raw socket before it connects, after the options above.
	Control func(network, address string, c syscall.RawConn) error
	// Enter, when set, runs fn where the socket must be made: a new socket belongs to the network
	// namespace of the thread that creates it, so InNetns(path) makes probes start inside that
	// namespace and keep working from it. Exec checks start their process inside Enter too.
	Enter func(fn func() error) error
	// Via, when valid, is dialled instead of the checker's target: a path-true probe of a DR or
	// TUN real server connects to the service's VIP:port and is routed to the server (see Mark).
	Via netip.AddrPort
}

func (n *Net) enter(fn func() error) error {
	if n == nil || n.Enter == nil {
		return fn()
	}
	return n.Enter(fn)
}

func (n *Net) control(network, address string, c syscall.RawConn) error {
	if n == nil {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		if n.Device != "" {
			if serr = unix.BindToDevice(int(fd), n.Device); serr != nil {
				return
			}
		}
		if n.Mark != 0 {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(n.Mark))
		}
	})
	if err == nil {
		err = serr
	}
	if err == nil && n.Control != nil {
		err = n.Control(network, address, c)
	}
	return err
}

// dialer returns a net.Dialer bound as n says; tcp says which kind of local address to build.
func (n *Net) dialer(tcp bool) *net.Dialer {
	d := &net.Dialer{Control: n.control}
	if n == nil {
		return d
	}
	if n.Source.IsValid() || n.Port != 0 {
		ap := netip.AddrPortFrom(n.Source, n.Port)
		if tcp {
			d.LocalAddr = net.TCPAddrFromAddrPort(ap)
		} else {
			d.LocalAddr = net.UDPAddrFromAddrPort(ap)
		}
	}
	return d
}

// Dial connects to addr over network ("tcp" or "udp") as n says, within ctx.
func (n *Net) Dial(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	if n != nil && n.Via.IsValid() {
		addr = n.Via
	}
	err := n.enter(func() error {
		var err error
		c, err = n.dialer(network == "tcp").DialContext(ctx, network, addr.String())
		return err
	})
	return c, err
}

// session dials like Dial and bounds the connection's whole life by ctx: its deadline becomes
// the socket's, and cancelling ctx wakes a blocked read at once. Closing the connection
// releases the hook.
func (n *Net) session(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
	c, err := n.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(deadline(ctx))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	return &boundConn{Conn: c, stop: stop}, nil
}

type boundConn struct {
	net.Conn
	stop func() bool
}

func (b *boundConn) Close() error {
	b.stop()
	return b.Conn.Close()
}

// netOf is the Net a network checker dials through; nil for others.
func netOf(c Checker) *Net {
	switch c := c.(type) {
	case *TCP:
		return c.Net
	case *HTTP:
		return c.Net
	case *UDP:
		return c.Net
	case *DNS:
		return c.Net
	}
	return nil
}

// viaOrZero is n's Via; the zero AddrPort for a nil Net.
func (n *Net) viaOrZero() netip.AddrPort {
	if n == nil {
		return netip.AddrPort{}
	}
	return n.Via
}

// InNetns returns an Enter function that runs fn on a thread switched into the network
// namespace at path (e.g. /run/netns/probe) and switches the thread back afterwards. If the
// switch back fails the thread is left locked, so the Go runtime retires it instead of reusing
// a thread in the wrong namespace.
func InNetns(path string) func(fn func() error) error {
	return func(fn func() error) error { return netns.Do(path, fn) }
}

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read or write at once.
var aLongTimeAgo = time.Unix(1, 0)
