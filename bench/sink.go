package bench

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Sink is the counting XDP program on the real servers' link: it counts
// every TCP/UDP/IPIP frame by destination MAC (one slot per real server) and
// drops it, so the figure is frames delivered to a real server's link, not
// frames sent. Probe traffic and ARP pass to the stack.
type Sink struct {
	coll     *ebpf.Collection
	counters *ebpf.Map
	link     link.Link
}

// SinkCounts are cumulative counters, summed over CPUs.
type SinkCounts struct {
	Plain [sinkSlots]uint64 // plain IPv4 TCP/UDP by slot; slot 0: unknown MAC
	Encap [sinkSlots]uint64 // IPIP by slot
}

// Total returns every counted frame.
func (c SinkCounts) Total() uint64 {
	var t uint64
	for i := range c.Plain {
		t += c.Plain[i] + c.Encap[i]
	}
	return t
}

// Sub returns c - prev slot by slot.
func (c SinkCounts) Sub(prev SinkCounts) SinkCounts {
	var d SinkCounts
	for i := range c.Plain {
		d.Plain[i] = c.Plain[i] - prev.Plain[i]
		d.Encap[i] = c.Encap[i] - prev.Encap[i]
	}
	return d
}

// AttachSink loads the sink and attaches it in native mode to iface in
// namespace ns. Real servers' MACs are macPrefix + one byte (their slot).
func AttachSink(ns, iface string, macPrefix [5]byte, probePort uint16) (*Sink, error) {
	coll, err := loadCollection("sink", sinkSpec(macPrefix, probePort))
	if err != nil {
		return nil, err
	}
	s := &Sink{coll: coll, counters: coll.Maps["counters"]}
	err = testnet.DoIn(ns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		// A BPF link detaches by itself when the last descriptor closes,
		// so a crashed bench leaves no program behind.
		s.link, err = link.AttachXDP(link.XDPOptions{
			Program: coll.Programs["sink"], Interface: ifc.Index, Flags: link.XDPDriverMode,
		})
		return err
	})
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("attach sink to %s/%s: %w", ns, iface, err)
	}
	return s, nil
}

// Read returns the current counters.
func (s *Sink) Read() (SinkCounts, error) {
	var c SinkCounts
	var per []uint64
	for k := range uint32(sinkEntries) {
		if err := s.counters.Lookup(k, &per); err != nil {
			return c, fmt.Errorf("read sink counter %d: %w", k, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		if k < encapBase {
			c.Plain[k] = sum
		} else {
			c.Encap[k-encapBase] = sum
		}
	}
	return c, nil
}

// Close detaches and unloads the sink.
func (s *Sink) Close() error {
	var errs []error
	if s.link != nil {
		errs = append(errs, s.link.Close())
	}
	s.coll.Close()
	return errors.Join(errs...)
}
