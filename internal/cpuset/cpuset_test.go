package cpuset

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Set
		err  string
	}{
		{in: "", want: nil},
		{in: "0", want: Set{0}},
		{in: "3,1", want: Set{1, 3}},
		{in: "0-3", want: Set{0, 1, 2, 3}},
		{in: "2-3, 0 ,3", want: Set{0, 2, 3}},
		{in: "1-1", want: Set{1}},
		{in: "3-1", err: "runs backwards"},
		{in: "a", err: `bad CPU number "a"`},
		{in: "-1", err: `bad CPU number ""`},
		{in: "1,", err: `bad CPU number ""`},
		{in: "1024", err: `bad CPU number "1024"`},
		{in: "1-2-3", err: `bad CPU number "2-3"`},
	} {
		got, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "0", "0-3,5", "3-1", "x", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := Parse(s)
		if err != nil {
			return
		}
		if !slices.IsSorted(set) || len(slices.Compact(slices.Clone(set))) != len(set) {
			t.Fatalf("Parse(%q) = %v: not sorted and distinct", s, set)
		}
		again, err := Parse(set.String())
		if err != nil || !slices.Equal(again, set) {
			t.Fatalf("Parse(%q).String() = %q does not read back: %v, %v", s, set.String(), again, err)
		}
	})
}

func TestCheckAllowed(t *testing.T) {
	cur, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.CheckAllowed(); err != nil {
		t.Errorf("the current mask %v is refused: %v", cur, err)
	}
	err = Set{maxCPU - 1}.CheckAllowed()
	if err == nil || !strings.Contains(err.Error(), "CPU 1023 is not one this process may run on") {
		t.Errorf("CPU 1023 accepted or badly worded: %v", err)
	}
}

// lastCPU is the highest CPU this process may use: the one pinned to.
func lastCPU(t *testing.T) int {
	cur, err := Current()
	if err != nil || len(cur) == 0 {
		t.Fatalf("mask: %v %v", cur, err)
	}
	return cur[len(cur)-1]
}

func TestPinThreadStaysOnItsGoroutine(t *testing.T) {
	cpu := lastCPU(t)
	before, _ := Current()
	got := make(chan Set, 1)
	go func() {
		if err := PinThread(Set{cpu}); err != nil {
			t.Error(err)
		}
		runtime.Gosched()
		s, _ := Current()
		got <- s
		// Returning while locked ends the pinned thread.
	}()
	if s := <-got; !slices.Equal(s, Set{cpu}) {
		t.Errorf("pinned goroutine runs on %v, want [%d]", s, cpu)
	}
	// No other thread had its mask changed (the pinned one may still be
	// on its way out).
	runtime.Gosched()
	for tid, m := range masks(t) {
		if m != before.list() && m != strconv.Itoa(cpu) {
			t.Errorf("thread %d on %v, want %v", tid, m, before)
		}
	}
}

func TestPinProcess(t *testing.T) {
	before, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := PinProcess(before); err != nil {
			t.Errorf("restoring %v: %v", before, err)
		}
	})
	cpu := lastCPU(t)
	if err := PinProcess(Set{cpu}); err != nil {
		t.Fatal(err)
	}
	all := masks(t)
	for tid, m := range all {
		if m != strconv.Itoa(cpu) {
			t.Errorf("thread %d on %v after PinProcess(%d)", tid, m, cpu)
		}
	}
	if len(all) < 2 {
		t.Errorf("ThreadMasks saw %d threads: %v", len(all), all)
	}
	// A thread started from now on inherits the mask.
	done := make(chan Set)
	go func() {
		runtime.LockOSThread()
		s, _ := Current()
		done <- s
	}()
	if s := <-done; !slices.Equal(s, Set{cpu}) {
		t.Errorf("a thread started later runs on %v", s)
	}
	if err := PinProcess(nil); err == nil {
		t.Error("PinProcess(nil) accepted")
	}
}

// masks is ThreadMasks of this process.
func masks(t *testing.T) map[int]string {
	m, err := ThreadMasks(0)
	if err != nil || len(m) == 0 {
		t.Fatalf("ThreadMasks: %v %v", m, err)
	}
	return m
}

// list writes s as /proc does for a set of single CPUs or one range.
func (s Set) list() string {
	if len(s) > 1 && s[len(s)-1]-s[0] == len(s)-1 {
		return strconv.Itoa(s[0]) + "-" + strconv.Itoa(s[len(s)-1])
	}
	return s.String()
}
