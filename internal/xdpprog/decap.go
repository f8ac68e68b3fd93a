package xdpprog

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink/nl"
)

// Decap is a loaded decapsulation program. Unlike Steering it is attached
// through netlink and stays attached after Close and after the process
// exits; DetachDecap removes it.
type Decap struct {
	mu     sync.Mutex // guards the fields below
	prog   *ebpf.Program
	local  *ebpf.Map
	mode   Mode // concrete mode after Attach
	attach bool
	closed bool
}

// NewDecap loads the decapsulation program. Tunnel packets are decapsulated
// only when their outer destination is one of local; an empty local
// decapsulates every IPIP, IPv6-in-IPv4, IPv6-in-IPv6, IPv4-in-IPv6 and GRE
// packet the interface receives, whoever it is addressed to, and GUE to any
// of guePorts (at most MaxGUEPorts; none: GUE is left to the kernel). GRE and
// GUE checksums are not verified (see decapInsns). The addresses and ports
// are fixed for the life of the program: run NewDecap and Attach again to
// change them.
func NewDecap(local []netip.Addr, guePorts []uint16) (*Decap, error) {
	if len(guePorts) > MaxGUEPorts {
		return nil, fmt.Errorf("%d GUE ports: %w", len(guePorts), ErrTooManyPorts)
	}
	for _, p := range guePorts {
		if p == 0 {
			return nil, fmt.Errorf("GUE port 0: %w", ErrInvalidPort)
		}
	}
	insns, err := decapInsns(len(local) > 0, guePorts)
	if err != nil {
		return nil, fmt.Errorf("generate decap program: %w", err)
	}
	entries := uint32(max(len(local), 1))
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			decapLocalMap: {
				Name: decapLocalMap, Type: ebpf.Hash,
				KeySize: 16, ValueSize: 1, MaxEntries: entries,
			},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			decapProgName: {
				Name: decapProgName, Type: ebpf.XDP,
				Instructions: insns, License: programLicense,
			},
		},
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load decap program: %w", err)
	}
	d := &Decap{prog: coll.Programs[decapProgName], local: coll.Maps[decapLocalMap]}
	for i, a := range local {
		if !a.IsValid() {
			d.Close()
			return nil, fmt.Errorf("local address %d: %w", i, ErrInvalidAddress)
		}
		// The program looks up IPv4 outer destinations as ::ffff:a.b.c.d.
		if err := d.local.Put(a.Unmap().As16(), uint8(1)); err != nil {
			d.Close()
			return nil, fmt.Errorf("add local address %v: %w", a, err)
		}
	}
	return d, nil
}

// Attach attaches the program to ifindex through netlink. A decap program
// left there by an earlier run is replaced; any other XDP program makes
// Attach fail with ErrForeignProgram. With ModeAuto it tries native mode
// first and falls back to generic.
func (d *Decap) Attach(ifindex int, mode Mode) error {
	tries, err := mode.tries()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if d.attach {
		return ErrAttached
	}
	name, cur, curFlags, ok, err := attachedProgram(ifindex)
	if err != nil {
		return fmt.Errorf("attach decap: %w", err)
	}
	if ok && name != decapProgName {
		return fmt.Errorf("attach decap: link %d runs %q: %w", ifindex, name, ErrForeignProgram)
	}
	var errs []error
	for _, m := range tries {
		flags := m.netlinkFlags()
		switch {
		case ok && cur == m:
			// Same mode: the kernel swaps the programs atomically.
		case ok:
			// A program in the other mode blocks this one: remove ours.
			if err := setXDP(ifindex, -1, curFlags); err != nil {
				return fmt.Errorf("attach decap: remove old program: %w", err)
			}
			ok = false
			flags |= nl.XDP_FLAGS_UPDATE_IF_NOEXIST
		default:
			flags |= nl.XDP_FLAGS_UPDATE_IF_NOEXIST
		}
		if err := setXDP(ifindex, d.prog.FD(), flags); err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", m, err))
			continue
		}
		d.mode, d.attach = m, true
		return nil
	}
	return fmt.Errorf("attach decap: %w", errors.Join(errs...))
}

// Mode reports the mode the program was attached in: ModeNative or
// ModeGeneric, or ModeAuto before a successful Attach.
func (d *Decap) Mode() Mode {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.attach {
		return ModeAuto
	}
	return d.mode
}

// Close releases the program and map file descriptors. An attached program
// stays attached: the kernel keeps it alive through the interface.
func (d *Decap) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return errors.Join(d.prog.Close(), d.local.Close())
}

// DetachDecap removes the xvs decap program from ifindex, detaching with the
// flags of the mode the kernel reports it attached in. It fails with
// ErrNoProgram when the interface has no XDP program and with
// ErrForeignProgram when the program there is not xvs_decap.
func DetachDecap(ifindex int) error {
	name, _, flags, ok, err := attachedProgram(ifindex)
	if err != nil {
		return fmt.Errorf("detach decap: %w", err)
	}
	if !ok {
		return fmt.Errorf("detach decap: link %d: %w", ifindex, ErrNoProgram)
	}
	if name != decapProgName {
		return fmt.Errorf("detach decap: link %d runs %q: %w", ifindex, name, ErrForeignProgram)
	}
	if err := setXDP(ifindex, -1, flags); err != nil {
		return fmt.Errorf("detach decap: %w", err)
	}
	return nil
}
