package control

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// writeConfig writes text to a fresh file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "xvs.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadFile: a good file replaces the running configuration; a bad one,
// a missing one and no file at all change nothing.
func TestLoadFile(t *testing.T) {
	e := newFakeEngine()
	if err := LoadFile(writeConfig(t, goodConfig), e); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Config().Services); n != 3 {
		t.Fatalf("%d services installed, want 3", n)
	}
	before := e.Config()
	bad := strings.Replace(goodConfig, "198.18.1.2, port: 8080", "nonsense, port: 8080", 1)
	for _, tt := range []struct {
		name, path string
		want       error
	}{
		{"bad", writeConfig(t, bad), nil},
		{"missing", filepath.Join(t.TempDir(), "none.yaml"), os.ErrNotExist},
		{"none", "", ErrNoConfigFile},
	} {
		err := LoadFile(tt.path, e)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s file: %v, want an error (%v)", tt.name, err, tt.want)
		}
		if after := e.Config(); len(after.Services) != len(before.Services) || after.Services[0].Scheduler != before.Services[0].Scheduler {
			t.Errorf("%s file changed the configuration: %+v", tt.name, after)
		}
	}
}

// TestReloaderPrepare: Prepare runs only for a file that parsed, before it
// is installed.
func TestReloaderPrepare(t *testing.T) {
	e := newFakeEngine()
	var seen []int
	r := &Reloader{Path: writeConfig(t, "services: [{proto: tcp, vip: 198.18.0.1, port: 80, reals: [{address: nonsense}]}]\n"),
		Engine: e, Prepare: func() { seen = append(seen, len(e.Config().Services)) }}
	if err := r.Reload(); err == nil || len(seen) != 0 {
		t.Fatalf("bad file: %v, Prepare ran %d times", err, len(seen))
	}
	r.Path = writeConfig(t, goodConfig)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != 0 || len(e.Config().Services) != 3 {
		t.Errorf("Prepare saw %v services before the install; %d installed", seen, len(e.Config().Services))
	}
}

// TestReloaderWatch: each signal reloads and logs the outcome, a refused
// file included, until the context ends.
func TestReloaderWatch(t *testing.T) {
	e := newFakeEngine()
	var out testnet.SyncBuffer
	path := writeConfig(t, goodConfig)
	r := &Reloader{Path: path, Engine: e, Logger: slog.New(slog.NewTextHandler(&out, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// SIGUSR1 rather than SIGHUP, so the test's own process keeps its
	// SIGHUP as it was.
	r.Watch(ctx, syscall.SIGUSR1)
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); strings.Count(out.String(), what) < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", what, out.String())
			}
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitLog("configuration reloaded", 1)
	if n := len(e.Config().Services); n != 3 {
		t.Fatalf("%d services after the signal, want 3", n)
	}
	if err := os.WriteFile(path, []byte("services: [{proto: tcp}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitLog("reload refused; running configuration unchanged", 1)
	if n := len(e.Config().Services); n != 3 {
		t.Errorf("%d services after a refused reload, want 3", n)
	}
}
