package health

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"syscall"
)

// UDP is keepalived's UDP_CHECK. It sends Payload (8 random bytes when empty) on a connected
// socket. Without a required reply the server passes unless an error comes back before the
// deadline: an ICMP port unreachable arrives as ECONNREFUSED on the connected socket, so the
// timeout must outlast neighbour resolution (keepalived's man page says the same). With Reply
// set, a reply must arrive, its length within [MinLen, MaxLen], and its first bytes must match
// Reply wherever Mask has zero bits.
type UDP struct {
	Addr    netip.AddrPort
	Payload []byte
	// RequireReply makes a reply necessary; Reply and Mask (same length; a set bit is a
	// wildcard, from keepalived's X nibbles) then describe it.
	RequireReply   bool
	Reply, Mask    []byte
	MinLen, MaxLen int // MaxLen 0 means keepalived's default 255
	Net            *Net
}

// Describe names the target.
func (u *UDP) Describe() (Kind, string) { return KindUDP, u.Addr.String() }

// Check sends the payload and waits for a reply or an error until the deadline.
func (u *UDP) Check(ctx context.Context) Result {
	c, err := u.Net.session(ctx, "udp", u.Addr)
	if err != nil {
		return failErr("connect", err)
	}
	defer c.Close()
	payload := u.Payload
	if len(payload) == 0 {
		payload = make([]byte, 8)
		rand.Read(payload)
	}
	if _, err := c.Write(payload); err != nil {
		return udpFail("write", err)
	}
	maxLen := u.MaxLen
	if maxLen == 0 {
		maxLen = 255
	}
	buf := make([]byte, maxLen+1)
	n, err := c.Read(buf)
	if err != nil {
		if !u.RequireReply && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != context.Canceled {
			return pass() // silence is a pass: nothing said the port is closed
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fail("no reply")
		}
		return udpFail("read", err)
	}
	if u.RequireReply && !u.replyOK(buf[:n]) {
		return fail("reply mismatch")
	}
	return pass()
}

// udpFail names an ICMP port unreachable as such.
func udpFail(op string, err error) Result {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fail(op + ": connection refused (ICMP port unreachable)")
	}
	return failErr(op, err)
}

func (u *UDP) replyOK(got []byte) bool {
	maxLen := u.MaxLen
	if maxLen == 0 {
		maxLen = 255
	}
	if len(got) < u.MinLen || len(got) > maxLen {
		return false
	}
	n := min(len(got), len(u.Reply))
	for i := 0; i < n; i++ {
		var m byte
		if i < len(u.Mask) {
			m = u.Mask[i]
		}
		if (got[i]^u.Reply[i])&^m != 0 {
			return false
		}
	}
	return true
}
