package bench

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestLabForwarding builds each lab, forwards a short burst with the kernel
// and checks that the sink counted it per real server, then that Close
// leaves no namespace behind.
//
//	two-armed: gen ─veth─ dir (forwarding on) ─veth─ trunk [sink] ─ r1..r3
//	one-armed: gen (macvlan) ─ trunk [sink] ─veth─ dir (hairpin) ; r1..r3
func TestLabForwarding(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds namespaces and sends traffic")
	}
	ctx := context.Background()
	for _, arms := range []int{2, 1} {
		lab, err := NewLab(ctx, arms, 3, probePort)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lab.Close() })
		// Every veth end keeps the kernel's default offloads: the bench
		// measures xvs where users run it.
		sending := map[string][]string{lab.DirNS: {lab.DirExt, lab.DirInt}, lab.RealNS: {lab.Trunk}}
		if arms == 2 {
			sending[lab.GenNS] = []string{lab.GenIface}
		}
		for ns, ifs := range sending {
			for _, ifc := range ifs {
				if on, err := txChecksumEnabled(ns, ifc); err != nil || !on {
					t.Errorf("%d-armed: %s: tx checksum offload on %v (%v), want the default (on)", arms, ifc, on, err)
				}
			}
		}
		if err := lab.SetForwarding(true); err != nil {
			t.Fatal(err)
		}
		gen, err := startChild(ctx, lab.GenNS, -1, childGen, genConfig(lab, ScKernelFwd, Load{Proto: UDP, Size: 64, Flows: 300}, 0))
		if err != nil {
			t.Fatal(err)
		}
		before, err := lab.Sink.Read()
		if err != nil {
			t.Fatal(err)
		}
		var res GenResult
		if err := gen.request(GenCommand{Count: 3000, Duration: 5 * time.Second}, &res, 10*time.Second); err != nil || res.Error != "" {
			t.Fatalf("generator: %v %s", err, res.Error)
		}
		if err := gen.stop(time.Second); err != nil {
			t.Errorf("generator exit: %v", err)
		}
		if res.Sent != 3000 {
			t.Errorf("%d-armed: sent %d, want exactly 3000 (count bound)", arms, res.Sent)
		}
		time.Sleep(100 * time.Millisecond)
		after, err := lab.Sink.Read()
		if err != nil {
			t.Fatal(err)
		}
		d := after.Sub(before)
		// Each real server gets a third (the generator rotates destinations);
		// a loaded machine may lose a little on the way, never gain.
		for i := 1; i <= 3; i++ {
			if d.Plain[i] < 700 || d.Plain[i] > 1000 {
				t.Errorf("%d-armed: real %d got %d frames, want ~1000 (%v)", arms, i, d.Plain[i], d.Plain[:4])
			}
		}
		if d.Plain[0] != 0 || d.Encap[1] != 0 {
			t.Errorf("%d-armed: unexpected counts: unknown %d, encap %d", arms, d.Plain[0], d.Encap[1])
		}
		if err := lab.Close(); err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{lab.GenNS, lab.DirNS, lab.RealNS} {
			if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	}
}

// TestGeneratorLoopAllocs proves the generator's send loop allocates
// nothing, on a real AF_XDP socket in a lab.
func TestGeneratorLoopAllocs(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds namespaces")
	}
	lab, err := NewLab(context.Background(), 2, 1, probePort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Close() })
	var g *generator
	if err := testnet.DoIn(lab.GenNS, func() error {
		var err error
		g, err = newGenerator(genConfig(lab, ScBounce2, Load{Proto: UDP, Size: 64, Flows: 10_000}, 0))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer g.close()
	var res GenResult
	allocs := testing.AllocsPerRun(5, func() {
		res, err = g.run(GenCommand{Count: 2000, Duration: time.Second})
	})
	if err != nil || res.Sent != 2000 {
		t.Fatalf("run: %v, sent %d", err, res.Sent)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per 2000-frame run", allocs)
	}
}

// TestChecksReachLab: in the two-armed lab, the checked servers' HTTP
// server on real server 1 answers on its first and last port from the
// director's namespace (where the daemon's checks start), through the sink,
// which counts none of those frames.
//
//	dir ns ── ID-di ─veth─ ID-t [sink: TCP to 20000.. passes] ─ ID-r1 198.18.1.1 (checkd :20000..:20999)
func TestChecksReachLab(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds namespaces")
	}
	ctx := context.Background()
	lab, err := NewLab(ctx, 2, 3, probePort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Close() })
	checkd, err := startChild(ctx, lab.RealNS, -1, childCheckd, CheckdConfig{Addr: checksHost(lab), Ports: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = checkd.stop(time.Second) })
	before, err := lab.Sink.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{checkPortBase, checkPortBase + 999} {
		var reply string
		err := testnet.DoIn(lab.DirNS, func() error {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(checksHost(lab), uint16(port)).String(), 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n\r\n"); err != nil {
				return err
			}
			b, err := io.ReadAll(c)
			reply = string(b)
			return err
		})
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		if !strings.HasPrefix(reply, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(reply, "\r\n\r\nok\n") {
			t.Errorf("port %d: reply %q", port, reply)
		}
	}
	var rep CheckdReport
	if err := checkd.request(struct{}{}, &rep, 5*time.Second); err != nil || rep.Requests != 2 {
		t.Errorf("checkd: %+v %v, want 2 requests", rep, err)
	}
	after, err := lab.Sink.Read()
	if err != nil {
		t.Fatal(err)
	}
	if n := after.Sub(before).Total(); n != 0 {
		t.Errorf("the sink counted %d frames of the checks", n)
	}
}
