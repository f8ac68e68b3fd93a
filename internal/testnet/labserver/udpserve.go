package main

import (
	"errors"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// listenUDP binds addr. A wildcard host (":53") binds one IPv4 and one
// IPv6-only socket, so each family gets its own packet-info option.
// Every socket asks for the destination address of each datagram
// (IP_PKTINFO / IPV6_RECVPKTINFO) so the answer leaves from it: a socket
// bound to the wildcard would otherwise answer from the route's source
// address, not from a VIP held on lo.
func listenUDP(addr string) ([]*net.UDPConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	nets := []string{"udp"}
	if host == "" {
		nets = []string{"udp4", "udp6"}
	}
	var conns []*net.UDPConn
	for _, n := range nets {
		bind := net.JoinHostPort(host, port)
		if host == "" && n == "udp4" {
			bind = net.JoinHostPort("0.0.0.0", port)
		} else if host == "" {
			bind = net.JoinHostPort("::", port)
		}
		c, err := listenPktinfo(n, bind)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func listenPktinfo(network, addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	v6 := c.LocalAddr().(*net.UDPAddr).IP.To4() == nil
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	})
	if err = errors.Join(err, serr); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// serveUDP answers every datagram with "NAME PAYLOAD" from the address the
// datagram was sent to.
func (s *server) serveUDP(c *net.UDPConn) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, 256)
	out := make([]byte, 0, 64*1024+len(s.name)+1)
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Printf("udp %s: %v", c.LocalAddr(), err)
			}
			return
		}
		out = append(append(append(out[:0], s.name...), ' '), buf[:n]...)
		var reply []byte
		if dst, ok := pktinfoDst(oob[:oobn]); ok {
			reply = pktinfoSrc(dst)
		}
		if _, _, err := c.WriteMsgUDPAddrPort(out, reply, from); err != nil {
			s.log.Printf("udp answer to %s: %v", from, err)
		}
	}
}

// pktinfoDst finds the destination address in received control messages.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO &&
			len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex (4), spec_dst (4), addr (4).
			return netip.AddrFrom4([4]byte(m.Data[8:12])), true
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO &&
			len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo: addr (16), ifindex (4).
			return netip.AddrFrom16([16]byte(m.Data[0:16])), true
		}
	}
	return netip.Addr{}, false
}

// pktinfoSrc builds the control message that sends from src.
func pktinfoSrc(src netip.Addr) []byte {
	if src.Is4() {
		return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: src.As4()})
	}
	return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: src.As16()})
}
