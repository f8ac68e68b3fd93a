package backends

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/afpacket"
	"github.com/xvs-project/xvs/link/afxdp"
)

// The kinds of backend Open knows.
const (
	// XDP is the AF_XDP backend (package afxdp).
	XDP = "xdp"
	// AFPacket is the AF_PACKET backend (package afpacket).
	AFPacket = "afpacket"
	// Auto is AF_XDP where it opens, else AF_PACKET.
	Auto = "auto"
)

// ErrUnknownKind is returned by Open for a kind it does not know.
var ErrUnknownKind = errors.New("unknown backend")

// Options tune the backend Open opens; the zero value gives each backend's
// defaults.
type Options struct {
	XDP      afxdp.Options
	AFPacket afpacket.Options
	// Logger gets the line saying which backend Auto chose, and why; it is
	// also XDP.Logger's default. Nil: slog.Default().
	Logger *slog.Logger
}

// Backend is a link.Backend that also lists the interfaces it serves, as
// both real backends do (the router needs them: forwarder.NewNetlinkRouter).
type Backend interface {
	link.Backend
	// Ifindexes returns the served interfaces' indexes.
	Ifindexes() []int
}

// Open opens the backend of the given kind on ifaces, in the network
// namespace of the calling thread. Auto tries AF_XDP first and, when it
// cannot be opened (no driver support, an MTU too large for its frames, an
// old kernel), logs why and opens AF_PACKET instead. Errors are the
// backend's own (for XDP an *afxdp.MTUError when the MTU is too large).
func Open(kind string, ifaces []string, opts Options) (Backend, error) {
	log := cmp.Or(opts.Logger, slog.Default())
	opts.XDP.Logger = cmp.Or(opts.XDP.Logger, log)
	switch kind {
	case XDP:
		return openXDP(ifaces, opts.XDP)
	case AFPacket:
		return openAFPacket(ifaces, opts.AFPacket)
	case Auto:
		b, err := openXDP(ifaces, opts.XDP)
		if err == nil {
			log.Info("backend chosen", "backend", XDP)
			return b, nil
		}
		log.Info("backend chosen", "backend", AFPacket, "reason", err.Error())
		return openAFPacket(ifaces, opts.AFPacket)
	}
	return nil, fmt.Errorf("%q (want %s, %s or %s): %w", kind, XDP, AFPacket, Auto, ErrUnknownKind)
}

// openXDP and openAFPacket return a nil interface, not a typed nil
// pointer, on error.
func openXDP(ifaces []string, o afxdp.Options) (Backend, error) {
	b, err := afxdp.Open(ifaces, o)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func openAFPacket(ifaces []string, o afpacket.Options) (Backend, error) {
	b, err := afpacket.Open(ifaces, o)
	if err != nil {
		return nil, err
	}
	return b, nil
}
