package testnet

// These tests run this test binary again as a helper process that builds a
// lab, starts `sleep` inside r1 without tying it to its own life (as an
// orphaned daemon would be), prints "LAB <id> <sleep pid>" and waits. The
// tests then kill it (a crash) or send it SIGTERM (Ctrl-C on the demo).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "XVS_TESTNET_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

func runHelper() int {
	l, err := New(Options{Reals: 1, Name: "helper"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	cmd := l.Reals[0].Command(context.Background(), "sleep", "300")
	cmd.SysProcAttr = nil // outlive this process
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	// ip enters the namespace only after it started: until then a sweep of
	// the namespace cannot see the sleeper, which would then enter a
	// namespace nobody can reach any more and outlive the test.
	if !inNamespace(cmd.Process.Pid, l.Reals[0].NS) {
		fmt.Fprintln(os.Stderr, "helper: the sleeper never entered", l.Reals[0].NS)
		return 1
	}
	fmt.Printf("LAB %s %d\n", l.ID, cmd.Process.Pid)
	select {}
}

// inNamespace waits up to five seconds for pid to be inside namespace ns.
func inNamespace(pid int, ns string) bool {
	var want syscall.Stat_t
	if syscall.Stat(nsPath(ns), &want) != nil {
		return false
	}
	for range 500 {
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// helperLab is a lab built by a helper process.
type helperLab struct {
	cmd     *exec.Cmd
	id      string
	sleeper int
}

func startHelper(t *testing.T) *helperLab {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		t.Skip("testnet: " + reason)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Scan()
		line <- s.Text()
	}()
	h := &helperLab{cmd: cmd}
	// Whatever happens, leave nothing behind.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if h.id != "" {
			_ = deleteNamespaces(labNamespaces(h.id))
			_ = removeMarker(h.id)
		}
	})
	var l string
	select {
	case l = <-line:
	case <-time.After(30 * time.Second):
		t.Fatal("helper did not report its lab")
	}
	f := strings.Fields(l)
	if len(f) != 3 || f[0] != "LAB" {
		t.Fatalf("helper said %q", l)
	}
	h.id = f[1]
	if h.sleeper, err = strconv.Atoi(f[2]); err != nil {
		t.Fatal(err)
	}
	return h
}

// alive reports whether pid runs (zombies count as dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// waitDead waits up to two seconds for pid to die.
func waitDead(pid int) bool {
	for range 200 {
		if !alive(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// checkGone fails t if anything of lab id is left.
func checkGone(t *testing.T, h *helperLab) {
	t.Helper()
	if ns := labNamespaces(h.id); len(ns) != 0 {
		t.Errorf("namespaces of %s left: %v", h.id, ns)
	}
	if _, err := os.Stat(filepath.Join(markerDir, h.id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker of %s left (%v)", h.id, err)
	}
	if !waitDead(h.sleeper) {
		t.Errorf("process %d inside lab %s survived", h.sleeper, h.id)
	}
}

func TestCleanupStale(t *testing.T) {
	own := NewT(t, Options{Reals: 1})
	h := startHelper(t)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait()
	// A crash leaves everything behind ...
	if got := len(labNamespaces(h.id)); got != 4 {
		t.Fatalf("crashed helper left %d namespaces, want 4", got)
	}
	if !alive(h.sleeper) {
		t.Fatal("the process inside the crashed lab is not running")
	}

	// ... a namespace that only looks like ours must survive ...
	ctx := t.Context()
	foreign := "xvste01-client"
	if err := ipBatch(ctx, "", []string{"netns add " + foreign}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNamespaces([]string{foreign}) })
	// ... and a lab whose creator pid was reused (live pid, other start
	// time) must go.
	reused, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("pid=%d\nstart=1\nname=reused\n", os.Getpid())
	if err := os.WriteFile(filepath.Join(markerDir, reused), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ipBatch(ctx, "", []string{"netns add " + nsName(reused, "client")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = deleteNamespaces([]string{nsName(reused, "client")})
		_ = removeMarker(reused)
	})

	if err := CleanupStale(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, h)
	checkGone(t, &helperLab{id: reused})
	if _, err := os.Stat(nsPath(foreign)); err != nil {
		t.Errorf("CleanupStale removed %s, which has no marker: %v", foreign, err)
	}
	for _, ns := range own.Namespaces() {
		if _, err := os.Stat(nsPath(ns)); err != nil {
			t.Errorf("CleanupStale removed %s of a live lab: %v", ns, err)
		}
	}
}

func TestSignalClosesLabs(t *testing.T) {
	h := startHelper(t)
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := h.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper exited with %v, want death by SIGTERM", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("helper exit status %v, want death by SIGTERM", ws)
	}
	checkGone(t, h)
}
