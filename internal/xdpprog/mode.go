package xdpprog

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// Mode is the XDP attach mode.
type Mode int

// Attach modes. The zero value is ModeAuto.
const (
	// ModeAuto tries native (driver) mode and falls back to generic mode;
	// Mode() then reports which one took.
	ModeAuto Mode = iota
	// ModeNative runs the program in the driver (netlink XDP_FLAGS_DRV_MODE).
	ModeNative
	// ModeGeneric runs the program on the skb path (XDP_FLAGS_SKB_MODE).
	ModeGeneric
)

// String returns "auto", "native" or "generic".
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a mode as the command line spells it: "auto" (or empty),
// "native" (or "drv") and "generic" (or "skb", as iproute2 calls them).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return ModeAuto, nil
	case "native", "drv":
		return ModeNative, nil
	case "generic", "skb":
		return ModeGeneric, nil
	}
	return 0, fmt.Errorf("unknown XDP mode %q (want auto, native or generic): %w", s, ErrInvalidMode)
}

// tries returns the concrete modes to attempt, in order.
func (m Mode) tries() ([]Mode, error) {
	switch m {
	case ModeAuto:
		return []Mode{ModeNative, ModeGeneric}, nil
	case ModeNative, ModeGeneric:
		return []Mode{m}, nil
	}
	return nil, fmt.Errorf("%v: %w", m, ErrInvalidMode)
}

// netlinkFlags returns the IFLA_XDP_FLAGS of a concrete mode.
func (m Mode) netlinkFlags() int {
	if m == ModeNative {
		return nl.XDP_FLAGS_DRV_MODE
	}
	return nl.XDP_FLAGS_SKB_MODE
}

// linkFlags returns the BPF link attach flags of a concrete mode.
func (m Mode) linkFlags() link.XDPAttachFlags {
	if m == ModeNative {
		return link.XDPDriverMode
	}
	return link.XDPGenericMode
}

// modeOfAttached maps IFLA_XDP_ATTACHED to the concrete mode and its flags.
func modeOfAttached(attached uint32) (Mode, int, error) {
	switch attached {
	case nl.XDP_ATTACHED_DRV:
		return ModeNative, nl.XDP_FLAGS_DRV_MODE, nil
	case nl.XDP_ATTACHED_SKB:
		return ModeGeneric, nl.XDP_FLAGS_SKB_MODE, nil
	}
	return 0, 0, fmt.Errorf("attach mode %d: %w", attached, ErrInvalidMode)
}

// attachedProgram reports the XDP program on ifindex as the kernel sees it:
// its name, ID and mode. ok is false when none is attached.
func attachedProgram(ifindex int) (name string, mode Mode, flags int, ok bool, err error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("link %d: %w", ifindex, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached || x.ProgId == 0 {
		return "", 0, 0, false, nil
	}
	mode, flags, err = modeOfAttached(x.AttachMode)
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("link %d: %w", ifindex, err)
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId))
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("program %d: %w", x.ProgId, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", 0, 0, false, fmt.Errorf("program %d info: %w", x.ProgId, err)
	}
	return info.Name, mode, flags, true, nil
}

// setXDP attaches fd (or detaches with fd -1) through netlink with flags.
func setXDP(ifindex, fd, flags int) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("link %d: %w", ifindex, err)
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, fd, flags); err != nil {
		return fmt.Errorf("link %d: set xdp: %w", ifindex, err)
	}
	return nil
}
