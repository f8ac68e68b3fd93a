package link

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/flow"
)

// ErrInvalidRule reports a Rule with a protocol other than TCP or UDP, an
// invalid prefix or an empty port range.
var ErrInvalidRule = errors.New("invalid steering rule")

// Steering: which traffic a backend hands to xvs's workers — packets to a
// service's addresses and ports, and on NAT the real servers' replies. The
// engine derives Rules from its configuration; the XDP steering program
// (internal/xdpprog) and the AF_PACKET socket filter and nftables table
// (afpacket) each compile the same Rules into their own form.

// Rule selects traffic to steer: packets to a service (by destination) or,
// with Reply, a NAT real server's replies (by source).
type Rule struct {
	// Proto is flow.TCP or flow.UDP.
	Proto uint8
	// Prefix is the destination (or, for Reply, the source) address range.
	// A single VIP is a /32 or /128; service groups may use wider prefixes.
	// An IPv4-mapped IPv6 prefix of at least 96 bits is treated as IPv4.
	Prefix netip.Prefix
	// PortLo and PortHi bound the port inclusively; 0,0 means every port
	// (port-0 persistent services).
	PortLo, PortHi uint16
	// Reply matches the packet's source (a real server's reply on NAT)
	// instead of its destination.
	Reply bool
}

// Rules is a complete steering set, with the director's own addresses,
// whose replies (health checks) stay with the kernel.
type Rules struct {
	Rules []Rule
	// Local holds the director's own addresses: replies and ICMP errors
	// addressed to them are the director's own traffic (health checks) and
	// stay with the kernel.
	Local []netip.Addr
}

// Validate checks one rule.
func (r Rule) Validate() error {
	if r.Proto != flow.TCP && r.Proto != flow.UDP {
		return fmt.Errorf("proto %d: %w", r.Proto, ErrInvalidRule)
	}
	if !r.Prefix.IsValid() {
		return fmt.Errorf("prefix %v: %w", r.Prefix, ErrInvalidRule)
	}
	if r.PortLo > r.PortHi {
		return fmt.Errorf("ports %d-%d: %w", r.PortLo, r.PortHi, ErrInvalidRule)
	}
	return nil
}
