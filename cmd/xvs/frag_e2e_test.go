package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Fragments and IPv6 extension headers end to end, on the labs of
// e2e_test.go (links at the default 1500-byte MTU):
//
//	NAT:    client ── [ext  director  int] ── switch ── r1, r2, r3
//	DR:     client, director, r1..r3 on one bridge; reals hold the VIP on lo
//
//   - 4000-byte UDP datagrams, fragmented by the client's kernel, answered
//     whole (the real server's echo of 4000+ bytes comes back fragmented
//     too: through xvs's reply SNAT on NAT, straight from the real on DR);
//   - the same datagram crafted here and sent as IPv4 fragments with the
//     last one first: xvs holds the early fragments until the first arrives;
//   - IPv6 TCP SYNs with a hop-by-hop or destination-options header, sent
//     on a raw socket: a SYN-ACK comes back from the VIP, never a RST from
//     the director's kernel.

// fragSize is the datagram size of the issue: three fragments on 1500.
const fragSize = 4000

func TestFragmentsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			for _, mode := range []testnet.Mode{testnet.NAT, testnet.DR} {
				t.Run(mode.String(), func(t *testing.T) {
					l := startLab(t, mode, backend)
					// The kernel's own fragments and the extension-header
					// SYNs cross the lab's bridge at its defaults.
					for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
						t.Run(famName(vip)+"/udp-4000", func(t *testing.T) { checkBigUDP(t, l, vip) })
					}
					for _, ext := range []layers.IPProtocol{layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Destination} {
						t.Run("v6/syn-"+ext.String(), func(t *testing.T) { checkExtSYN(t, l, ext) })
					}
					// The crafted out-of-order fragments must reach the
					// director in the order sent: with bridge netfilter on,
					// a bridge may reassemble them and so repair the order.
					if l.Switch != nil {
						quietBridge(t, l)
					}
					t.Run("v4/out-of-order", func(t *testing.T) { checkOutOfOrder(t, l, l.VIP4) })
					for _, d := range l.stats(t).Drops {
						if strings.Contains(d.Reason, "frag") {
							t.Errorf("drop %s/%s = %d", d.Queue, d.Reason, d.Count)
						}
					}
				})
			}
		})
	}
}

func famName(a netip.Addr) string {
	if a.Is4() {
		return "v4"
	}
	return "v6"
}

// payload returns n bytes that differ per datagram i.
func payload(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j*13)
	}
	return b
}

// checkEcho verifies a labserver answer: "NAME PAYLOAD" with NAME a real.
func checkEcho(l *lab, answer, sent []byte) error {
	name, rest, ok := bytes.Cut(answer, []byte(" "))
	if !ok || !bytes.Equal(rest, sent) {
		return fmt.Errorf("answer of %d bytes is not an echo of the %d sent", len(answer), len(sent))
	}
	for _, r := range l.Reals {
		if string(name) == r.Name {
			return nil
		}
	}
	return fmt.Errorf("answer from %q, not a real server", name)
}

// checkBigUDP sends 20 datagrams of 4000 bytes from one socket each (new
// flows) and wants every one answered whole.
func checkBigUDP(t *testing.T, l *lab, vip netip.Addr) {
	const n = 20
	var errs []error
	err := l.Client.Do(func() error {
		for i := 0; i < n; i++ {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, 53)))
			if err != nil {
				return err
			}
			sent := payload(i, fragSize)
			var got error = errors.New("no answer")
			buf := make([]byte, 64<<10)
			// One resend: UDP in a lab under load may lose a datagram,
			// but not twice in a row.
			for try := 0; try < 2 && got != nil; try++ {
				if _, err := c.Write(sent); err != nil {
					c.Close()
					return err
				}
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				m, err := c.Read(buf)
				if err != nil {
					got = err
					continue
				}
				got = checkEcho(l, buf[:m], sent)
			}
			c.Close()
			if got != nil {
				errs = append(errs, fmt.Errorf("datagram %d: %w", i, got))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d 4000-byte datagrams not answered whole: %v (drops %v)", len(errs), n, errs, l.stats(t).Drops)
	}
}

