package xdpprog

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Steering is a loaded steering program with its maps. It is safe for
// concurrent use.
type Steering struct {
	mu       sync.Mutex    // guards every field below and serialises Update
	prog     *ebpf.Program // for any interface and mode
	tagProg  *ebpf.Program // device-bound, puts offloaded VLAN tags back; may be nil
	tagIf    int           // the interface tagProg is bound to
	tagErr   error         // why tagProg is not attached, once known
	tags     bool          // the attached program is tagProg
	xsks     *ebpf.Map     // XSKMAP: queue -> AF_XDP socket
	rules    *ebpf.Map     // ARRAY_OF_MAPS with one slot: the current trie
	trie     *ebpf.Map     // the trie in the slot, kept for inspection
	stats    *ebpf.Map     // PERCPU_ARRAY of counters
	trieSpec *ebpf.MapSpec
	queues   int
	hold     bool      // SteerOptions.Hold
	link     link.Link // nil when not attached
	mode     Mode      // concrete mode of link
	pinned   string    // the link's bpffs path, "" when not pinned
	adopted  bool      // link is a predecessor's: its program is replaced at the next Update
	closed   bool
}

// steeringSpec describes the steering program and its maps for an XSKMAP
// of queues entries; hold as steeringInsns.
func steeringSpec(queues int, tags tagSource, hold bool) (*ebpf.CollectionSpec, error) {
	insns, err := steeringInsns(tags, hold)
	if err != nil {
		return nil, err
	}
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			steerXSKMap: {
				Name: steerXSKMap, Type: ebpf.XSKMap,
				KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues),
			},
			steerRulesMap: {
				Name: steerRulesMap, Type: ebpf.ArrayOfMaps,
				KeySize: 4, ValueSize: 4, MaxEntries: 1,
				InnerMap: trieSpec(),
			},
			steerStatsMap: {
				Name: steerStatsMap, Type: ebpf.PerCPUArray,
				KeySize: 4, ValueSize: 8, MaxEntries: (counterQueues + 1) * numCounters,
			},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			steerProgName: {
				Name: steerProgName, Type: ebpf.XDP,
				Instructions: insns, License: programLicense,
			},
		},
	}, nil
}

// trieSpec describes one rule trie. Its entries are allocated on demand
// (LPM tries require BPF_F_NO_PREALLOC), so MaxEntries is only a cap.
func trieSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name: steerInnerMap, Type: ebpf.LPMTrie,
		KeySize: keySize, ValueSize: keyValueSize, MaxEntries: MaxEntries,
		Flags: unix.BPF_F_NO_PREALLOC,
	}
}

// NewSteering loads the steering program and its maps with an XSKMAP of
// queues entries (one per RX queue of the interface). The rule set starts
// empty, so everything passes until Update installs rules.
//
// This program cannot see VLAN tags the driver took out of the frame (see
// NewSteeringFor); Attach reports that through VLANTags.
func NewSteering(queues int) (*Steering, error) {
	return newSteering(queues, tagSource{}, false)
}

// NewSteeringFor is NewSteering for interface ifindex, with a second,
// device-bound instance of the program that reads the VLAN tag the driver
// took out of a frame (bpf_xdp_metadata_rx_vlan_tag: rx-vlan-offload on a
// NIC, and on veth every tag its peer sent with tx-vlan-offload, the
// default) and puts it back before the redirect, so the worker sees the
// frame as it was on the wire and serves only configured VLANs (a frame
// redirected without it would arrive untagged, its VLAN unknown). Attach on
// ifindex in native mode prefers that instance; where the driver does not
// implement the kfunc (ErrNoVLANMetadata, asked of the kernel's netdev
// netlink family) or the kernel refuses to load or attach the instance (no
// kfunc, no BTF, generic mode) it attaches the plain program and VLANTags
// says why. The interface is ifindex in the calling thread's namespace. Failing to load the device-bound instance
// is not an error here.
func NewSteeringFor(ifindex, queues int) (*Steering, error) {
	return NewSteeringWith(ifindex, queues, SteerOptions{})
}

// SteerOptions are the choices of NewSteeringWith.
type SteerOptions struct {
	// Hold makes the program drop the traffic it would steer when the
	// queue has no AF_XDP socket, instead of passing it to the kernel:
	// while no daemon runs (a crash, a restart with the program pinned,
	// see Pin), the director's kernel would answer a VIP with resets and
	// end every connection; dropped, TCP retransmits into the next daemon.
	// Everything the program passes anyway (ARP, ND, the director's own
	// traffic) still passes.
	Hold bool
}

