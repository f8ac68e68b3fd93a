package sched_test

import (
	"fmt"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/sched"
)

func addr4(a, b, c, d byte) [16]byte { return [16]byte{10: 0xff, 11: 0xff, 12: a, 13: b, 14: c, 15: d} }

// A weighted round-robin service with weights 4, 3 and 2 interleaves as the kernel does.
func ExampleNew() {
	a := sched.NewDest(1, addr4(198, 18, 1, 1), 80, 4)
	b := sched.NewDest(2, addr4(198, 18, 1, 2), 80, 3)
	c := sched.NewDest(3, addr4(198, 18, 1, 3), 80, 2)
	s, err := sched.New("wrr", []*sched.Dest{a, b, c}, sched.Options{})
	if err != nil {
		panic(err)
	}
	f := &sched.Flow{Tuple: flow.Tuple{Proto: 6, Src: addr4(198, 19, 0, 9), SrcPort: 40000, DstPort: 80}, Family: 4}
	for i := 0; i < 9; i++ {
		fmt.Print(s.Pick(f).ID, " ")
	}
	fmt.Println()
	// Output: 1 1 2 1 2 3 1 2 3
}

// The connection table reports connections on the chosen server; least-connection schedulers see them at once.
func ExampleDest_AddConn() {
	a := sched.NewDest(1, addr4(198, 18, 1, 1), 80, 1)
	b := sched.NewDest(2, addr4(198, 18, 1, 2), 80, 1)
	s, _ := sched.New("wlc", []*sched.Dest{a, b}, sched.Options{})
	f := &sched.Flow{Tuple: flow.Tuple{Proto: 6}, Family: 4}
	first := s.Pick(f)
	first.AddConn(false) // bound, not yet established
	first.SetActive(true)
	fmt.Println(first.ID, s.Pick(f).ID)
	// Output: 1 2
}

// Editing a server: change it in place, then hand the scheduler the current list.
func ExampleScheduler_Update() {
	a := sched.NewDest(1, addr4(198, 18, 1, 1), 80, 1)
	b := sched.NewDest(2, addr4(198, 18, 1, 2), 80, 1)
	s, _ := sched.New("rr", []*sched.Dest{a, b}, sched.Options{})
	f := &sched.Flow{}
	fmt.Print(s.Pick(f).ID, " ")
	a.SetWeight(0) // quiesce: no new connections
	if err := s.Update([]*sched.Dest{a, b}); err != nil {
		panic(err)
	}
	fmt.Println(s.Pick(f).ID, s.Pick(f).ID)
	// Output: 1 2 2
}
