package testnet_test

import (
	"context"
	"fmt"
	"log"
	"testing"

	"github.com/xvs-project/xvs/internal/testnet"
)

// An end-to-end test builds a lab, starts servers on the real servers, runs
// xvs on the director and queries the VIP from the client.
func ExampleNewT() {
	var t testing.TB // the test's *testing.T
	lab := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Reals: 3})
	ctx := context.Background()
	for _, r := range lab.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The daemon under test, serving the director's interfaces; Close stops it.
	// lab.Director.Start(ctx, xvsBin, "run", "-i", strings.Join(lab.DirectorIfaces, ","))
	sum, err := lab.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(lab.VIP4, 80, "/"), N: 300})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(sum.PerServer) // map[r1:100 r2:100 r3:100] with rr
}

// A TUN lab runs xvs's XDP decapsulator on every real server.
func ExampleOptions_setupReal() {
	xvsBin := "/path/to/xvs"
	lab, err := testnet.New(testnet.Options{
		Mode: testnet.TUN,
		SetupReal: func(h *testnet.Host) error {
			_, err := h.Start(context.Background(), xvsBin, "decap", "-i", h.Iface)
			return err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	fmt.Print(lab) // hosts, namespaces, interfaces and addresses
}
