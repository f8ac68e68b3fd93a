package xdpprog

import (
	"errors"

	"github.com/xvs-project/xvs/link"
)

// Errors returned by this package; match them with errors.Is.
var (
	// ErrInvalidRule reports a Rule with a bad proto, prefix or port range.
	ErrInvalidRule = link.ErrInvalidRule
	// ErrInvalidAddress reports an invalid local address.
	ErrInvalidAddress = errors.New("invalid address")
	// ErrTooManyEntries reports a Config that compiles into more than
	// MaxEntries trie entries.
	ErrTooManyEntries = errors.New("too many steering entries")
	// ErrInvalidQueue reports a queue index outside the XSKMAP.
	ErrInvalidQueue = errors.New("queue out of range")
	// ErrAttached reports an Attach on a program that is already attached.
	ErrAttached = errors.New("already attached")
	// ErrNotAttached reports a Pin of a program that is not attached.
	ErrNotAttached = errors.New("not attached")
	// ErrClosed reports use of a closed Steering or Decap.
	ErrClosed = errors.New("closed")
	// ErrNoProgram reports an interface without an XDP program.
	ErrNoProgram = errors.New("no xdp program attached")
	// ErrForeignProgram reports an XDP program on the interface that xvs did
	// not load.
	ErrForeignProgram = errors.New("xdp program is not ours")
	// ErrTooManyPorts reports more GUE ports than a decap program takes
	// (MaxGUEPorts).
	ErrTooManyPorts = errors.New("too many GUE ports")
	// ErrInvalidPort reports a GUE port of 0.
	ErrInvalidPort = errors.New("invalid port")
	// ErrInvalidMode reports a Mode value outside the defined ones.
	ErrInvalidMode = errors.New("invalid xdp mode")
	// ErrNoTagProgram is what VLANTags reports for a Steering made by
	// NewSteering, which has only the program blind to offloaded tags.
	ErrNoTagProgram = errors.New("steering program not bound to the device")
	// ErrGenericTags is what VLANTags reports after an attach in generic
	// mode: the kernel attaches device-bound programs only in native mode.
	ErrGenericTags = errors.New("device-bound programs do not attach in generic mode")
	// ErrNoVLANMetadata is what VLANTags reports for a driver without
	// bpf_xdp_metadata_rx_vlan_tag: a device-bound program would call a
	// stub that always fails, so the plain program serves.
	ErrNoVLANMetadata = errors.New("the driver does not give XDP the VLAN tags it takes out of frames (xdp-rx-metadata-features lacks vlan-tag)")
)
