package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Restart figures: restartFlows transfers of restartBlob bytes each, read
// at about restartChunk per restartPace, so each spans a few seconds and
// the restart falls inside all of them.
const (
	restartFlows = 20
	restartBlob  = 6 << 20
	restartChunk = 16 << 10
	restartPace  = 12 * time.Millisecond
)

// slowFlow is one long download through the VIP, read at a fixed pace.
type slowFlow struct {
	read     int64
	maxStall time.Duration // longest wait for the next bytes
	sum      string
	err      error
}

// startSlowFlow opens a connection to url's host from the client's
// namespace and downloads it at the restart pace; mu guards f, progress is
// signalled once per chunk.
func startSlowFlow(t *testing.T, ns, addr, path string, f *slowFlow, mu *sync.Mutex, wg *sync.WaitGroup) {
	t.Helper()
	var c net.Conn
	if err := testnet.DoIn(ns, func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return }); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		err := func() error {
			if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr); err != nil {
				return err
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			h := sha256.New()
			buf := make([]byte, restartChunk)
			last := time.Now()
			for {
				_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
				n, err := io.ReadFull(resp.Body, buf)
				h.Write(buf[:n])
				now := time.Now()
				mu.Lock()
				f.read += int64(n)
				f.maxStall = max(f.maxStall, now.Sub(last))
				mu.Unlock()
				last = now
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				}
				if err != nil {
					return err
				}
				time.Sleep(restartPace)
			}
			mu.Lock()
			f.sum = hex.EncodeToString(h.Sum(nil))
			mu.Unlock()
			return nil
		}()
		mu.Lock()
		f.err = err
		mu.Unlock()
	}()
}

