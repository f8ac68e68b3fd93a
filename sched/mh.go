package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// Maglev constants from ip_vs_mh.c: the two hsiphash keys (both words equal) and the default table size.
const (
	mhKey1        = 2654435761
	mhKey2        = 2654446892
	mhDefaultSize = 4093
	mhMaxSize     = 1<<24 - 3 // largest prime below 2^24; bounds memory (64 MiB of slots)
)

// mhSched is ip_vs_mh, Maglev hashing. Update builds the lookup table off the packet path and publishes it
// atomically; Pick is one hsiphash and one load.
//
// The table is a pure function of these inputs, and of nothing local to the process or the director:
//   - the set of real servers, as (address, port): Update sorts them by address (16 bytes, IPv4 v4-mapped) and
//     then port before building, so neither the order of the configuration file nor the order in which
//     xvsadm -a added them matters (the kernel builds in its list order, newest first; xvs differs there on
//     purpose so that directors fed the same servers in different orders agree);
//   - each server's last_weight: its weight, or the latest non-zero weight it had while it stayed in the
//     service (a server set to weight 0 at run time keeps its slots; one configured with weight 0 from the start
//     has none, so two directors agree only if they agree on that history too);
//   - the table size M (Options.MHTableSize, 4093 by default);
//   - the hash keys, ip_vs_mh.c's fixed constants mhKey1 and mhKey2 (no per-boot seed).
//
// Pick also depends on the flags (mh-port hashes the source port too; mh-fallback walks on when the slot's
// server is unavailable, which depends on each director's view of weights and thresholds at that moment). No
// map iteration, pointer value, id or clock enters the build. MaglevTable reports a digest of the table and
// the flags so operators can compare directors.
type mhSched struct {
	m     uint32
	flags Flags
	mu    sync.Mutex // serialises Update
	st    atomic.Pointer[mhState]
}

type mhState struct {
	dests  []*Dest // sorted by address, then port (cmpDestAddr)
	lookup []int32 // dest index per slot, -1 when empty (no positive last_weight)

	digestOnce sync.Once // computes digest on first use, off the packet path
	digest     string
}

func mhSize(n int) (uint32, error) {
	if n == 0 {
		return mhDefaultSize, nil
	}
	if n < 3 || n > mhMaxSize || !isPrime(n) {
		return 0, fmt.Errorf("maglev table size %d: %w", n, ErrBadTableSize)
	}
	return uint32(n), nil
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for p := 2; p*p <= n; p++ {
		if n%p == 0 {
			return false
		}
	}
	return true
}

// mhTabBits is IP_VS_MH_TAB_BITS for a table of m slots: half the kernel's CONFIG_IP_VS_MH_TAB_INDEX, which is
// the bit length of the table's prime (4093 -> 12 -> 6).
func mhTabBits(m uint32) int { return bits.Len32(m) / 2 }

// mhHash is ip_vs_mh_hashkey: hsiphash of (offset + port + folded address) as one u32.
func mhHash(addr uint32, port uint16, key uint64, offset uint32) uint32 {
	return hsiphash32(offset+uint32(port)+addr, key)
}

func (s *mhSched) Name() string { return "mh" }

// Pick hashes the source address (plus the source port with mh-port). Without mh-fallback an unavailable slot
// means no server; with it the kernel rehashes with offsets ihash, ihash+1, ... until a slot holds an available
// server. When no server in the table is available at all, that walk can only fail, so it is skipped.
func (s *mhSched) Pick(f *Flow) *Dest {
	st := s.st.Load()
	var port uint16
	if s.flags&FlagMHPort != 0 {
		port = f.hashPort()
	}
	a := foldAddr(&f.Src, f.Family == 6)
	ih := mhHash(a, port, mhKey1, 0) % s.m
	i := st.lookup[ih]
	if i < 0 {
		return nil
	}
	if d := st.dests[i]; d.Available() {
		return d
	}
	if s.flags&FlagMHFallback == 0 || !anyAvailable(st.dests) {
		return nil
	}
	for off := uint32(0); off < s.m; off++ {
		roff := (off + ih) % s.m
		i := st.lookup[mhHash(a, port, mhKey1, roff)%s.m]
		if i < 0 {
			return nil
		}
		if d := st.dests[i]; d.Available() {
			return d
		}
	}
	return nil
}

func (s *mhSched) Update(dests []*Dest) error {
	dests, err := checkDests(dests)
	if err != nil {
		return err
	}
	if len(dests) > int(s.m) {
		return fmt.Errorf("%d destinations, %d slots: %w", len(dests), s.m, ErrTooManyDests)
	}
	// The caller's order is local history (file order, xvsadm -a order): build from a canonical one.
	slices.SortStableFunc(dests, cmpDestAddr)
	s.mu.Lock()
	defer s.mu.Unlock()
	unwatch(dests)
	s.st.Store(&mhState{dests: dests, lookup: mhBuild(dests, s.m)})
	return nil
}

// mhBuild is ip_vs_mh_permutate + ip_vs_mh_populate. Weights are the kernel's last_weight (the latest non-zero
// weight), divided by their gcd and shifted right so that the largest fits in IP_VS_MH_TAB_BITS bits; each round
// over the list, a server claims that many preferred free slots in a row.
func mhBuild(dests []*Dest, m uint32) []int32 {
	lookup := make([]int32, m)
	for i := range lookup {
		lookup[i] = -1
	}
	var g, maxW int64
	lw := make([]int64, len(dests))
	for i, d := range dests {
		w := int64(d.lastWeight.Load())
		lw[i] = w
		if w > 0 {
			g = gcd(w, g)
		}
		maxW = max(maxW, w)
	}
	if g < 1 {
		return lookup
	}
	shift := max(fls(uint32(maxW/g))-mhTabBits(m), 0)

	type setup struct{ perm, skip, turns uint32 }
	ds := make([]setup, len(dests))
	for i, d := range dests {
		a := foldDest(d)
		offset := mhHash(a, d.Port, mhKey1, 0) % m
		ds[i] = setup{perm: offset, skip: mhHash(a, d.Port, mhKey2, 0)%(m-1) + 1}
		t := uint32((lw[i] / g) >> shift)
		if t == 0 && lw[i] != 0 {
			t = 1
		}
		ds[i].turns = t
	}

	used := make([]uint64, (m+63)/64)
	var n, count uint32
	for {
		for i := 0; i < len(ds); {
			s := &ds[i]
			if s.turns < 1 {
				i++
				continue
			}
			c := s.perm
			for used[c>>6]&(1<<(c&63)) != 0 {
				if s.perm += s.skip; s.perm >= m {
					s.perm -= m
				}
				c = s.perm
			}
			used[c>>6] |= 1 << (c & 63)
			lookup[c] = int32(i)
			if n++; n == m {
				return lookup
			}
			if count++; count >= s.turns {
				count = 0
				i++
			}
		}
	}
}
