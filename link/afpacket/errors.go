package afpacket

import (
	"errors"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/afpacket/nft"
)

// Errors returned by the package. Callers test them with errors.Is; the
// returned errors wrap them with the interface, rule or socket involved.
var (
	// ErrInvalidRule: a rule has a protocol other than TCP or UDP, an
	// invalid prefix, or PortLo > PortHi.
	ErrInvalidRule = link.ErrInvalidRule
	// ErrInvalidAddress: a local address is not valid.
	ErrInvalidAddress = errors.New("invalid local address")
	// ErrTooManyRules: the rule set compiles into a socket filter longer
	// than the kernel accepts (4096 instructions).
	ErrTooManyRules = errors.New("too many steering rules for a socket filter")
	// ErrInvalidOptions: an Options field is out of range.
	ErrInvalidOptions = errors.New("invalid afpacket options")
	// ErrNoInterfaces: Open was given no interface.
	ErrNoInterfaces = errors.New("no interface")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("afpacket backend closed")
	// ErrNetlink: the kernel refused an nftables request.
	ErrNetlink = nft.ErrNetlink
)
