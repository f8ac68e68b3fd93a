package testnet

// TestOffloadChecksums captures, with an AF_PACKET socket on the director's
// interfaces, what the client and a real server send it (NAT lab):
//
//	client --(ext)--> director <--(int)-- [bridge] -- r1
//
// With Options.TxChecksumOff (TX checksum offload off on every veth end) every
// TCP and UDP packet must arrive with a complete, valid L4 checksum and
// without TP_STATUS_CSUMNOTREADY. With the kernel's defaults (the lab's default) the same packets
// arrive CHECKSUM_PARTIAL (and TCP in GSO super-packets far above the MTU),
// which proves the capture can tell the difference.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/encap"
)

func TestOffloadChecksums(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep-offloads=%v", keep), func(t *testing.T) {
			l := NewT(t, Options{Mode: NAT, Reals: 1, TxChecksumOff: !keep})
			for _, h := range l.Hosts() {
				for _, k := range h.Links {
					on, err := h.Offload(k.Iface, TxChecksum)
					if err != nil {
						t.Fatal(err)
					}
					if on != keep {
						t.Errorf("%s %s: tx checksum offload %v, want %v", h.Name, k.Iface, on, keep)
					}
					tso, err := h.Offload(k.Iface, TSO)
					if err != nil {
						t.Fatal(err)
					}
					if tso != keep {
						t.Errorf("%s %s: tso %v, want %v", h.Name, k.Iface, tso, keep)
					}
				}
			}
			paths := []struct {
				from       *Host
				iface      string // director interface to capture on
				dst4, dst6 netip.Addr
			}{
				{l.Client, l.Director.Links[0].Iface, l.Director.Links[0].Addr4.Addr(), l.Director.Links[0].Addr6.Addr()},
				{l.Reals[0], l.Director.Links[1].Iface, l.Director.Links[1].Addr4.Addr(), l.Director.Links[1].Addr6.Addr()},
			}
			for _, p := range paths {
				pkts := captureWhile(t, l.Director, p.iface, func() {
					sendProbes(t, p.from, p.dst4, p.dst6)
					sendBulk(t, p.from, l.Director, p.dst4, 256<<10)
				})
				var seen, partial, bad, largest int
				for _, pk := range pkts {
					src, ok := pk.src()
					if !ok || (src != p.from.Addr4 && src != p.from.Addr6) {
						continue
					}
					seen++
					largest = max(largest, len(pk.frame))
					if pk.status&unix.TP_STATUS_CSUMNOTREADY != 0 {
						partial++
					}
					if !pk.l4ChecksumOK() {
						bad++
					}
				}
				// UDP and TCP SYN, both families, at least.
				if seen < 4 {
					t.Fatalf("%s -> director %s: captured %d probe packets, want >= 4", p.from.Name, p.iface, seen)
				}
				t.Logf("%s -> director %s: %d packets, %d CHECKSUM_PARTIAL, %d bad L4 checksums, largest frame %d bytes",
					p.from.Name, p.iface, seen, partial, bad, largest)
				if !keep && (partial != 0 || bad != 0) {
					t.Errorf("offloads off: %d of %d packets partial, %d with a bad checksum; want none", partial, seen, bad)
				}
				// No TSO/GSO super-packets either: what a veth carries fits its MTU.
				if want := DefaultMTU + 14; !keep && largest > want {
					t.Errorf("offloads off: a %d-byte frame crossed the veth, want <= %d", largest, want)
				}
				// Not all: replies the stack builds itself (a TIME_WAIT ACK, a
				// RST) are checksummed in software even with offloads on.
				if keep && (partial == 0 || bad == 0) {
					t.Errorf("offloads kept: %d of %d packets partial, %d bad; want some of each", partial, seen, bad)
				}
			}
		})
	}
}

// sendProbes sends, from h, a UDP datagram and a TCP SYN to port 9 of each
// address (nothing listens: the SYN is refused, which is fine).
func sendProbes(t *testing.T, h *Host, dsts ...netip.Addr) {
	t.Helper()
	for _, d := range dsts {
		var udp net.Conn
		err := h.Do(func() (err error) {
			udp, err = net.Dial("udp", netip.AddrPortFrom(d, 9).String())
			if err != nil {
				return err
			}
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(d, 9).String(), time.Second)
			if err == nil {
				_ = c.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := udp.Write([]byte("xvs checksum probe, some payload to sum")); err != nil {
			t.Fatal(err)
		}
		_ = udp.Close()
	}
}

// sendBulk sends n bytes over TCP from h to a listener opened on dst in
// sink's namespace: a stream the stack would hand to TSO/GSO in big chunks.
func sendBulk(t *testing.T, h, sink *Host, dst netip.Addr, n int) {
	t.Helper()
	var ln net.Listener
	if err := sink.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		k, _ := io.Copy(io.Discard, c)
		got <- k
	}()
	var c net.Conn
	if err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if k := <-got; k != int64(n) {
		t.Fatalf("bulk %s -> %s: sink got %d bytes, want %d", h.Name, dst, k, n)
	}
}

// captured is one frame and its PACKET_AUXDATA status.
type captured struct {
	frame  []byte
	status uint32
}

// captureWhile captures every frame on iface in h's namespace while send
// runs, and for 200 ms after.
func captureWhile(t *testing.T, h *Host, iface string, send func()) []captured {
	t.Helper()
	var fd int
	err := h.Do(func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			return errors.Join(err, unix.Close(fd))
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return errors.Join(err, unix.Close(fd))
		}
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", iface, err)
	}
	defer unix.Close(fd)

	done := make(chan struct{})
	go func() { send(); close(done) }()
	var out []captured
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	var until time.Time
	for {
		select {
		case <-done:
			if until.IsZero() {
				until = time.Now().Add(200 * time.Millisecond)
			}
		default:
		}
		if !until.IsZero() && time.Now().After(until) {
			return out
		}
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("capture on %s: %v", iface, err)
		}
		out = append(out, captured{frame: append([]byte(nil), buf[:n]...), status: auxStatus(oob[:oobn])})
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// auxStatus returns tp_status from a PACKET_AUXDATA control message.
func auxStatus(oob []byte) uint32 {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data)
		}
	}
	return 0
}

// l3 splits an Ethernet frame carrying TCP or UDP over IPv4 or IPv6 (no
// options beyond IHL, no extension headers): addresses, protocol, L4 bytes.
func (c captured) l3() (src, dst netip.Addr, proto byte, l4 []byte, ok bool) {
	f := c.frame
	if len(f) < 14 {
		return
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		ip := f[14:]
		if len(ip) < 20 {
			return
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return
		}
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		proto, l4 = ip[9], ip[ihl:total]
	case 0x86dd:
		ip := f[14:]
		if len(ip) < 40 {
			return
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+plen > len(ip) {
			return
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		proto, l4 = ip[6], ip[40:40+plen]
	default:
		return
	}
	return src, dst, proto, l4, proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_UDP
}

// src returns the source address of a TCP or UDP packet.
func (c captured) src() (netip.Addr, bool) {
	s, _, _, _, ok := c.l3()
	return s, ok
}

// l4ChecksumOK verifies the TCP/UDP checksum over the pseudo-header.
func (c captured) l4ChecksumOK() bool {
	src, dst, proto, l4, ok := c.l3()
	if !ok {
		return false
	}
	return encap.Checksum(l4, encap.PseudoHeaderSum(src.AsSlice(), dst.AsSlice(), proto, len(l4))) == 0
}
