package afpacket

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// helperEnv names the director namespace in which TestHelperProcess opens a
// backend and waits to be killed; helperNoOwner makes it create its table
// without the owner flag, as on a kernel older than 5.12.
const (
	helperEnv     = "XVS_AFPACKET_HELPER_NS"
	helperNoOwner = "XVS_AFPACKET_HELPER_NOOWNER"
)

// TestHelperProcess is not a test: TestKilledProcessLeftovers runs the test
// binary again with only this function selected.
func TestHelperProcess(t *testing.T) {
	ns := os.Getenv(helperEnv)
	if ns == "" {
		t.Skip("helper process for TestKilledProcessLeftovers")
	}
	if os.Getenv(helperNoOwner) != "" {
		tableOwner = false
	}
	var b *Backend
	testnet.InNS(t, ns, func() {
		var err error
		if b, err = Open([]string{"d0"}, Options{Sockets: 2}); err != nil {
			t.Fatal(err)
		}
	})
	if err := b.Steer(testRules()); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready " + b.TableName() + "\n")
	time.Sleep(time.Minute) // until killed
}

// startHelper runs the helper in the director namespace and returns it
// with its table name once it is ready.
func startHelper(t *testing.T, tp *topo, owner bool) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+tp.dir)
	if !owner {
		cmd.Env = append(cmd.Env, helperNoOwner+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "ready "); ok {
				line <- rest
				return
			}
		}
		close(line)
	}()
	select {
	case name, ok := <-line:
		if !ok {
			t.Fatal("helper exited before it was ready")
		}
		return cmd, name
	case <-time.After(10 * time.Second):
		t.Fatal("helper not ready after 10 s")
	}
	return nil, ""
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// waitSockets waits for the packet sockets on d0 of the director namespace
// to reach n (a dead process's sockets go with its file table, shortly
// after it is reaped).
func waitSockets(t *testing.T, tp *topo, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		var got int
		tp.in(t, tp.dir, func() { got = packetSockets(t, tp.dIndex) })
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d packet sockets on d0, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKilledProcessLeftovers kills a process that serves d0 with SIGKILL, so
// none of its cleanup runs. Its sockets go with it. Its table goes with it
// too where the kernel has owner tables; where it has not (simulated), the
// table stays and blackholes the service traffic until Cleanup or the next
// Open removes it.
func TestKilledProcessLeftovers(t *testing.T) {
	tp := newTopo(t)
	tables := func() []string {
		var names []string
		tp.in(t, tp.dir, func() { names = tableNames(t) })
		return names
	}

	t.Run("owner table dies with the process", func(t *testing.T) {
		cmd, name := startHelper(t, tp, true)
		if got := tables(); !slices.Equal(got, []string{name}) {
			t.Fatalf("tables %v, want [%s]", got, name)
		}
		waitSockets(t, tp, 4)
		kill(t, cmd)
		waitSockets(t, tp, 0)
		if got := tables(); len(got) != 0 {
			t.Fatalf("tables after SIGKILL: %v", got)
		}
		if got := dialTCP(t, tp, 80); got != "refused" {
			t.Errorf("dial vip:80 after the kill: %s, want refused", got)
		}
	})

	t.Run("cleanup removes a table without owner", func(t *testing.T) {
		cmd, name := startHelper(t, tp, false)
		kill(t, cmd)
		waitSockets(t, tp, 0)
		if got := tables(); !slices.Equal(got, []string{name}) {
			t.Fatalf("tables after SIGKILL: %v, want the leftover %s", got, name)
		}
		if got := dialTCP(t, tp, 80); got != "timeout" {
			t.Errorf("dial vip:80 with the leftover table: %s, want timeout (blackholed)", got)
		}
		tp.in(t, tp.dir, func() {
			if err := Cleanup(); err != nil {
				t.Fatal(err)
			}
		})
		if got := tables(); len(got) != 0 {
			t.Fatalf("tables after Cleanup: %v", got)
		}
		if got := dialTCP(t, tp, 80); got != "refused" {
			t.Errorf("dial vip:80 after Cleanup: %s, want refused", got)
		}
	})

	t.Run("next open replaces a table without owner", func(t *testing.T) {
		cmd, stale := startHelper(t, tp, false)
		kill(t, cmd)
		// This process's table has no owner either, so only the list of
		// live backends keeps Cleanup off it.
		tableOwner = false
		defer func() { tableOwner = true }()
		var b *Backend
		tp.in(t, tp.dir, func() {
			var err error
			if b, err = Open([]string{"d0"}, Options{Sockets: 1}); err != nil {
				t.Fatal(err)
			}
		})
		defer b.Close()
		if got := tables(); !slices.Equal(got, []string{b.TableName()}) || b.TableName() == stale {
			t.Fatalf("tables after Open: %v, want only the new %s", got, b.TableName())
		}
		// Cleanup leaves a live backend's table alone.
		tp.in(t, tp.dir, func() {
			if err := Cleanup(); err != nil {
				t.Fatal(err)
			}
		})
		if got := tables(); !slices.Equal(got, []string{b.TableName()}) {
			t.Fatalf("tables after Cleanup with a live backend: %v", got)
		}
	})
}
