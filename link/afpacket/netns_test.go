package afpacket

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/link/afpacket/nft"
)

// Test topology, built per test in two testnet.NewNetNS namespaces (unique
// names, deleted on cleanup, also when the test fails):
//
//	namespace cli (client)                     namespace dir (director)
//	  c0 198.18.0.2/24  <------- veth ------->  d0 198.18.0.1/24
//	     2001:db8::2/64                            2001:db8::1/64
//	  198.18.0.100 and 198.18.7.0/24 via .1      lo 198.18.0.100/32 (the VIP)
//	  2001:db8:100::100 via 2001:db8::1             2001:db8:100::100/128
//
// The VIP is a local address of the director, as it is for a real LVS
// director, so without the nftables drop the director's kernel would answer
// a SYN to an unbound port with a RST.
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
}

func newTopo(t testing.TB) *topo {
	t.Helper()
	requireRoot(t)
	dir, cli := testnet.NewNetNS(t), testnet.NewNetNS(t)
	tp := &topo{dir: dir.Name(), cli: cli.Name()}
	dir.IP(t,
		"link add d0 type veth peer name c0 netns "+cli.Name(),
		"addr add 198.18.0.1/24 dev d0",
		"addr add 198.18.0.100/32 dev lo",
		"addr add 2001:db8::1/64 dev d0 nodad",
		"addr add 2001:db8:100::100/128 dev lo nodad",
		"link set d0 up")
	cli.IP(t,
		"addr add 198.18.0.2/24 dev c0",
		"addr add 2001:db8::2/64 dev c0 nodad",
		"link set c0 up",
		"route add 198.18.0.100/32 via 198.18.0.1",
		"route add 198.18.7.0/24 via 198.18.0.1",
		"route add 2001:db8:100::100/128 via 2001:db8::1")
	dir.In(t, func() {
		ifi, err := net.InterfaceByName("d0")
		if err != nil {
			t.Fatal(err)
		}
		tp.dIndex, tp.dMAC = ifi.Index, ifi.HardwareAddr
	})
	cli.In(t, func() {
		ifi, err := net.InterfaceByName("c0")
		if err != nil {
			t.Fatal(err)
		}
		tp.cIndex, tp.cMAC = ifi.Index, ifi.HardwareAddr
	})
	// Resolve the neighbours both ways before traffic is steered away.
	cli.IP(t,
		"neigh replace 198.18.0.1 lladdr "+tp.dMAC.String()+" dev c0",
		"neigh replace 2001:db8::1 lladdr "+tp.dMAC.String()+" dev c0")
	dir.IP(t,
		"neigh replace 198.18.0.2 lladdr "+tp.cMAC.String()+" dev d0",
		"neigh replace 2001:db8::2 lladdr "+tp.cMAC.String()+" dev d0")
	return tp
}

// in runs fn on the calling goroutine's thread switched into namespace ns
// (testnet.InNS), so fn may call t.Fatal. Sockets fn creates stay in ns for
// their lifetime and may then be used from any goroutine.
func (tp *topo) in(t testing.TB, ns string, fn func()) {
	t.Helper()
	testnet.InNS(t, ns, fn)
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
