package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/netns"
)

// conn is one instance's VRRP socket: raw IP protocol 112 on one interface,
// joined to the VRRP group, sending with TTL 255 and learning each
// advertisement's TTL and destination from control messages.
type conn struct {
	pc      *net.IPConn
	v6      bool
	ifindex int
	group   netip.Addr
	oob     []byte
	srcInfo []byte // the packet info control message naming the source
}

// openConn opens the socket. Every advert leaves from src, named in each
// send's packet info rather than bound (a raw socket bound to an address
// hears nothing sent to the group), so the address its checksum and its
// receivers' tie-break were computed with stays its source whatever
// addresses (the VIPs themselves) the interface gains later.
func openConn(nsPath, ifname string, v6 bool, src netip.Addr) (*conn, error) {
	var c *conn
	err := netns.Do(nsPath, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		family, group := unix.AF_INET, Group4
		if v6 {
			family, group = unix.AF_INET6, Group6
		}
		fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, IPProto)
		if err != nil {
			return fmt.Errorf("raw socket for VRRP: %w", err)
		}
		if err := setupSocket(fd, ifi, v6); err != nil {
			unix.Close(fd)
			return err
		}
		f := os.NewFile(uintptr(fd), "vrrp")
		pc, err := net.FilePacketConn(f)
		f.Close()
		if err != nil {
			return err
		}
		c = &conn{pc: pc.(*net.IPConn), v6: v6, ifindex: ifi.Index, group: group, oob: make([]byte, 128)}
		if v6 {
			c.srcInfo = unix.PktInfo6(&unix.Inet6Pktinfo{Addr: src.As16(), Ifindex: uint32(ifi.Index)})
		} else {
			c.srcInfo = unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: int32(ifi.Index), Spec_dst: src.Unmap().As4()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vrrp on %s: %w", ifname, err)
	}
	return c, nil
}

func setupSocket(fd int, ifi *net.Interface, v6 bool) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE: %w", err)
	}
	if v6 {
		mreq := &unix.IPv6Mreq{Interface: uint32(ifi.Index)}
		copy(mreq.Multiaddr[:], Group6.AsSlice())
		for _, o := range []struct {
			name string
			opt  int
			v    int
		}{
			{"IPV6_MULTICAST_HOPS", unix.IPV6_MULTICAST_HOPS, TTL},
			{"IPV6_UNICAST_HOPS", unix.IPV6_UNICAST_HOPS, TTL},
			{"IPV6_MULTICAST_LOOP", unix.IPV6_MULTICAST_LOOP, 0},
			{"IPV6_MULTICAST_IF", unix.IPV6_MULTICAST_IF, ifi.Index},
			{"IPV6_RECVHOPLIMIT", unix.IPV6_RECVHOPLIMIT, 1},
			{"IPV6_RECVPKTINFO", unix.IPV6_RECVPKTINFO, 1},
		} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o.opt, o.v); err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
		}
		if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
			return fmt.Errorf("joining %v: %w", Group6, err)
		}
		return nil
	}
	mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
	copy(mreq.Multiaddr[:], Group4.AsSlice())
	for _, o := range []struct {
		name string
		opt  int
		v    int
	}{
		{"IP_MULTICAST_TTL", unix.IP_MULTICAST_TTL, TTL},
		{"IP_TTL", unix.IP_TTL, TTL},
		{"IP_MULTICAST_LOOP", unix.IP_MULTICAST_LOOP, 0},
		{"IP_RECVTTL", unix.IP_RECVTTL, 1},
		{"IP_PKTINFO", unix.IP_PKTINFO, 1},
	} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, o.opt, o.v); err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
		return fmt.Errorf("IP_MULTICAST_IF: %w", err)
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fmt.Errorf("joining %v: %w", Group4, err)
	}
	return nil
}

// send sends msg to dst: the group, or a unicast peer. No zone is named:
// IPv6 multicast leaves by IPV6_MULTICAST_IF, link-local unicast by the
// socket's bound device, and a zone name would be resolved in the
// caller's namespace rather than the socket's.
func (c *conn) send(msg []byte, dst netip.Addr) error {
	_, _, err := c.pc.WriteMsgIP(msg, c.srcInfo, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// recv reads one packet until deadline: its VRRP message (the IPv4 header
// removed), source, destination and TTL or hop limit.
func (c *conn) recv(ctx context.Context, buf []byte, deadline time.Time, pending func() bool) (msg []byte, src, dst netip.Addr, ttl int, err error) {
	if err = c.pc.SetReadDeadline(deadline); err != nil {
		return
	}
	// A stop (or a tracking change) that set its past deadline before ours
	// was set is seen here; one after it wakes the read.
	if err = ctx.Err(); err != nil {
		return
	}
	if pending != nil && pending() {
		return nil, src, dst, ttl, os.ErrDeadlineExceeded
	}
	n, oobn, _, from, err := c.pc.ReadMsgIP(buf, c.oob)
	if err != nil {
		return
	}
	msg = buf[:n]
	src, _ = netip.AddrFromSlice(from.IP)
	src = src.Unmap()
	ttl = -1
	if !c.v6 && n >= 20 && msg[0]>>4 == 4 {
		// Raw IPv4 sockets may hand over the IP header: take what it says.
		ihl := int(msg[0]&0x0f) * 4
		ttl = int(msg[8])
		dst = netip.AddrFrom4([4]byte(msg[16:20]))
		if ihl < 20 || ihl > n {
			return nil, src, dst, ttl, errShortHeader
		}
		msg = msg[ihl:]
	}
	cms, perr := unix.ParseSocketControlMessage(c.oob[:oobn])
	if perr != nil {
		return msg, src, dst, ttl, nil
	}
	for _, cm := range cms {
		switch {
		case cm.Header.Level == unix.IPPROTO_IP && cm.Header.Type == unix.IP_TTL && len(cm.Data) >= 4:
			ttl = int(binary.NativeEndian.Uint32(cm.Data))
		case cm.Header.Level == unix.IPPROTO_IP && cm.Header.Type == unix.IP_PKTINFO && len(cm.Data) >= 12:
			dst = netip.AddrFrom4([4]byte(cm.Data[8:12])) // ipi_addr: the header's destination
		case cm.Header.Level == unix.IPPROTO_IPV6 && cm.Header.Type == unix.IPV6_HOPLIMIT && len(cm.Data) >= 4:
			ttl = int(binary.NativeEndian.Uint32(cm.Data))
		case cm.Header.Level == unix.IPPROTO_IPV6 && cm.Header.Type == unix.IPV6_PKTINFO && len(cm.Data) >= 16:
			dst = netip.AddrFrom16([16]byte(cm.Data[:16]))
		}
	}
	return msg, src, dst, ttl, nil
}

func (c *conn) close() error { return c.pc.Close() }

var errShortHeader = errors.New("vrrp: IPv4 header longer than the packet")
