package conntrack

import (
	"math/rand/v2"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

// TestShardSpread: sequential IPv4 clients (the shape of a real client
// population and of every benchmark) spread over shards evenly enough for
// each shard's slab, whose slack over its share is share/16 plus a chunk.
// The shard comes from the top bits of the client hash; a single folded
// multiply once skewed them for some seeds (a shard 10% over its share).
func TestShardSpread(t *testing.T) {
	const n, shards = 1 << 20, 128
	share := n / shards
	for range 40 {
		var s seeds
		for i := range s {
			s[i] = rand.Uint64() | 1
		}
		var count [shards]int
		for j := range uint32(n) {
			k := clientKey(j, flow.TCP)
			a0, a1 := addrWords(&k.Src)
			count[s.client(a0, a1, k.SrcPort)>>57]++
		}
		worst := 0
		for _, c := range count {
			worst = max(worst, c)
		}
		if worst > share+share/16 {
			t.Errorf("seeds %x: a shard holds %d, share %d: over %d", s, worst, share, share+share/16)
		}
	}
}
