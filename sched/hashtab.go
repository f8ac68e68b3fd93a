package sched

import (
	"sync"
	"sync/atomic"
)

// shTabBits / dhTabBits are IP_VS_SH_TAB_BITS / IP_VS_DH_TAB_BITS: 256-bucket tables.
const (
	hashTabBits = 8
	hashTabSize = 1 << hashTabBits
	hashTabMask = hashTabSize - 1
)

// hashTable is the 256 buckets of sh or dh, each naming a server (nil when the list is empty).
type hashTable struct {
	dests   []*Dest
	buckets [hashTabSize]*Dest
}

// shSched is ip_vs_sh: a server per bucket of the source address hash.
type shSched struct {
	flags Flags
	mu    sync.Mutex // serialises Update
	st    atomic.Pointer[hashTable]
}

func (s *shSched) Name() string { return "sh" }

// Pick hashes the source address (plus the source port with sh-port). Without sh-fallback an unavailable bucket
// means no server; with it the kernel walks buckets (offset + hash) for offset = ihash, ihash+1, ... which visits
// every bucket once.
func (s *shSched) Pick(f *Flow) *Dest {
	st := s.st.Load()
	var port uint16
	if s.flags&FlagSHPort != 0 {
		port = f.hashPort()
	}
	h := hash32(uint32(port)+foldAddr(&f.Src, f.Family == 6), hashTabBits)
	d := st.buckets[h]
	if d == nil {
		return nil
	}
	if d.Available() {
		return d
	}
	if s.flags&FlagSHFallback == 0 {
		return nil
	}
	for off := uint32(0); off < hashTabSize; off++ {
		roff := (off + h) & hashTabMask
		if d := st.buckets[(roff+h)&hashTabMask]; d == nil {
			return nil
		} else if d.Available() {
			return d
		}
	}
	return nil
}

// Update refills the buckets as ip_vs_sh_reassign: walking the list cyclically, each server takes weight
// consecutive buckets (at least one, even at weight 0).
func (s *shSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unwatch(dests)
	st := &hashTable{dests: dests}
	if len(dests) > 0 {
		p, count := 0, int32(0)
		for i := range st.buckets {
			d := dests[p]
			st.buckets[i] = d
			if count++; count >= d.weight.Load() {
				p, count = (p+1)%len(dests), 0
			}
		}
	}
	s.st.Store(st)
	return nil
}

// dhSched is ip_vs_dh: a server per bucket of the destination address hash, one bucket per server in turn
// (weights do not shape the table), no fallback.
type dhSched struct {
	mu sync.Mutex // serialises Update
	st atomic.Pointer[hashTable]
}

func (s *dhSched) Name() string { return "dh" }

func (s *dhSched) Pick(f *Flow) *Dest {
	st := s.st.Load()
	d := st.buckets[multHash(foldAddr(&f.Dst, f.Family == 6))&hashTabMask]
	if d == nil || !d.Available() {
		return nil
	}
	return d
}

func (s *dhSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unwatch(dests)
	st := &hashTable{dests: dests}
	if len(dests) > 0 {
		for i := range st.buckets {
			st.buckets[i] = dests[i%len(dests)]
		}
	}
	s.st.Store(st)
	return nil
}
