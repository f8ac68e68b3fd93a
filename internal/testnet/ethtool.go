package testnet

import (
	"fmt"

	"golang.org/x/sys/unix"

	ethioctl "github.com/xvs-project/xvs/internal/ethtool"
)

// Offload is a veth feature that the legacy ethtool ioctls switch on and off
// (the same switches as `ethtool -K`).
type Offload int

// Offloads. TxChecksum off also turns TSO off (the kernel requires checksum
// offload for it).
const (
	TxChecksum    Offload = iota // ethtool -K tx
	ScatterGather                // sg
	TSO                          // tso
	GSO                          // gso
	GRO                          // gro
)

// ethtoolCmds are the get and set commands of each Offload.
var ethtoolCmds = [...]struct {
	get, set uint32
	name     string
}{
	TxChecksum:    {unix.ETHTOOL_GTXCSUM, unix.ETHTOOL_STXCSUM, "tx"},
	ScatterGather: {unix.ETHTOOL_GSG, unix.ETHTOOL_SSG, "sg"},
	TSO:           {unix.ETHTOOL_GTSO, unix.ETHTOOL_STSO, "tso"},
	GSO:           {unix.ETHTOOL_GGSO, unix.ETHTOOL_SGSO, "gso"},
	GRO:           {unix.ETHTOOL_GGRO, unix.ETHTOOL_SGRO, "gro"},
}

// String returns ethtool's short name of the feature.
func (o Offload) String() string {
	if o < 0 || int(o) >= len(ethtoolCmds) {
		return fmt.Sprintf("offload(%d)", int(o))
	}
	return ethtoolCmds[o].name
}

// SetOffload switches offload f of interface iface in h's namespace, like
// `ethtool -K iface f on|off`, through the SIOCETHTOOL ioctl.
func (h *Host) SetOffload(iface string, f Offload, on bool) error {
	if err := h.lab.checkOpen(); err != nil {
		return err
	}
	return SetOffloadIn(h.NS, iface, f, on)
}

// Offload reports whether offload f of iface in h's namespace is on.
func (h *Host) Offload(iface string, f Offload) (bool, error) {
	if err := h.lab.checkOpen(); err != nil {
		return false, err
	}
	return OffloadIn(h.NS, iface, f)
}

// SetOffloadIn is SetOffload for interface iface of namespace ns.
func SetOffloadIn(ns, iface string, f Offload, on bool) error {
	if f < 0 || int(f) >= len(ethtoolCmds) {
		return fmt.Errorf("%w: unknown offload %d", ErrOptions, int(f))
	}
	var v uint32
	if on {
		v = 1
	}
	return DoIn(ns, func() error { return ethtool(iface, ethtoolCmds[f].set, &v) })
}

// OffloadIn is Offload for interface iface of namespace ns.
func OffloadIn(ns, iface string, f Offload) (bool, error) {
	if f < 0 || int(f) >= len(ethtoolCmds) {
		return false, fmt.Errorf("%w: unknown offload %d", ErrOptions, int(f))
	}
	var v uint32
	err := DoIn(ns, func() error { return ethtool(iface, ethtoolCmds[f].get, &v) })
	return v != 0, err
}

// ethtool runs one ETHTOOL_G*/S* value command on iface in the calling
// thread's namespace; *v is the value to set or receives the one read.
func ethtool(iface string, cmd uint32, v *uint32) error { return ethioctl.Value(iface, cmd, v) }
