package admin

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// fakeBackend is a daemon in memory: Apply is all-or-nothing like the
// engine's.
type fakeBackend struct {
	cfg      *service.Config
	stats    control.Stats
	conns    []control.Conn
	timeouts control.Timeouts
	zeroed   []*service.Key
	applies  int
	capacity int
}

func newFakeBackend() *fakeBackend { return &fakeBackend{cfg: &service.Config{}} }

func (b *fakeBackend) Config() (*service.Config, error) { return b.cfg.Clone(), nil }

func (b *fakeBackend) Apply(changes []control.Change) error {
	b.applies++
	n := b.cfg.Clone()
	if err := control.ApplyChanges(n, changes); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	b.cfg = n
	return nil
}

func (b *fakeBackend) Stats() (control.Stats, error)       { return b.stats, nil }
func (b *fakeBackend) AllConns() ([]control.Conn, error)   { return b.conns, nil }
func (b *fakeBackend) Timeouts() (control.Timeouts, error) { return b.timeouts, nil }

func (b *fakeBackend) ZeroStats(k *service.Key) error {
	if k != nil && b.cfg.Find(*k) < 0 {
		return service.ErrNoService
	}
	b.zeroed = append(b.zeroed, k)
	return nil
}

func (b *fakeBackend) SetCapacity(n int) error {
	b.capacity = n
	return nil
}

func (b *fakeBackend) SetTimeouts(t control.Timeouts) error {
	if t.TCP != 0 {
		b.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		b.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		b.timeouts.UDP = t.UDP
	}
	return nil
}

var _ Backend = (*fakeBackend)(nil)
var _ Backend = (*control.Client)(nil)

// run parses and runs one command line against b.
func run(t *testing.T, b Backend, line string, stdin string) (string, error) {
	t.Helper()
	cmd, err := Parse(strings.Fields(line), nil)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	err = Run(cmd, b, Env{Stdin: strings.NewReader(stdin), Stdout: &out})
	return out.String(), err
}

