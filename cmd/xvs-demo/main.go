// Command xvs-demo is `make demo`: a self-contained LVS-NAT lab in network
// namespaces. It starts the xvs daemon on a director in front of three real
// servers, sets the virtual services up with xvsadm exactly as an ipvsadm
// user would, sends real HTTP and UDP traffic from a client, shows how it was
// balanced, and ends with `xvsadm -Ln --stats`. Everything it builds is
// deleted on exit, also on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the built xvs and xvsadm")
	n := flag.Int("requests", 300, "HTTP requests to send, each on a new connection")
	flag.Parse()
	if err := run(*bin, *n); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(bin string, requests int) error {
	if why := testnet.Unavailable(); why != "" {
		return fmt.Errorf("cannot build the lab: %s", why)
	}
	xvs, err := filepath.Abs(filepath.Join(bin, "xvs"))
	if err != nil {
		return err
	}
	xvsadm, _ := filepath.Abs(filepath.Join(bin, "xvsadm"))
	for _, b := range []string{xvs, xvsadm} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s is missing: run `make build` first", b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	step("building an LVS-NAT lab in network namespaces")
	lab, err := testnet.New(testnet.Options{Mode: testnet.NAT, Reals: 3, Name: "xvs demo"})
	if err != nil {
		return err
	}
	defer lab.Close()
	fmt.Print(lab.String())

	step("starting real servers (HTTP on :8080, UDP on :53) on r1, r2, r3")
	for _, r := range lab.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{HTTP: []string{":8080"}, UDP: []string{":53"}}); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "xvs-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "xvs.sock")
	step("starting the director: xvs run -i %s", strings.Join(lab.DirectorIfaces, ","))
	daemon, err := lab.Director.Start(ctx, xvs, "run", "-i", strings.Join(lab.DirectorIfaces, ","), "--socket", sock)
	if err != nil {
		return err
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := daemon.WaitOutput(wctx, "xvs running"); err != nil {
		return fmt.Errorf("xvs did not start: %v\n%s", err, daemon.Output())
	}

	admin := func(args ...string) error {
		fmt.Printf("$ xvsadm %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, xvsadm, args...)
		cmd.Env = append(os.Environ(), "XVS_SOCKET="+sock)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	step("configuring virtual services with ipvsadm's syntax")
	vip := lab.VIP4
	web := netip.AddrPortFrom(vip, 80).String()
	dns := netip.AddrPortFrom(vip, 53).String()
	cmds := [][]string{{"-A", "-t", web, "-s", "rr"}, {"-A", "-u", dns, "-s", "rr"}}
	for _, r := range lab.Reals {
		cmds = append(cmds,
			[]string{"-a", "-t", web, "-r", netip.AddrPortFrom(r.Addr4, 8080).String(), "-m", "-w", "1"},
			[]string{"-a", "-u", dns, "-r", netip.AddrPortFrom(r.Addr4, 53).String(), "-m", "-w", "1"})
	}
	cmds = append(cmds, []string{"-Ln"})
	for _, c := range cmds {
		if err := admin(c...); err != nil {
			return fmt.Errorf("xvsadm %s: %v", strings.Join(c, " "), err)
		}
	}

	step("client: %d HTTP requests to http://%s/, each on a new TCP connection", requests, web)
	sum, err := lab.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(vip, 80, "/"), N: requests, Parallel: 4})
	if err != nil {
		return err
	}
	fmt.Printf("answered %d of %d (p50 %v, p99 %v)\n", sum.OK, sum.Requests, sum.P50, sum.P99)
	names := make([]string, 0, len(sum.PerServer))
	for name := range sum.PerServer {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := sum.PerServer[name]
		fmt.Printf("  %-3s %4d  %s\n", name, c, strings.Repeat("#", c*40/max(requests, 1)))
	}

	step("client: a 2 MB download over one connection")
	blob, err := lab.Client.Blob(ctx, testnet.HTTPURL(vip, 80, "/blob?size=2097152"))
	if err != nil {
		return err
	}
	fmt.Printf("%d bytes from %s, sha256 %s…, intact: %v\n", blob.Bytes, blob.Server, blob.SHA256[:16], blob.OK)

	step("client: 50 UDP requests to %s", dns)
	udp, err := lab.Client.UDP(ctx, testnet.UDPOptions{Addr: dns, N: 50})
	if err != nil {
		return err
	}
	fmt.Printf("answered %d of %d by %v\n", udp.OK, udp.Requests, udp.PerServer)

	step("what the director saw")
	if err := admin("-Ln", "--stats"); err != nil {
		return err
	}
	if sum.OK != requests || !blob.OK || udp.OK != 50 {
		return fmt.Errorf("some traffic was not answered")
	}
	fmt.Println("\nThe lab is removed on exit.")
	return nil
}
