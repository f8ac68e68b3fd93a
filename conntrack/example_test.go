package conntrack_test

import (
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
)

// A NAT connection's life: the client's SYN creates it, the real server's
// reply finds it by its reply key, and the handshake establishes it.
func Example() {
	tab, err := conntrack.New(conntrack.Config{Capacity: 1000})
	if err != nil {
		panic(err)
	}
	client := netip.MustParseAddrPort("198.18.0.10:40000")
	vip := netip.MustParseAddrPort("198.18.1.1:80")
	real := netip.MustParseAddrPort("198.18.2.1:8080")

	t := flow.TupleOf(flow.TCP, client, vip)
	fwd := conntrack.ConnKey(&t)
	reply := conntrack.ReplyKey(&t, real.Addr().As16(), real.Port())

	// A miss for a SYN: the forwarder schedules a real server and inserts.
	if tab.Lookup(&fwd) == nil && tab.AcceptsNew(flow.TCP, flow.TCPSyn) {
		c, err := tab.Insert(fwd, &reply, conntrack.Value{Service: 1, Dest: 7})
		if err != nil {
			panic(err)
		}
		fmt.Println(tab.Observe(c, conntrack.DirInput, flow.TCPSyn, 60))
	}
	// The real server answers; its packet is found by the reply key.
	c := tab.Lookup(&reply)
	fmt.Println(c.Dest(), tab.Observe(c, conntrack.DirOutput, flow.TCPSyn|flow.TCPAck, 60))
	fmt.Println(tab.Observe(tab.Lookup(&fwd), conntrack.DirInput, flow.TCPAck, 52))
	// Output:
	// SYN_RECV
	// 7 SYN_RECV
	// ESTABLISHED
}
