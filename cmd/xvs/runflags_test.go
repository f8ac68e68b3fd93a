package main

import (
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/forwarder"
)

// TestConnReuseModeFlag: --conn-reuse-mode takes the kernel's numbers, 1 by
// default, and refuses others before anything is touched.
func TestConnReuseModeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want forwarder.ConnReuse
		err  string
	}{
		{nil, forwarder.ReuseClosed, ""},
		{[]string{"--conn-reuse-mode", "0"}, forwarder.ReuseNever, ""},
		{[]string{"--conn-reuse-mode", "1"}, forwarder.ReuseClosed, ""},
		{[]string{"--conn-reuse-mode", "2"}, forwarder.ReuseFinWait, ""},
		{[]string{"--conn-reuse-mode", "7"}, 0, "--conn-reuse-mode 7: want 0, 1 or 2"},
	} {
		f, err := parseRunFlags(append([]string{"-i", "lo"}, tc.args...))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || f.reuse != tc.want {
			t.Errorf("%v: %v, mode %d; want mode %d", tc.args, err, f.reuse.Mode(), tc.want.Mode())
		}
	}
}

// TestCPUFlags: --worker-cpus and --control-cpus take CPU lists and refuse
// a malformed list or a CPU the process may not use, naming the flag.
func TestCPUFlags(t *testing.T) {
	for _, tc := range []struct {
		args            []string
		worker, control string
		err             string
	}{
		{args: nil},
		{args: []string{"--worker-cpus", "0", "--control-cpus", "0"}, worker: "0", control: "0"},
		{args: []string{"--worker-cpus", "0-0,0"}, worker: "0"},
		{args: []string{"--worker-cpus", "1-0"}, err: `run: --worker-cpus: cpu list "1-0": range 1-0 runs backwards`},
		{args: []string{"--control-cpus", "x"}, err: `run: --control-cpus: cpu list "x": bad CPU number "x"`},
		{args: []string{"--worker-cpus", "1000"}, err: "run: --worker-cpus 1000: CPU 1000 is not one this process may run on"},
	} {
		f, err := parseRunFlags(append([]string{"-i", "lo"}, tc.args...))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || f.workerCPUs.String() != tc.worker || f.controlCPUs.String() != tc.control {
			t.Errorf("%v: %v, workers %q control %q; want %q %q", tc.args, err, f.workerCPUs, f.controlCPUs, tc.worker, tc.control)
		}
	}
}

// TestWorkerSpinFlag: --worker-spin is off by default, takes a duration
// up to pollwait.MaxSpin, and only with --worker-cpus.
func TestWorkerSpinFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		err  string
	}{
		{args: nil},
		{args: []string{"--worker-cpus", "0", "--worker-spin", "50us"}, want: 50 * time.Microsecond},
		{args: []string{"--worker-cpus", "0", "--worker-spin", "0"}},
		{args: []string{"--worker-spin", "50us"}, err: "run: --worker-spin needs --worker-cpus"},
		{args: []string{"--worker-cpus", "0", "--worker-spin", "2ms"}, err: "run: --worker-spin 2ms: want 0 to 1ms"},
		{args: []string{"--worker-cpus", "0", "--worker-spin", "-1us"}, err: "run: --worker-spin -1µs: want 0 to 1ms"},
		{args: []string{"--worker-cpus", "0", "--worker-spin", "fast"}, err: `invalid value "fast" for flag -worker-spin`},
	} {
		f, err := parseRunFlags(append([]string{"-i", "lo"}, tc.args...))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || f.workerSpin != tc.want {
			t.Errorf("%v: %v, spin %v; want %v", tc.args, err, f.workerSpin, tc.want)
		}
	}
}

// TestECMPFlag: --ecmp is off by default and independent of --sloppy; it
// is remembered as given, --ecmp=false too, so a bgp: block turns ECMP mode
// on only when the flag is absent.
func TestECMPFlag(t *testing.T) {
	for _, tc := range []struct {
		args              []string
		ecmp, set, sloppy bool
	}{
		{nil, false, false, false},
		{[]string{"--ecmp"}, true, true, false},
		{[]string{"--ecmp", "--sloppy"}, true, true, true},
		{[]string{"--ecmp=false"}, false, true, false},
	} {
		f, err := parseRunFlags(append([]string{"-i", "lo"}, tc.args...))
		if err != nil || f.ecmp != tc.ecmp || f.ecmpSet != tc.set || f.sloppy != tc.sloppy {
			t.Errorf("%v: %v, ecmp %v (given %v) sloppy %v", tc.args, err, f != nil && f.ecmp, f != nil && f.ecmpSet, f != nil && f.sloppy)
		}
	}
}
