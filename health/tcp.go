package health

import (
	"context"
	"net/netip"
)

// TCP is keepalived's TCP_CHECK: the server passes when a TCP connection to Addr opens before the
// deadline; it is closed at once.
type TCP struct {
	Addr netip.AddrPort // connect_ip:connect_port, by default the real server's address
	Net  *Net
}

// Check dials and closes.
func (t *TCP) Check(ctx context.Context) Result {
	c, err := t.Net.Dial(ctx, "tcp", t.Addr)
	if err != nil {
		return failErr("connect", err)
	}
	c.Close()
	return pass()
}

// Describe names the target.
func (t *TCP) Describe() (Kind, string) { return KindTCP, t.Addr.String() }
