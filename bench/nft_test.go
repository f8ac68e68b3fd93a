package bench

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/link/afpacket"
)

// TestTableNamesApart: the nft-dnat baseline's table and the AF_PACKET
// backend's can never be taken for each other, and only the backend's are
// picked out of a listing.
func TestTableNamesApart(t *testing.T) {
	if strings.HasPrefix(nftTable, afpacket.TablePrefix) || strings.HasPrefix(afpacket.TablePrefix, nftTable) {
		t.Errorf("table names overlap: %q and %q*", nftTable, afpacket.TablePrefix)
	}
	list := "table ip xvsbench\ntable netdev " + afpacket.TablePrefix + "42_1\ntable inet filter\n" +
		"table netdev " + afpacket.TablePrefix + "42_2\n\ntable ip xvs_afpacket\n"
	want := []string{"netdev " + afpacket.TablePrefix + "42_1", "netdev " + afpacket.TablePrefix + "42_2"}
	if got := parseAFPTables(list); !slices.Equal(got, want) {
		t.Errorf("parseAFPTables: %q, want %q", got, want)
	}
	if got := parseAFPTables(""); len(got) != 0 {
		t.Errorf("empty listing: %q", got)
	}
}

// TestNftTablesCoexist runs the nft-dnat baseline's set-up and teardown in a
// namespace that also holds an AF_PACKET backend's table (as a daemon that
// failed to remove it would leave it): the baseline's teardown deletes its
// own table only, and the check every AF_PACKET trial runs after its daemon
// stopped reports the leftover and deletes it.
func TestNftTablesCoexist(t *testing.T) {
	needRoot(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (bench/deps.sh installs it)")
	}
	ns := testnet.NewNetNS(t).Name()
	ctx := context.Background()
	afpName := afpacket.TablePrefix + "1_1"
	if out, err := Command(ctx, ns, nft, "add", "table", "netdev", afpName).CombinedOutput(); err != nil {
		t.Fatalf("nft add table: %v: %s", err, out)
	}
	lab := &Lab{DirNS: ns, VIP: labVIP, Reals: []Real{{Addr: realAddr(1)}, {Addr: realAddr(2)}}}
	d, err := startNft(ctx, lab, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Command(ctx, ns, nft, "list", "tables").Output()
	if err != nil || !strings.Contains(string(out), "table ip "+nftTable) {
		t.Fatalf("baseline table missing: %v\n%s", err, out)
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("baseline teardown: %v", err)
	}
	left, err := afpTables(ctx, ns, "")
	if err != nil || !slices.Equal(left, []string{"netdev " + afpName}) {
		t.Fatalf("after the baseline's teardown: %q, %v; want the AF_PACKET table untouched", left, err)
	}
	if err := removeAFPTables(ns, ""); !errors.Is(err, errTableLeft) {
		t.Errorf("leftover check: %v, want %v", err, errTableLeft)
	}
	if left, err := afpTables(ctx, ns, ""); err != nil || len(left) != 0 {
		t.Errorf("after the leftover check: %q, %v", left, err)
	}
	if err := removeAFPTables(ns, ""); err != nil {
		t.Errorf("clean namespace: %v", err)
	}
}