// NewSteeringWith is NewSteeringFor with options.
func NewSteeringWith(ifindex, queues int, opts SteerOptions) (*Steering, error) {
	s, err := newSteering(queues, tagSource{}, opts.Hold)
	if err != nil {
		return nil, err
	}
	s.tagIf = ifindex
	if s.tagErr = rxVLANMetadata(ifindex); s.tagErr != nil {
		return s, nil
	}
	s.tagProg, s.tagErr = loadTagProgram(ifindex, queues, s)
	return s, nil
}

// loadTagProgram loads the device-bound steering program for ifindex on
// s's maps.
func loadTagProgram(ifindex, queues int, s *Steering) (*ebpf.Program, error) {
	id, err := rxVLANKfunc()
	if err != nil {
		return nil, err
	}
	spec, err := steeringSpec(queues, tagSource{kfunc: id}, s.hold)
	if err != nil {
		return nil, err
	}
	ps := spec.Programs[steerProgName]
	ps.Ifindex = uint32(ifindex)
	ps.Flags = unix.BPF_F_XDP_DEV_BOUND_ONLY
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		MapReplacements: map[string]*ebpf.Map{steerXSKMap: s.xsks, steerRulesMap: s.rules, steerStatsMap: s.stats},
	})
	if err != nil {
		return nil, fmt.Errorf("load device-bound steering program: %w", err)
	}
	defer coll.Close()
	return coll.DetachProgram(steerProgName), nil
}

// rxVLANKfunc returns the vmlinux BTF ID of bpf_xdp_metadata_rx_vlan_tag
// (Linux 6.8). cilium/ebpf resolves kfuncs only for programs read from ELF,
// so the generated program carries the ID itself.
func rxVLANKfunc() (int32, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return 0, fmt.Errorf("kernel BTF: %w", err)
	}
	var fn *btf.Func
	if err := spec.TypeByName("bpf_xdp_metadata_rx_vlan_tag", &fn); err != nil {
		return 0, fmt.Errorf("kfunc bpf_xdp_metadata_rx_vlan_tag: %w", err)
	}
	id, err := spec.TypeID(fn)
	if err != nil {
		return 0, fmt.Errorf("kfunc bpf_xdp_metadata_rx_vlan_tag: %w", err)
	}
	return int32(id), nil
}

// newSteering loads the steering program reading tags as given, holding
// (SteerOptions.Hold) or not.
func newSteering(queues int, tags tagSource, hold bool) (*Steering, error) {
	if queues < 1 {
		return nil, fmt.Errorf("%d queues: %w", queues, ErrInvalidQueue)
	}
	spec, err := steeringSpec(queues, tags, hold)
	if err != nil {
		return nil, fmt.Errorf("generate steering program: %w", err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load steering program: %w", err)
	}
	s := &Steering{
		prog:     coll.Programs[steerProgName],
		xsks:     coll.Maps[steerXSKMap],
		rules:    coll.Maps[steerRulesMap],
		stats:    coll.Maps[steerStatsMap],
		trieSpec: trieSpec(),
		queues:   queues,
		hold:     hold,
		tagErr:   ErrNoTagProgram,
	}
	if err := s.Update(Config{}); err != nil {
		coll.Close()
		return nil, err
	}
	return s, nil
}

// Attach attaches the program to ifindex in the given mode through a BPF
// link. With ModeAuto it tries native mode first and falls back to generic;
// Mode reports the outcome. The kernel detaches it when the link's last file
// descriptor closes, so a crashed daemon leaves no steering program behind.
func (s *Steering) Attach(ifindex int, mode Mode) error {
	tries, err := mode.tries()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.link != nil {
		return ErrAttached
	}
	var errs []error
	for _, m := range tries {
		if m == ModeNative && s.tagProg != nil && ifindex == s.tagIf {
			l, err := link.AttachXDP(link.XDPOptions{
				Program: s.tagProg, Interface: ifindex, Flags: m.linkFlags(),
			})
			if err == nil {
				s.link, s.mode, s.tags, s.tagErr = l, m, true, nil
				return nil
			}
			s.tagErr = fmt.Errorf("attach device-bound steering program: %w", err)
		}
		l, err := link.AttachXDP(link.XDPOptions{
			Program: s.prog, Interface: ifindex, Flags: m.linkFlags(),
		})
		if err == nil {
			s.link, s.mode, s.tags = l, m, false
			if m == ModeGeneric && s.tagProg != nil {
				s.tagErr = ErrGenericTags
			}
			return nil
		}
		errs = append(errs, fmt.Errorf("%v: %w", m, err))
	}
	return fmt.Errorf("attach steering to link %d: %w", ifindex, errors.Join(errs...))
}

// VLANTags reports whether the attached program puts VLAN tags the driver
// took out of frames back into them before the redirect, and if not, why:
// without it, a tagged frame whose tag was offloaded reaches the worker as
// untagged and is served whatever its VLAN. Tags left in the frame (no
// offload) reach the worker either way. Before the first Attach, a Steering
// from NewSteeringFor whose device-bound program loaded reports false, nil.
func (s *Steering) VLANTags() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tags {
		return true, nil
	}
	if s.adopted && s.mode == ModeNative && s.tagProg != nil {
		// The next Update puts the device-bound program on the link.
		return true, nil
	}
	return false, s.tagErr
}

