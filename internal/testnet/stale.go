package testnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// markerDir holds one file per live lab: "pid=N\nstart=T\nname=LABEL\n",
// where T is the creator's start time in clock ticks since boot (field 22 of
// /proc/PID/stat), so a reused pid is told apart from the creator.
const markerDir = "/run/xvs-testnet"

var (
	staleOnce sync.Once
	staleErr  error
)

// cleanupStaleOnce runs CleanupStale the first time a process builds a lab.
func cleanupStaleOnce() error {
	staleOnce.Do(func() { staleErr = CleanupStale() })
	return staleErr
}

// CleanupStale deletes the labs of processes that are gone: every namespace
// named like this package's, with a marker file under /run/xvs-testnet, whose
// creator pid is dead (or alive but started at another time than the marker
// says: a reused pid), after killing any process still inside; then their
// marker files and labserver build directories. Labs of live processes, and
// namespaces without a marker or with other names, are left alone.
func CleanupStale() error {
	var errs []error
	ents, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list namespaces: %w", err)
	}
	stale := map[string][]string{} // lab ID -> its namespaces
	for _, e := range ents {
		id, pid, _, ok := parseNSName(e.Name())
		if !ok || !labStale(id, pid) {
			continue
		}
		stale[id] = append(stale[id], e.Name())
	}
	for id, names := range stale {
		if err := deleteNamespaces(names); err != nil {
			errs = append(errs, fmt.Errorf("stale lab %s: %w", id, err))
		}
	}
	// Markers of labs that crashed before their namespaces existed, or whose
	// namespaces were removed by hand.
	marks, err := os.ReadDir(markerDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("list markers: %w", err))
	}
	for _, m := range marks {
		id := m.Name()
		if _, pid, _, ok := parseNSName(id + "-x"); ok && labStale(id, pid) {
			if err := removeMarker(id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, cleanupStaleBuilds())
	return errors.Join(errs...)
}

// labStale reports whether lab id was made by this package and its creator
// (pid, from the name) is gone. The marker is the proof of origin: a
// namespace that merely looks like ours is never touched. The creator is
// gone when pid is dead or belongs to a process started at another time.
func labStale(id string, pid int) bool {
	want, ok := readMarker(id)
	if !ok {
		return false
	}
	start, err := procStartTime(pid)
	return err != nil || start != want
}

// procStartTime returns field 22 of /proc/PID/stat: the start time in ticks.
func procStartTime(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// The command name (field 2) may hold spaces; fields after its ')' are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return f[19], nil
}

func writeMarker(id, name string) error {
	start, err := procStartTime(os.Getpid())
	if err != nil {
		return fmt.Errorf("own start time: %w", err)
	}
	if err := os.MkdirAll(markerDir, 0o755); err != nil {
		return fmt.Errorf("marker dir: %w", err)
	}
	name = strings.Map(func(r rune) rune {
		if r == '\n' {
			return ' '
		}
		return r
	}, name)
	body := fmt.Sprintf("pid=%d\nstart=%s\nname=%s\n", os.Getpid(), start, name)
	if err := os.WriteFile(filepath.Join(markerDir, id), []byte(body), 0o644); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	return nil
}

// readMarker returns the start time recorded for lab id; ok is false when
// there is no readable marker.
func readMarker(id string) (start string, ok bool) {
	b, err := os.ReadFile(filepath.Join(markerDir, id))
	if err != nil {
		return "", false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "start="); found {
			return v, true
		}
	}
	return "", false
}

func removeMarker(id string) error {
	err := os.Remove(filepath.Join(markerDir, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove marker: %w", err)
	}
	return nil
}

// killNamespacePids SIGKILLs every process whose network namespace is ns and
// waits (up to two seconds) for them to go, so the namespace can die with
// its bind mount.
func killNamespacePids(ns string) error {
	var want syscall.Stat_t
	if err := syscall.Stat(nsPath(ns), &want); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // deleted meanwhile, by another process's CleanupStale
		}
		return fmt.Errorf("stat namespace %s: %w", ns, err)
	}
	pids := namespacePids(want)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		pids = namespacePids(want)
	}
	if len(pids) > 0 {
		return fmt.Errorf("namespace %s: processes %v survived SIGKILL", ns, pids)
	}
	return nil
}

// namespacePids lists the processes whose network namespace is the nsfs
// inode ns.
func namespacePids(ns syscall.Stat_t) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
			continue
		}
		if st.Dev == ns.Dev && st.Ino == ns.Ino {
			pids = append(pids, pid)
		}
	}
	return pids
}