// v4Fragments builds the IPv4 fragments (at most 1500 bytes each) of one
// UDP datagram from src to dst, checksums filled in.
func v4Fragments(t *testing.T, src, dst netip.AddrPort, data []byte, id uint16) [][]byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, Id: id,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(data)); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	hdr, body := whole[:20], whole[20:]
	var out [][]byte
	const chunk = 1480
	for off := 0; off < len(body); off += chunk {
		end := min(off+chunk, len(body))
		f := append(append([]byte(nil), hdr...), body[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := uint16(off / 8)
		if end < len(body) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		f[10], f[11] = 0, 0
		var s uint32
		for i := 0; i < 20; i += 2 {
			s += uint32(binary.BigEndian.Uint16(f[i:]))
		}
		for s > 0xffff {
			s = s>>16 + s&0xffff
		}
		binary.BigEndian.PutUint16(f[10:], ^uint16(s))
		out = append(out, f)
	}
	return out
}

// checkOutOfOrder sends 10 crafted datagrams as fragments, last first, from
// a port a UDP socket listens on, and wants each one answered.
func checkOutOfOrder(t *testing.T, l *lab, vip netip.Addr) {
	const n = 10
	var errs []error
	err := l.Client.Do(func() error {
		raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW) // IP_HDRINCL implied
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(raw)
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.Client.Addr4, 0)))
		if err != nil {
			return err
		}
		defer c.Close()
		src := c.LocalAddr().(*net.UDPAddr).AddrPort()
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		to := &unix.SockaddrInet4{Addr: vip.As4()}
		buf := make([]byte, 64<<10)
		for i := 0; i < n; i++ {
			sent := payload(100+i, fragSize)
			frags := v4Fragments(t, src, netip.AddrPortFrom(vip, 53), sent, uint16(0x7000+i))
			for j := len(frags) - 1; j >= 0; j-- { // last fragment first
				if err := unix.Sendto(raw, frags[j], 0, to); err != nil {
					return fmt.Errorf("send fragment: %w", err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			m, _, err := c.ReadFromUDPAddrPort(buf)
			if err == nil {
				err = checkEcho(l, buf[:m], sent)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("datagram %d: %w", i, err))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Crafted datagrams are not resent: allow one loss in ten on a loaded
	// machine, never more.
	if len(errs) > 1 {
		t.Errorf("%d of %d out-of-order datagrams not answered: %v (drops %v)", len(errs), n, errs, l.stats(t).Drops)
	}
}

// checkExtSYN sends TCP SYNs to VIP6:80 with an extension header before the
// TCP header and wants SYN-ACKs from the VIP for each, and no RST.
func checkExtSYN(t *testing.T, l *lab, ext layers.IPProtocol) {
	const n = 5
	vip := l.VIP6
	err := l.Client.Do(func() error {
		tx, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW) // IPV6_HDRINCL implied
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(tx)
		rx, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_TCP)
		if err != nil {
			return fmt.Errorf("raw tcp socket: %w", err)
		}
		defer unix.Close(rx)
		_ = unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000})
		synAck, rst := map[uint16]bool{}, 0
		for i := 0; i < n; i++ {
			sport := uint16(45000 + i)
			f, err := extSYN(l.Client.Addr6, vip, sport, ext)
			if err != nil {
				return err
			}
			if err := unix.Sendto(tx, f, 0, &unix.SockaddrInet6{Addr: vip.As16()}); err != nil {
				return fmt.Errorf("send SYN: %w", err)
			}
		}
		buf := make([]byte, 2048)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) && len(synAck) < n {
			m, from, err := unix.Recvfrom(rx, buf, 0)
			if err != nil || m < 20 {
				continue
			}
			sa, ok := from.(*unix.SockaddrInet6)
			if !ok || netip.AddrFrom16(sa.Addr) != vip {
				continue
			}
			sp, dp, flags := binary.BigEndian.Uint16(buf[0:]), binary.BigEndian.Uint16(buf[2:]), buf[13]
			if sp != 80 || dp < 45000 || dp >= 45000+n {
				continue
			}
			switch {
			case flags&0x04 != 0:
				rst++
			case flags&0x12 == 0x12:
				synAck[dp] = true
			}
		}
		if len(synAck) != n || rst != 0 {
			return fmt.Errorf("%d of %d SYNs with a %v header got a SYN-ACK from the VIP, %d got a RST", len(synAck), n, ext, rst)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%v (drops %v)", err, l.stats(t).Drops)
	}
}

// extSYN builds an IPv6 packet: fixed header, one hop-by-hop or
// destination-options header (a PadN option), a TCP SYN.
func extSYN(src, dst netip.Addr, sport uint16, ext layers.IPProtocol) ([]byte, error) {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: ext, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	opts := []byte{byte(layers.IPProtocolTCP), 0, 1, 4, 0, 0, 0, 0} // next header, len 0, PadN(4)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, SYN: true, Seq: 1000 + uint32(sport), Window: 64240}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, gopacket.Payload(opts), tcp)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), buf.Bytes()...), nil
}