// Mode reports the mode of the current attachment: ModeNative or
// ModeGeneric, or ModeAuto when not attached.
func (s *Steering) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.link == nil {
		return ModeAuto
	}
	return s.mode
}

// SetSocket registers the AF_XDP socket fd for RX queue queue. The socket
// must be bound to that queue of the attached interface. Closing the socket
// removes it from the map again (the kernel does that), after which the
// queue's steered packets pass to the kernel and count as steer_nosocket.
func (s *Steering) SetSocket(queue int, fd int) error {
	if queue < 0 || queue >= s.queues {
		return fmt.Errorf("queue %d of %d: %w", queue, s.queues, ErrInvalidQueue)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("set socket for queue %d: %w", queue, err)
	}
	return nil
}

// Update replaces the rule set. It fills a fresh trie with the compiled
// Config and swaps it into the program's single map-in-map slot, so every
// packet is classified against either the complete old or the complete new
// set; a rule present in both never misses. The kernel waits for running
// programs to finish before the update returns, and the old trie is freed.
// On error the old set stays in place. An Update costs one RCU grace period
// (about 12 ms on the test VM) plus a batch insert (about 0.5 s for the
// largest, MaxEntries set): it is for configuration changes, not per flow.
func (s *Steering) Update(cfg Config) error {
	keys, err := compile(cfg)
	if err != nil {
		return fmt.Errorf("update steering: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	trie, err := ebpf.NewMap(s.trieSpec)
	if err != nil {
		return fmt.Errorf("update steering: new trie: %w", err)
	}
	if err := fillTrie(trie, keys); err != nil {
		trie.Close()
		return fmt.Errorf("update steering: insert: %w", err)
	}
	if err := s.rules.Put(uint32(0), trie); err != nil {
		trie.Close()
		return fmt.Errorf("update steering: swap trie: %w", err)
	}
	if s.trie != nil {
		s.trie.Close()
	}
	s.trie = trie
	if s.adopted {
		if err := s.replaceLocked(); err != nil {
			return fmt.Errorf("update steering: %w", err)
		}
	}
	return nil
}

// fillTrie inserts keys with one batch update, or key by key on kernels
// without batch operations for LPM tries.
func fillTrie(trie *ebpf.Map, keys []trieKey) error {
	if len(keys) == 0 {
		return nil
	}
	vals := make([]uint32, len(keys))
	for i := range vals {
		vals[i] = 1
	}
	_, err := trie.BatchUpdate(keys, vals, nil)
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	for i := range keys {
		if err := trie.Put(keys[i][:], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Detach removes the program from its interface, unpinning its link first
// (see Pin). It is a no-op when not attached.
func (s *Steering) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.detachLocked()
}

func (s *Steering) detachLocked() error {
	if s.link == nil {
		return nil
	}
	var err error
	if s.pinned != "" {
		// Unpinned, the link's file descriptor is its last reference:
		// closing it detaches the program.
		err = s.link.Unpin()
		unpinDir(s.pinned)
		s.pinned = ""
	}
	err = errors.Join(err, s.link.Close())
	s.link, s.tags, s.adopted = nil, false, false
	if err != nil {
		return fmt.Errorf("detach steering: %w", err)
	}
	return nil
}

// Close detaches the program and frees the program and its maps. Further
// calls are no-ops.
func (s *Steering) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	errs := []error{s.detachLocked()}
	for _, c := range []interface{ Close() error }{s.prog, s.xsks, s.rules, s.trie, s.stats} {
		errs = append(errs, c.Close())
	}
	if s.tagProg != nil {
		errs = append(errs, s.tagProg.Close())
	}
	return errors.Join(errs...)
}

// Release frees the program and its maps like Close but leaves a pinned
// link in place (see Pin), so the program keeps holding its interface's
// traffic for a successor that adopts it (Adopt): the stop of a daemon
// that hands over. Unpinned, it is Close. Further calls are no-ops.
func (s *Steering) Release() error {
	s.mu.Lock()
	if s.pinned == "" {
		s.mu.Unlock()
		return s.Close()
	}
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// The pin holds the link, the link the program, the program its maps:
	// closing this process's descriptors detaches nothing.
	errs := []error{s.link.Close()}
	s.link, s.pinned = nil, ""
	for _, c := range []interface{ Close() error }{s.prog, s.xsks, s.rules, s.trie, s.stats} {
		errs = append(errs, c.Close())
	}
	if s.tagProg != nil {
		errs = append(errs, s.tagProg.Close())
	}
	return errors.Join(errs...)
}

// Counters returns per-verdict packet counts summed over CPUs and queues:
// pass_short, pass_other, pass_nomatch, pass_local, steer_service,
// steer_reply, steer_icmp, steer_fragment (each packet counts in exactly one
// of these) and steer_nosocket (steered packets whose queue had no socket
// and passed).
func (s *Steering) Counters() (map[string]uint64, error) {
	rows, err := s.QueueCounters()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, numCounters)
	for _, c := range rows {
		out[c.Name] += c.Count
	}
	for _, name := range counterNames {
		if _, ok := out[name]; !ok {
			out[name] = 0
		}
	}
	return out, nil
}

// QueueCounter is one verdict counter of one receive queue, summed over
// CPUs. Queue is the receive queue, or -1 for the shared row of the queues
// from 64 on.
type QueueCounter struct {
	Queue int
	Name  string
	Count uint64
}

// QueueCounters returns the non-zero verdict counters per receive queue
// (names as Counters has them), ordered by queue and then counter. It reads
// the whole counter map with one batch lookup where the kernel has it.
func (s *Steering) QueueCounters() ([]QueueCounter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	sums, err := readSums(s.stats)
	if err != nil {
		return nil, fmt.Errorf("read steering counters: %w", err)
	}
	var out []QueueCounter
	for slot, sum := range sums {
		if sum == 0 {
			continue
		}
		qc := QueueCounter{Queue: slot / numCounters, Name: counterNames[slot%numCounters], Count: sum}
		if qc.Queue == counterQueues {
			qc.Queue = -1
		}
		out = append(out, qc)
	}
	return out, nil
}

// readSums returns every slot of a per-CPU array of uint64, summed over
// CPUs, indexed by slot.
func readSums(m *ebpf.Map) ([]uint64, error) {
	n := int(m.MaxEntries())
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	sums := make([]uint64, n)
	keys := make([]uint32, n)
	vals := make([]uint64, n*cpus)
	var cursor ebpf.MapBatchCursor
	got := 0
	for got < n {
		c, err := m.BatchLookup(&cursor, keys[:n-got], vals[:(n-got)*cpus], nil)
		for i := range c {
			for _, v := range vals[i*cpus : (i+1)*cpus] {
				sums[keys[i]] += v
			}
		}
		got += c
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return readSumsEach(m, sums)
		}
		if err != nil {
			return nil, err
		}
	}
	return sums, nil
}

// readSumsEach is readSums one lookup per slot, for kernels without batch
// operations on arrays.
func readSumsEach(m *ebpf.Map, sums []uint64) ([]uint64, error) {
	var perCPU []uint64
	for slot := range sums {
		if err := m.Lookup(uint32(slot), &perCPU); err != nil {
			return nil, err
		}
		sums[slot] = 0
		for _, v := range perCPU {
			sums[slot] += v
		}
	}
	return sums, nil
}