// tcpOutRsts is the director kernel's count of TCP resets sent.
func tcpOutRsts(t *testing.T, h *testnet.Host) int64 {
	t.Helper()
	out, err := h.Run(context.Background(), "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		if i := slices.Index(names, "OutRsts"); i > 0 && i < len(fields) {
			n, err := strconv.ParseInt(fields[i], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no Tcp OutRsts in /proc/net/snmp:\n%s", out)
	return 0
}

// bpffs mounts a bpffs of its own on a temporary directory, outside the
// daemon's mount namespace (`ip netns exec` gives it a private one, and a
// bpffs mounted there would take the pins with it when the daemon dies).
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", dir).CombinedOutput(); err != nil {
		t.Skipf("mount bpffs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// pins lists the pinned links under dir.
func pins(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "link" {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestRestartKeepsConnections: SIGKILL `xvs run` during restartFlows long
// transfers through a service of three real servers (rr, not sloppy), NAT
// and DR, and start it again with the same configuration: the steering
// link stays pinned and its program drops the VIP traffic while no daemon
// runs (the director's kernel sends no reset), the new daemon adopts the
// link and restores the connection table from the journal, and every
// transfer completes intact on its real server. A SIGTERM afterwards
// leaves nothing pinned, attached or journaled.
func TestRestartKeepsConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, mode := range []testnet.Mode{testnet.NAT, testnet.DR} {
		t.Run(mode.String(), func(t *testing.T) { testRestart(t, mode, syscall.SIGKILL) })
	}
}

// TestUpgradeKeepsConnections: the same with SIGUSR2, the stop for a
// successor (an upgrade): the daemon exits cleanly and leaves the pinned
// steering link and the journal for the next one.
func TestUpgradeKeepsConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	testRestart(t, testnet.NAT, syscall.SIGUSR2)
}

// testRestart stops the daemon with sig (SIGKILL or SIGUSR2) during the
// transfers and starts it again.
func testRestart(t *testing.T, mode testnet.Mode, sig syscall.Signal) {
	tl := testnet.NewT(t, testnet.Options{Mode: mode, Reals: 3, Name: t.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rport := realPort(mode)
	var reals []string
	for _, r := range tl.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{HTTP: []string{fmt.Sprintf(":%d", rport)}, UDP: []string{}}); err != nil {
			t.Fatal(err)
		}
		reals = append(reals, fmt.Sprintf("{address: %s, port: %d, method: %s}", r.Addr4, rport, method(mode)))
	}
	pinDir := bpffs(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "xvs.yaml")
	body := fmt.Sprintf("services:\n  - {proto: tcp, vip: %s, port: 80, scheduler: rr, reals: [%s]}\n",
		tl.VIP4, strings.Join(reals, ", "))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "xvs.sock")
	start := func() *testnet.Proc {
		return launch(ctx, t, tl.Director, "run", "-i", strings.Join(tl.DirectorIfaces, ","), "--config", cfg, "--socket", sock,
			"--backend", "xdp", "--pin-dir", pinDir, "--state-dir", stateDir)
	}
	p := start()

	var mu sync.Mutex
	var wg sync.WaitGroup
	flows := make([]slowFlow, restartFlows)
	addr := net.JoinHostPort(tl.VIP4.String(), "80")
	path := "/blob?size=" + strconv.Itoa(restartBlob)
	for i := range flows {
		startSlowFlow(t, tl.Client.NS, addr, path, &flows[i], &mu, &wg)
	}
	// Every flow under way before the kill.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		least := int64(restartBlob)
		for i := range flows {
			least = min(least, flows[i].read)
		}
		mu.Unlock()
		if least >= 256<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flows did not start: the slowest read %d bytes", least)
		}
		time.Sleep(20 * time.Millisecond)
	}

	rsts := tcpOutRsts(t, tl.Director)
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	killed := time.Now()
	if sig != syscall.SIGKILL {
		if err := p.Err(); err != nil {
			t.Errorf("%v: exit %v\n%s", sig, err, p.Output())
		}
		if !strings.Contains(p.Output(), "xvs stopped for a successor") {
			t.Errorf("%v: no handover in the log:\n%s", sig, p.Output())
		}
	}
	if live := attached(t, tl); !strings.Contains(live, "XDP on") {
		t.Fatalf("%v took the steering program with it (left: %q)", sig, live)
	}
	// No daemon for a second: the held VIP traffic is dropped, not reset.
	time.Sleep(time.Second)
	if n := tcpOutRsts(t, tl.Director); n != rsts {
		t.Errorf("the director's kernel sent %d resets while no daemon ran", n-rsts)
	}
	os.Remove(sock)
	p = start()
	up := time.Since(killed)
	for _, want := range []string{"adopted the steering link", "connection table restored"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("the new daemon's log lacks %q:\n%s", want, p.Output())
		}
	}
	for _, line := range strings.Split(p.Output(), "\n") {
		if strings.Contains(line, "connection table restored") {
			t.Logf("%s", line)
		}
	}
	wg.Wait()

	want := testnet.BlobSHA256(restartBlob)
	var stalls []time.Duration
	for i, f := range flows {
		if f.err != nil || f.read != restartBlob || f.sum != want {
			t.Errorf("flow %d: read %d of %d, sha256 ok %v, err %v", i, f.read, restartBlob, f.sum == want, f.err)
		}
		stalls = append(stalls, f.maxStall)
	}
	slices.Sort(stalls)
	t.Logf("no daemon for %v; per-flow longest stall: min %v, median %v, max %v",
		up.Round(time.Millisecond), stalls[0].Round(time.Millisecond),
		stalls[len(stalls)/2].Round(time.Millisecond), stalls[len(stalls)-1].Round(time.Millisecond))
	if n := tcpOutRsts(t, tl.Director); n != rsts {
		t.Errorf("the director's kernel sent %d resets across the restart", n-rsts)
	}

	if err := p.Stop(); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Output())
	}
	if left := attached(t, tl); left != "" {
		t.Errorf("SIGTERM left: %s", left)
	}
	if left := pins(t, pinDir); len(left) > 0 {
		t.Errorf("SIGTERM left pinned: %v", left)
	}
	if ents, _ := os.ReadDir(stateDir); len(ents) > 0 {
		t.Errorf("SIGTERM left a journal in %s: %v", stateDir, ents)
	}
	if t.Failed() {
		t.Logf("xvs output:\n%s", p.Output())
	}
}

// TestRestartOtherBackend: an AF_PACKET daemon started after an AF_XDP one
// crashed clears the links its predecessor pinned (their programs would
// drop its traffic).
func TestRestartOtherBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Reals: 1, Name: t.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pinDir := bpffs(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "xvs.sock")
	p := launch(ctx, t, tl.Director, "run", "-i", tl.Director.Iface, "--socket", sock, "--backend", "xdp", "--pin-dir", pinDir)
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if len(pins(t, pinDir)) != 1 || !strings.Contains(attached(t, tl), "XDP on") {
		t.Fatalf("SIGKILL left no pinned link: %v, %q", pins(t, pinDir), attached(t, tl))
	}
	os.Remove(sock)
	p = launch(ctx, t, tl.Director, "run", "-i", tl.Director.Iface, "--socket", sock, "--backend", "afpacket", "--pin-dir", pinDir)
	if left := pins(t, pinDir); len(left) > 0 {
		t.Errorf("an AF_PACKET start left %v pinned", left)
	}
	if strings.Contains(attached(t, tl), "XDP on") {
		t.Errorf("an AF_PACKET start left the XDP program of the crashed run")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Output())
	}
}
