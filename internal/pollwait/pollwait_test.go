//go:build linux

package pollwait

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// eventfds returns n non-blocking eventfds, closed when the test ends.
func eventfds(t *testing.T, n int) []int {
	t.Helper()
	fds := make([]int, n)
	for i := range fds {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		fds[i] = fd
	}
	return fds
}

func signal(t *testing.T, fd int) {
	t.Helper()
	one := [8]byte{1}
	if _, err := unix.Write(fd, one[:]); err != nil {
		t.Fatal(err)
	}
}

// testSpin is the tests' spin: the bench's --worker-spin.
const testSpin = 50 * time.Microsecond

// TestWait: how long each kind of wait takes, with and without a
// descriptor ready.
func TestWait(t *testing.T) {
	tests := []struct {
		name     string
		busy     bool          // Got before the waits
		spin     time.Duration // Spin
		ready    int           // descriptor made readable first, -1 none
		waits    int           // Waits in a row
		min, max time.Duration // their total time
	}{
		{"idle, nothing ready: the whole idle wait", false, 0, -1, 1, idleWait * 8 / 10, time.Second},
		{"idle, second descriptor ready: at once", false, testSpin, 1, 1, 0, idleWait / 2},
		{"busy, nothing ready: the raw wait, then idle", true, 0, -1, 1, busyWait * 8 / 10, idleWait},
		{"busy and spinning, nothing ready: does not sleep", true, testSpin, -1, 1, 0, busyWait / 2},
		{"busy, spin over: the raw wait, then idle", true, testSpin, -1, 1 << 20, testSpin + busyWait*8/10, time.Second},
		{"busy, ready: at once", true, testSpin, 0, 1000, 0, busyWait / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds := eventfds(t, 2)
			w := New(fds...)
			w.Spin(tt.spin)
			if tt.busy {
				w.Got()
			}
			if tt.ready >= 0 {
				signal(t, fds[tt.ready])
			}
			start := time.Now()
			for i := 0; i < tt.waits; i++ {
				if !w.Wait() {
					t.Fatal("Wait failed")
				}
				if !tt.busy || (tt.ready < 0 && !w.busy) {
					break // the spin and the raw wait are over
				}
			}
			if d := time.Since(start); d < tt.min || d > tt.max {
				t.Errorf("took %v, want %v to %v", d, tt.min, tt.max)
			}
		})
	}
}

// TestGotRestartsSpin: frames (Got) during a spin start it afresh, and a
// raw wait that found a descriptor ready keeps the waiter busy.
func TestGotRestartsSpin(t *testing.T) {
	fds := eventfds(t, 1)
	w := New(fds...)
	w.Spin(testSpin)
	w.Got()
	w.Wait()
	if w.spinFrom == 0 {
		t.Fatal("no spin began")
	}
	w.Got()
	if w.spinFrom != 0 || !w.busy {
		t.Fatalf("after Got: spinFrom %v busy %v, want 0 and busy", w.spinFrom, w.busy)
	}
	signal(t, fds[0])
	w.spinFrom = time.Since(monoStart) - testSpin // the spin is over
	w.Wait()
	if !w.busy {
		t.Error("a raw wait that found a frame left the waiter idle")
	}
}

// TestSpinning: Spinning says whether the next Wait returns at once, and
// Spin clamps what it is given.
func TestSpinning(t *testing.T) {
	tests := []struct {
		name string
		spin time.Duration
		busy bool
		over bool // the spin began longer ago than it lasts
		want bool
		set  time.Duration // the spin the waiter keeps
	}{
		{"no spin", 0, true, false, false, 0},
		{"negative is none", -time.Second, true, false, false, 0},
		{"idle does not spin", testSpin, false, false, false, testSpin},
		{"busy, spin not begun", testSpin, true, false, true, testSpin},
		{"busy, spin over", testSpin, true, true, false, testSpin},
		{"clamped to MaxSpin", time.Hour, true, false, true, MaxSpin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(eventfds(t, 1)...)
			w.Spin(tt.spin)
			if tt.busy {
				w.Got()
			}
			if tt.over {
				w.spinFrom = time.Since(monoStart) - 2*tt.spin
			}
			if got := w.Spinning(); got != tt.want {
				t.Errorf("Spinning() = %v, want %v", got, tt.want)
			}
			if w.spin != tt.set {
				t.Errorf("spin %v, want %v", w.spin, tt.set)
			}
		})
	}
}
