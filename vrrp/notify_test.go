package vrrp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScripts: the state's own script runs without arguments, and notify
// gets exactly keepalived's four (REFERENCE §2.4: `INSTANCE VI_1 MASTER
// 100`).
func TestScripts(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	write := func(tag string) []string {
		return []string{"/bin/sh", "-c", `echo "` + tag + ` $*" >> ` + log, "sh"}
	}
	sc := Scripts{Notify: write("notify"), Master: write("master"), Stop: write("stop")}
	on := sc.OnState("VI_1", 100, nil)
	on(Master)
	waitLines(t, log, 2)
	on(Initialize)
	got := waitLines(t, log, 4)
	want := []string{"master ", "notify INSTANCE VI_1 MASTER 100", "stop ", "notify INSTANCE VI_1 STOP 100"}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing %q in %q", w, got)
		}
	}
}

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines in %s, want %d:\n%s", len(lines), path, n, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
