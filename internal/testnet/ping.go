package testnet

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/encap"
)

// defaultPingWait bounds Ping when ctx has no deadline.
const defaultPingWait = 3 * time.Second

// pingInterval is the gap between echo requests; the first one may wait for
// ARP or ND.
const pingInterval = 200 * time.Millisecond

// ICMP echo types.
const (
	icmp4EchoRequest = 8
	icmp4EchoReply   = 0
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
)

// Ping sends ICMP echo requests from h to addr every 200 ms until one is
// answered by addr, or fails with ErrNoReply when ctx ends (after three
// seconds if ctx has no deadline). It uses a raw socket opened inside h's
// namespace, so no ping binary is needed.
func (h *Host) Ping(ctx context.Context, addr netip.Addr) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultPingWait)
		defer cancel()
	}
	addr = addr.Unmap()
	network, laddr, reqType, replyType := "ip4:icmp", "0.0.0.0", byte(icmp4EchoRequest), byte(icmp4EchoReply)
	if addr.Is6() {
		network, laddr, reqType, replyType = "ip6:ipv6-icmp", "::", icmp6EchoRequest, icmp6EchoReply
	}
	var conn net.PacketConn
	if err := h.Do(func() (err error) {
		conn, err = net.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return fmt.Errorf("%s: ping %s: %w", h.Name, addr, err)
	}
	defer conn.Close()

	id := uint16(rand.Uint32())
	dst := &net.IPAddr{IP: addr.AsSlice()}
	buf := make([]byte, 1500)
	for seq := uint16(1); ; seq++ {
		msg := echoRequest(reqType, id, seq, addr.Is4())
		if _, err := conn.WriteTo(msg, dst); err != nil {
			return fmt.Errorf("%s: ping %s: %w", h.Name, addr, err)
		}
		next := time.Now().Add(pingInterval)
		for {
			dl, _ := ctx.Deadline()
			if next.Before(dl) {
				dl = next
			}
			_ = conn.SetReadDeadline(dl)
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				break // this round's wait is over
			}
			if isEchoReply(buf[:n], from, addr, replyType, id) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: ping %s: %w", h.Name, addr, ErrNoReply)
		}
	}
}

// echoRequest builds an ICMP(v6) echo request; the kernel fills ICMPv6's
// checksum, ICMPv4's is ours.
func echoRequest(typ byte, id, seq uint16, v4 bool) []byte {
	m := make([]byte, 8, 8+16)
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	m = append(m, "xvs-testnet-ping"...)
	if v4 {
		binary.BigEndian.PutUint16(m[2:], encap.Checksum(m, 0))
	}
	return m
}

func isEchoReply(m []byte, from net.Addr, want netip.Addr, typ byte, id uint16) bool {
	ip, ok := from.(*net.IPAddr)
	if !ok || len(m) < 8 || m[0] != typ || binary.BigEndian.Uint16(m[4:]) != id {
		return false
	}
	got, ok := netip.AddrFromSlice(ip.IP)
	return ok && got.Unmap() == want
}
