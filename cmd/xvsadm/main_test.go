package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// engine is a minimal control.Engine over a service.Config.
type engine struct {
	mu       sync.Mutex
	cfg      *service.Config
	to       control.Timeouts
	capacity int
}

func (e *engine) Config() *service.Config { e.mu.Lock(); defer e.mu.Unlock(); return e.cfg.Clone() }
func (e *engine) Apply(fn func(*service.Config) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.cfg.Clone()
	if err := fn(n); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	e.cfg = n
	return nil
}
func (e *engine) Stats() control.Stats {
	return control.Stats{Table: control.TableStats{Capacity: 4096}}
}
func (e *engine) ZeroStats(*service.Key) error               { return nil }
func (e *engine) Conns(uint64, int) ([]control.Conn, uint64) { return nil, 0 }
func (e *engine) Timeouts() control.Timeouts                 { return e.to }
func (e *engine) SetTimeouts(t control.Timeouts) error       { e.to = t; return nil }
func (e *engine) SetCapacity(n int) error                    { e.capacity = n; return nil }

// daemon serves a fresh engine on a temporary socket named by XVS_SOCKET.
func daemon(t *testing.T) *engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "xvsadm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "xvs.sock")
	t.Setenv(control.SocketEnv, path)
	e := &engine{cfg: &service.Config{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		control.NewServer(e, control.WithLogger(slog.New(slog.DiscardHandler))).Serve(ctx, path)
	}()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		if c, err := control.Dial(path); err == nil {
			c.Close()
			return e
		}
		if i > 200 {
			t.Fatal("daemon did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func xvsadm(t *testing.T, line, stdin string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(strings.Fields(line), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSession(t *testing.T) {
	daemon(t)
	for _, line := range []string{
		"-A -t 192.168.8.200:80 -s rr",
		"-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1",
		"-a -t 192.168.8.200:80 -r 192.168.8.30:80 -g -w 1",
	} {
		if code, _, stderr := xvsadm(t, line, ""); code != 0 {
			t.Fatalf("%s: exit %d: %s", line, code, stderr)
		}
	}
	code, out, _ := xvsadm(t, "-Ln", "")
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  192.168.8.200:80 rr\n" +
		"  -> 192.168.8.20:80              Route   1      0          0         \n" +
		"  -> 192.168.8.30:80              Route   1      0          0         \n"
	if code != 0 || out != want {
		t.Errorf("-Ln: exit %d\n%s\nwant\n%s", code, out, want)
	}
	code, _, stderr := xvsadm(t, "-A -t 192.168.8.200:80 -s rr", "")
	if code == 0 || stderr != "Service already exists\n" {
		t.Errorf("duplicate -A: exit %d, %q", code, stderr)
	}
	code, saved, _ := xvsadm(t, "-S -n", "")
	if code != 0 || !strings.HasPrefix(saved, "-A -t 192.168.8.200:80 -s rr\n") {
		t.Fatalf("-S -n: %d %q", code, saved)
	}
	if code, _, stderr := xvsadm(t, "-R", "-C\n"+saved+"-a -t 192.168.8.200:80 -r 192.168.8.20:80\n"); code == 0 || stderr != "line 5: Destination already exists\n" {
		t.Errorf("bad restore: exit %d, %q", code, stderr)
	}
	if _, out2, _ := xvsadm(t, "-Ln", ""); out2 != want {
		t.Errorf("a failed restore changed the table:\n%s", out2)
	}
	if code, _, stderr := xvsadm(t, "--set 100 20 30", ""); code != 0 {
		t.Fatal(stderr)
	}
	if _, out, _ := xvsadm(t, "-L --timeout", ""); out != "Timeout (tcp tcpfin udp): 100 20 30\n" {
		t.Errorf("--timeout: %q", out)
	}
}

func TestSyntaxErrorNeedsNoDaemon(t *testing.T) {
	t.Setenv(control.SocketEnv, filepath.Join(t.TempDir(), "none.sock"))
	code, _, stderr := xvsadm(t, "-a -t 198.18.0.1:80 -r 198.18.1.2 -w 2147483648", "")
	if code != 2 || stderr != "illegal weight specified\n" {
		t.Errorf("exit %d, %q", code, stderr)
	}
	code, out, _ := xvsadm(t, "-h", "")
	if code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("-h: exit %d", code)
	}
}

func TestDaemonNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xvs.sock")
	t.Setenv(control.SocketEnv, path)
	code, _, stderr := xvsadm(t, "-Ln", "")
	want := "xvsadm: cannot reach the xvs daemon at " + path + " (is it running? start it with: xvs run -i IFACE)\n"
	if code == 0 || stderr != want {
		t.Errorf("exit %d, %q, want %q", code, stderr, want)
	}
}

// TestMain lets the test binary stand in for xvsadm in a child process
// (see TestPermissionDenied).
func TestMain(m *testing.M) {
	if os.Getenv("XVSADM_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestPermissionDenied runs xvsadm as user nobody against a daemon's
// socket, which only root may open.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test runs xvsadm as another user")
	}
	daemon(t)
	// A copy of this binary that nobody may execute.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir, err := os.MkdirTemp("", "xvsadm-bin")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(binDir)
	bin := filepath.Join(binDir, "xvsadm")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func() {
		t.Helper()
		cmd := exec.Command(bin, "-Ln")
		cmd.Env = append(os.Environ(), "XVSADM_TEST_AS_MAIN=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil {
			t.Fatal("xvsadm as nobody succeeded")
		}
		if got := stderr.String(); got != "Permission denied (you must be root)\n" {
			t.Errorf("exit %v, stderr %q", err, got)
		}
	}
	// The socket's mode stops nobody at connect.
	asNobody()
	// With the socket opened up by mistake, the daemon's peer-credential
	// check still refuses.
	sock := os.Getenv(control.SocketEnv)
	if err := os.Chmod(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	asNobody()
}
