package afpacket

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link/afpacket/nft"
)

// Test topology, built per test with unique names and deleted on cleanup
// (also when the test fails):
//
//	namespace <base>-c (client)                namespace <base>-d (director)
//	  c0 198.18.0.2/24  <------- veth ------->  d0 198.18.0.1/24
//	     2001:db8::2/64                            2001:db8::1/64
//	  198.18.0.100 and 198.18.7.0/24 via .1      lo 198.18.0.100/32 (the VIP)
//	  2001:db8:100::100 via 2001:db8::1             2001:db8:100::100/128
//
// The VIP is a local address of the director, as it is for a real LVS
// director, so without the nftables drop the director's kernel would answer
// a SYN to an unbound port with a RST.
const nsPrefix = "xvsafp-"

var nsSeq atomic.Int32

type topo struct {
	dir, cli   string // namespace names
	dIndex     int    // ifindex of d0 in the director namespace
	cIndex     int    // ifindex of c0 in the client namespace
	dMAC, cMAC net.HardwareAddr
}

var (
	vip6Addr = netip.MustParseAddr("2001:db8:100::100")
	dirAddr  = [4]byte{198, 18, 0, 1}
	cliAddr  = [4]byte{198, 18, 0, 2}
	vipAddr  = [4]byte{198, 18, 0, 100}
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, packet sockets and nftables")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to build namespaces")
	}
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// removeLeakedNamespaces deletes namespaces of earlier runs whose process is
// gone (a crashed or killed test leaves them behind).
func removeLeakedNamespaces() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == unix.ESRCH {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

func newTopo(t testing.TB) *topo {
	t.Helper()
	requireRoot(t)
	removeLeakedNamespaces()
	base := nsPrefix + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(int(nsSeq.Add(1)))
	tp := &topo{dir: base + "-d", cli: base + "-c"}
	ipCmd(t, "netns", "add", tp.dir)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", tp.dir).Run() })
	ipCmd(t, "netns", "add", tp.cli)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", tp.cli).Run() })
	ipCmd(t, "-n", tp.dir, "link", "add", "d0", "type", "veth", "peer", "name", "c0", "netns", tp.cli)
	ipCmd(t, "-n", tp.dir, "addr", "add", "198.18.0.1/24", "dev", "d0")
	ipCmd(t, "-n", tp.dir, "addr", "add", "198.18.0.100/32", "dev", "lo")
	ipCmd(t, "-n", tp.cli, "addr", "add", "198.18.0.2/24", "dev", "c0")
	ipCmd(t, "-n", tp.dir, "addr", "add", "2001:db8::1/64", "dev", "d0", "nodad")
	ipCmd(t, "-n", tp.dir, "addr", "add", "2001:db8:100::100/128", "dev", "lo", "nodad")
	ipCmd(t, "-n", tp.cli, "addr", "add", "2001:db8::2/64", "dev", "c0", "nodad")
	for _, ns := range []string{tp.dir, tp.cli} {
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", tp.dir, "link", "set", "d0", "up")
	ipCmd(t, "-n", tp.cli, "link", "set", "c0", "up")
	ipCmd(t, "-n", tp.cli, "route", "add", "198.18.0.100/32", "via", "198.18.0.1")
	ipCmd(t, "-n", tp.cli, "route", "add", "198.18.7.0/24", "via", "198.18.0.1")
	ipCmd(t, "-n", tp.cli, "-6", "route", "add", "2001:db8:100::100/128", "via", "2001:db8::1")
	tp.in(t, tp.dir, func() {
		ifi, err := net.InterfaceByName("d0")
		if err != nil {
			t.Fatal(err)
		}
		tp.dIndex, tp.dMAC = ifi.Index, ifi.HardwareAddr
	})
	tp.in(t, tp.cli, func() {
		ifi, err := net.InterfaceByName("c0")
		if err != nil {
			t.Fatal(err)
		}
		tp.cIndex, tp.cMAC = ifi.Index, ifi.HardwareAddr
	})
	// Resolve the neighbours both ways before traffic is steered away.
	ipCmd(t, "-n", tp.cli, "neigh", "replace", "198.18.0.1", "lladdr", tp.dMAC.String(), "dev", "c0")
	ipCmd(t, "-n", tp.dir, "neigh", "replace", "198.18.0.2", "lladdr", tp.cMAC.String(), "dev", "d0")
	ipCmd(t, "-n", tp.cli, "neigh", "replace", "2001:db8::1", "lladdr", tp.dMAC.String(), "dev", "c0")
	ipCmd(t, "-n", tp.dir, "neigh", "replace", "2001:db8::2", "lladdr", tp.cMAC.String(), "dev", "d0")
	return tp
}

// in runs fn on the calling goroutine's thread switched into namespace ns.
// Sockets fn creates stay in ns for their lifetime and may then be used from
// any goroutine.
func (tp *topo) in(t testing.TB, ns string, fn func()) {
	t.Helper()
	inNS(t, ns, fn)
}

func inNS(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("own namespace: %v", err)
	}
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		t.Fatalf("namespace %s: %v", ns, err)
	}
	defer func() {
		// A thread that cannot go back stays locked and dies with the
		// goroutine instead of serving others in the wrong namespace.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		unix.Close(orig)
		unix.Close(target)
	}()
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		t.Fatalf("enter namespace %s: %v", ns, err)
	}
	fn()
}

// packetSockets counts the packet sockets bound to ifindex in the calling
// thread's namespace (/proc/thread-self/net/packet: sk RefCnt Type Proto
// Iface R Rmem User Inode).
func packetSockets(t testing.TB, ifindex int) int {
	t.Helper()
	f, err := os.Open("/proc/thread-self/net/packet")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) >= 5 && fs[4] == strconv.Itoa(ifindex) {
			n++
		}
	}
	return n
}

// tableNames lists the netdev tables of the calling thread's namespace,
// through our netlink code and, when the nft command is installed, through
// it as well (the two must agree).
func tableNames(t testing.TB) []string {
	t.Helper()
	names, err := nft.TableNames()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("nft"); err == nil {
		// Run on this thread's namespace: nft inherits it from the fork.
		out, err := exec.Command("nft", "list", "tables", "netdev").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list tables: %v: %s", err, out)
		}
		var nftNames []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if fs := strings.Fields(l); len(fs) == 3 {
				nftNames = append(nftNames, fs[2])
			}
		}
		if fmt.Sprint(nftNames) != fmt.Sprint(names) {
			t.Fatalf("nft lists %v, netlink lists %v", nftNames, names)
		}
	}
	return names
}
