package bench

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const procStatSample = `cpu  4705 150 1120 16250 520 30 45 7 0 0
cpu0 2350 75 560 8125 260 15 22 3 0 0
cpu1 2355 75 560 8125 260 15 23 4 0 0
intr 1462898 0 0
ctxt 1990473
btime 1062191376
processes 2915
procs_running 1
`

func TestParseProcStat(t *testing.T) {
	got, cores, err := ParseProcStat(strings.NewReader(procStatSample))
	if err != nil {
		t.Fatal(err)
	}
	want := CPUTimes{User: 4705, Nice: 150, System: 1120, Idle: 16250, IOWait: 520, IRQ: 30, SoftIRQ: 45, Steal: 7}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if cores != 2 {
		t.Errorf("cores = %d, want 2", cores)
	}
	if b := got.Busy(); b != 4705+150+1120+30+45 {
		t.Errorf("busy = %d", b)
	}
	later := got
	later.User += 100
	later.SoftIRQ += 50
	later.Idle += 1000
	d := later.Sub(got)
	if d.Busy() != 150 || d.Idle != 1000 {
		t.Errorf("delta = %+v", d)
	}
	if d.BusyDuration() != 1500*time.Millisecond {
		t.Errorf("busy duration = %v, want 1.5s", d.BusyDuration())
	}
}

func TestParseProcStatErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no cpu line": "intr 1 2 3\nctxt 5\n",
		"short line":  "cpu  1 2 3\n",
		"not numbers": "cpu  a b c d e f g h\n",
		"empty":       "",
	} {
		if _, _, err := ParseProcStat(strings.NewReader(in)); !errors.Is(err, ErrProcStat) {
			t.Errorf("%s: err = %v, want ErrProcStat", name, err)
		}
	}
}

func TestReadCPUTimes(t *testing.T) {
	a, err := ReadCPUTimes()
	if err != nil {
		t.Skip("no /proc/stat:", err)
	}
	b, err := ReadCPUTimes()
	if err != nil {
		t.Fatal(err)
	}
	if b.Busy() < a.Busy() || b.Idle < a.Idle {
		t.Errorf("times went backwards: %+v then %+v", a, b)
	}
}

func TestParsePidStat(t *testing.T) {
	line := "4242 (go (build) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1234 0 0"
	ppid, ticks, err := ParsePidStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if ppid != 17 || ticks != 325 {
		t.Errorf("ppid %d ticks %d, want 17 and 325", ppid, ticks)
	}
	for _, bad := range []string{"", "12 noparens S 1", "12 (x) S 1 2 3", "12 (x) S a 1 2 3 4 5 6 7 8 9 10 11 12"} {
		if _, _, err := ParsePidStat(bad); !errors.Is(err, ErrProcStat) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestProcTimesSub(t *testing.T) {
	before := procTimes{1: 100, 2: 50, 3: 10}
	after := procTimes{1: 130, 2: 50, 4: 7} // 3 exited, 4 was born
	if got := after.Sub(before); got != 370*time.Millisecond {
		t.Errorf("got %v, want 370ms", got)
	}
	sc := scanCPU(nil)
	if len(sc.others) == 0 {
		t.Error("no processes found in /proc")
	}
	if _, self := sc.others[os.Getpid()]; self {
		t.Error("the bench counted itself as another job")
	}
	for _, line := range []string{"12 (ksoftirqd/0) S 2", "99 (napi/eth0-8193) S 2"} {
		if !packetThread(line) {
			t.Errorf("%q is a packet thread", line)
		}
	}
	if packetThread("13 (kworker/0:1-events) S 2") {
		t.Error("a kworker is not a packet thread")
	}
}
