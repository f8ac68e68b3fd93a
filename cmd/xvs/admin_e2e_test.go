package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// xvsadmBinary builds the admin tool once per test process, beside xvs.
func xvsadmBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(xvsBinary(t)), "xvsadm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if out, err := exec.Command("go", "build", "-o", bin, "../xvsadm").CombinedOutput(); err != nil {
		t.Fatalf("go build xvsadm: %v\n%s", err, out)
	}
	return bin
}

// xvsadm runs the admin tool against the lab's daemon.
func (l *lab) xvsadm(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(xvsadmBinary(t), args...)
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipCounters reads a host's IPv4 OutRequests and OutOctets: the packets and
// bytes its stack sent, counted as IPVS counts them (whole IP packets).
func ipCounters(t *testing.T, h *testnet.Host) (pkts, bytes uint64) {
	t.Helper()
	read := func(file, table, field string) uint64 {
		out, err := h.Run(context.Background(), "cat", file)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 || f[0] != table+":" {
				continue
			}
			if names == nil {
				names = f
				continue
			}
			for i, n := range names {
				if n == field {
					v, _ := strconv.ParseUint(f[i], 10, 64)
					return v
				}
			}
		}
		t.Fatalf("%s: no %s %s", file, table, field)
		return 0
	}
	return read("/proc/net/snmp", "Ip", "OutRequests"), read("/proc/net/netstat", "IpExt", "OutOctets")
}

// statsLine finds a listing line starting with prefix and returns its numbers.
func statsLine(t *testing.T, listing, prefix string) []uint64 {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Join(f[:2], " ") == prefix {
			var nums []uint64
			for _, s := range f[2:] {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				nums = append(nums, n)
			}
			return nums
		}
	}
	t.Fatalf("no line %q in:\n%s", prefix, listing)
	return nil
}

// TestAdminEndToEnd: a daemon started without services is set up only with
// xvsadm (ipvsadm's commands), carries real traffic, and its statistics —
// in the listing and on /metrics — match what the client sent.
func TestAdminEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startWith(t, setup{mode: testnet.NAT, backend: "xdp",
		serve: testnet.ServeOptions{HTTP: []string{":8080"}, UDP: []string{}}})
	vip := netip.AddrPortFrom(l.VIP4, 80).String()
	l.xvsadm(t, "-A", "-t", vip, "-s", "rr")
	for _, r := range l.Reals {
		l.xvsadm(t, "-a", "-t", vip, "-r", netip.AddrPortFrom(r.Addr4, 8080).String(), "-m", "-w", "1")
	}
	l.xvsadm(t, "-Z")

	const n = 90
	p0, b0 := ipCounters(t, l.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := l.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(l.VIP4, 80, "/"), N: n, Parallel: 3})
	if err != nil || sum.OK != n {
		t.Fatalf("%d of %d answered, %v %v", sum.OK, n, err, sum.Errors)
	}
	p1, b1 := ipCounters(t, l.Client)
	// Let the last FIN/ACKs reach the director before reading its counters.
	time.Sleep(200 * time.Millisecond)

	listing := l.xvsadm(t, "-Ln", "--stats", "--exact")
	svc := statsLine(t, listing, "TCP "+vip)
	if svc[0] != n {
		t.Errorf("Conns %d, want %d\n%s", svc[0], n, listing)
	}
	if svc[1] != p1-p0 || svc[3] != b1-b0 {
		t.Errorf("InPkts %d InBytes %d, the client sent %d packets of %d bytes\n%s", svc[1], svc[3], p1-p0, b1-b0, listing)
	}
	if svc[2] == 0 || svc[4] == 0 {
		t.Errorf("no replies counted\n%s", listing)
	}
	for _, r := range l.Reals {
		if got := statsLine(t, listing, "-> "+netip.AddrPortFrom(r.Addr4, 8080).String()); got[0] != n/3 {
			t.Errorf("%s: %d connections, want %d", r.Name, got[0], n/3)
		}
	}

	// /metrics reports the same figures.
	body := l.metrics(t)
	label := fmt.Sprintf(`service="tcp/%s"`, vip)
	for _, want := range []string{
		fmt.Sprintf(`xvs_service_connections_total{%s} %d`, label, svc[0]),
		fmt.Sprintf(`xvs_service_packets_total{direction="in",%s} %d`, label, svc[1]),
		fmt.Sprintf(`xvs_service_bytes_total{direction="in",%s} %d`, label, svc[3]),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(body, "xvs_service"))
	}

	// The connection table resizes at run time, never below what it holds.
	bad := exec.Command(xvsadmBinary(t), "--set-capacity", "2")
	bad.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "below the") {
		t.Errorf("--set-capacity 2 with %d connections: %v %s", n, err, out)
	}
	l.xvsadm(t, "--set-capacity", "4096")
	if got := l.xvsadm(t, "-Ln"); !strings.Contains(got, "(size=4096)") {
		t.Errorf("after --set-capacity 4096 the header says:\n%s", got)
	}

	// Save, clear, restore: the table comes back identical.
	saved := l.xvsadm(t, "-S", "-n")
	l.xvsadm(t, "-C")
	if got := l.xvsadm(t, "-Ln"); strings.Contains(got, "TCP") {
		t.Fatalf("-C left services:\n%s", got)
	}
	cmd := exec.Command(xvsadmBinary(t), "-R")
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
	cmd.Stdin = strings.NewReader(saved)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("-R: %v\n%s", err, out)
	}
	if again := l.xvsadm(t, "-S", "-n"); again != saved {
		t.Errorf("restored table differs:\n%s\nwant:\n%s", again, saved)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAdminNoDaemon: xvsadm without a daemon says so in one line, non-zero.
func TestAdminNoDaemon(t *testing.T) {
	cmd := exec.Command(xvsadmBinary(t), "-Ln")
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+filepath.Join(t.TempDir(), "none.sock"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("exit 0: %s", out)
	}
	msg := strings.TrimSpace(string(out))
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "xvs run") {
		t.Errorf("message %q: want one line saying how to start the daemon", msg)
	}
}
