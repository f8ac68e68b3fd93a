package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

// benchSetup builds n servers with weights 1..10 and some connections, and 1024 flows over 256 sources and 4096
// destinations (lblc/lblcr mostly hit their table after the first round).
func benchSetup(name string, n int) (Scheduler, []Flow) {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	ds := make([]*Dest, n)
	for i := range ds {
		ds[i] = NewDest(uint32(i), v4(10, byte(i>>16), byte(i>>8), byte(i)), 80, int32(1+r.IntN(10)))
	}
	opts := Options{}
	switch name {
	case "sh":
		opts.Flags = FlagSHFallback
	case "mh":
		opts.Flags = FlagMHFallback
	}
	s, err := New(name, ds, opts)
	if err != nil {
		panic(err)
	}
	for _, d := range ds {
		for k := r.IntN(20); k > 0; k-- {
			d.AddConn(r.IntN(2) == 0)
		}
	}
	flows := make([]Flow, 1024)
	for i := range flows {
		flows[i] = Flow{Tuple: flow.Tuple{Proto: 6, Src: v4(198, 18, byte(r.IntN(256)), 1), Dst: v4(198, 19, byte(r.IntN(16)), byte(r.IntN(256))), SrcPort: uint16(r.Uint32()), DstPort: 80}, Family: 4}
	}
	return s, flows
}

func BenchmarkPick(b *testing.B) {
	for _, name := range Names() {
		for _, n := range []int{8, 1000} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				s, flows := benchSetup(name, n)
				for i := range flows {
					s.Pick(&flows[i])
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					s.Pick(&flows[i&1023])
					i++
				}
			})
		}
	}
}

// BenchmarkPickParallel shows contention on shared state (rr/wrr cursors, lblc shards) with GOMAXPROCS pickers.
func BenchmarkPickParallel(b *testing.B) {
	for _, name := range []string{"rr", "wrr", "wlc", "sh", "mh", "lblc", "twos"} {
		b.Run(name+"/1000", func(b *testing.B) {
			s, flows := benchSetup(name, 1000)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					s.Pick(&flows[i&1023])
					i++
				}
			})
		})
	}
}

// BenchmarkDestEvent is the cost moved off Pick: one AddConn plus one RemoveConn on a watched server (a tree or
// Fenwick refresh each), against an unwatched one (rr).
func BenchmarkDestEvent(b *testing.B) {
	for _, name := range []string{"rr", "wlc", "twos"} {
		for _, n := range []int{8, 1000} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				s, _ := benchSetup(name, n)
				d := s.Pick(&Flow{Tuple: flow.Tuple{Proto: 6}, Family: 4})
				b.ReportAllocs()
				for b.Loop() {
					d.AddConn(true)
					d.RemoveConn(true)
				}
			})
		}
	}
}

// TestPickDoesNotAllocate: Pick of every scheduler, and connection events on watched servers, allocate nothing.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, name := range Names() {
		s, flows := benchSetup(name, 50)
		i := 0
		if a := testing.AllocsPerRun(2000, func() {
			if d := s.Pick(&flows[i&1023]); d != nil {
				d.AddConn(false)
				d.SetActive(true)
				d.RemoveConn(true)
			}
			i++
		}); a != 0 {
			t.Errorf("%s: %v allocations per Pick", name, a)
		}
	}
}