// TestHowToSession replays the LVS-DR how-to from the seeds, with the binary
// renamed, and checks what an operator sees.
func TestHowToSession(t *testing.T) {
	b := newFakeBackend()
	b.stats.Table.Capacity = 4096
	for _, line := range []string{
		"-A -t 192.168.8.200:80 -s rr",
		"-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1",
		"-a -t 192.168.8.200:80 -r 192.168.8.30:80 -g -w 1",
	} {
		if _, err := run(t, b, line, ""); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	out, err := run(t, b, "-Ln \u2013stats", "")
	if err != nil {
		t.Fatal(err)
	}
	want := `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.8.200:80                    0        0        0        0        0
  -> 192.168.8.20:80                     0        0        0        0        0
  -> 192.168.8.30:80                     0        0        0        0        0
`
	if out != want {
		t.Errorf("-Ln –stats:\n%s\nwant:\n%s", out, want)
	}
	out, err = run(t, b, "-Ln", "")
	if err != nil {
		t.Fatal(err)
	}
	want = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.8.200:80 rr
  -> 192.168.8.20:80              Route   1      0          0         
  -> 192.168.8.30:80              Route   1      0          0         
`
	if out != want {
		t.Errorf("-Ln:\n%q\nwant:\n%q", out, want)
	}
	// Save, clear, restore: the same table.
	saved, err := run(t, b, "-S", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "-A -t 192.168.8.200:http -s rr\n-a -t 192.168.8.200:http -r 192.168.8.20:http -g -w 1\n-a -t 192.168.8.200:http -r 192.168.8.30:http -g -w 1\n"; saved != want {
		t.Errorf("-S:\n%s\nwant:\n%s", saved, want)
	}
	before := b.cfg.Clone()
	if _, err := run(t, b, "-C", ""); err != nil {
		t.Fatal(err)
	}
	if len(b.cfg.Services) != 0 {
		t.Fatal("-C left services")
	}
	if _, err := run(t, b, "-R", saved); err != nil {
		t.Fatal(err)
	}
	if !equalConfig(before, b.cfg) {
		t.Errorf("restore gave %+v, want %+v", b.cfg, before)
	}
}

func TestRunErrorsCarryIpvsadmWords(t *testing.T) {
	b := newFakeBackend()
	steps := []struct {
		line string
		msg  string
	}{
		{"-A -t 198.18.0.1:80 -s rr", ""},
		{"-A -t 198.18.0.1:80 -s rr", "Service already exists"},
		{"-E -t 198.18.0.9:80 -s rr", "No such service"},
		{"-D -t 198.18.0.9:80", "No such service"},
		{"-a -t 198.18.0.9:80 -r 198.18.1.2", "Service not defined"},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2", ""},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2", "Destination already exists"},
		{"-e -t 198.18.0.1:80 -r 198.18.1.3", "No such destination"},
		{"-d -t 198.18.0.1:80 -r 198.18.1.3", "No such destination"},
		{"-A -t 198.18.0.2:80 -s nosuch", "Scheduler or persistence engine not found"},
		{"-Z -t 198.18.0.9:80", "No such service"},
		{"-L -t 198.18.0.9:80", "No such service"},
		{"-e -t 198.18.0.1:80 -r 198.18.1.2 -w 0", ""},
		{"-d -t 198.18.0.1:80 -r 198.18.1.2", ""},
		{"-D -t 198.18.0.1:80", ""},
		{"--start-daemon master", "this daemon does not run connection sync"}, // daemon_test.go has one that does
	}
	for _, s := range steps {
		_, err := run(t, b, s.line, "")
		switch {
		case s.msg == "" && err != nil:
			t.Errorf("%s: %v", s.line, err)
		case s.msg != "" && (err == nil || Message(err) != s.msg):
			t.Errorf("%s: error %v, want %q", s.line, err, s.msg)
		}
	}
}

func TestRunZeroAndTimeouts(t *testing.T) {
	b := newFakeBackend()
	if _, err := run(t, b, "-A -t 198.18.0.1:80", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, b, "-Z", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, b, "-Z -t 198.18.0.1:80", ""); err != nil {
		t.Fatal(err)
	}
	if len(b.zeroed) != 2 || b.zeroed[0] != nil || b.zeroed[1] == nil || b.zeroed[1].Port != 80 {
		t.Errorf("zeroed %v", b.zeroed)
	}
	if _, err := run(t, b, "--set 900 0 60", ""); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, b, "-L --timeout", "")
	if err != nil {
		t.Fatal(err)
	}
	if out != "Timeout (tcp tcpfin udp): 900 0 60\n" {
		t.Errorf("--timeout: %q", out)
	}
	if out, err := run(t, b, "-L --daemon", ""); err != nil || out != "" {
		t.Errorf("--daemon: %q, %v", out, err)
	}
}

func TestRunHelpVersion(t *testing.T) {
	for _, line := range []string{"-h", "--help", "-v", "--version"} {
		cmd, err := Parse(strings.Fields(line), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cmd.NeedsBackend() {
			t.Errorf("%s needs a daemon", line)
		}
		var out bytes.Buffer
		if err := Run(cmd, nil, Env{Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "xvsadm v1.31") {
			t.Errorf("%s printed %q", line, out.String())
		}
	}
	cmd, _ := Parse([]string{"-L"}, nil)
	if err := Run(cmd, nil, Env{Stdout: &bytes.Buffer{}}); !errors.Is(err, ErrNoBackend) {
		t.Errorf("-L without a daemon: %v", err)
	}
}

func TestRestoreAllOrNothing(t *testing.T) {
	b := newFakeBackend()
	rules := "-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m\n\n# a comment\n-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m\n"
	_, err := run(t, b, "-R", rules)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 5 || !errors.Is(err, service.ErrDestExists) {
		t.Fatalf("error %v, want line 5 Destination already exists", err)
	}
	if Message(err) != "line 5: Destination already exists" {
		t.Errorf("message %q", Message(err))
	}
	if len(b.cfg.Services) != 0 {
		t.Errorf("partial restore left %d services", len(b.cfg.Services))
	}
	// A syntax error on a late line stops the restore before the daemon
	// sees anything.
	_, err = run(t, b, "-R", "-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.18.1.2 -w 2147483648\n")
	if !errors.As(err, &le) || le.Line != 2 || Message(err) != "line 2: illegal weight specified" {
		t.Errorf("error %v", err)
	}
	if b.applies != 1 {
		t.Errorf("daemon saw %d applies, want 1", b.applies)
	}
	_, err = run(t, b, "-R", "-L -n\n")
	if !errors.Is(err, ErrNotConfig) {
		t.Errorf("-L in a rules file: %v", err)
	}
}
