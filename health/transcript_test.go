package health

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/transcripts with the engine's present output")

// TestTranscripts replays testdata/transcripts/*.txt: commands on the left margin, and below
// each, indented, the actions, notifies and quorum changes the engine made. -rewrite records
// the present output instead of comparing.
//
//	service quorum=2 hysteresis=1 sorry=3 sorry_inhibit omega retry=2 delay_loop=10s dbr=3s
//	real r1 weight=1 inhibit alpha notify_up notify_down
//	start | advance 10s | pass r1 | fail r1 | weight r1 5 | status | stop
func TestTranscripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/transcripts/*.txt")
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, string(b))
			if *rewrite {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(b) {
				t.Fatalf("transcript differs (run with -rewrite to accept):\n%s", diffLines(string(b), got))
			}
		})
	}
}

func replay(t *testing.T, src string) string {
	var out strings.Builder
	clock := newFakeClock()
	rec := &recorder{}
	svc := Service{Key: "vs", Name: "vs", Quorum: 1}
	tmg := Timing{DelayLoop: 10 * time.Second, Timeout: time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second}
	checks := map[string]*script{}
	var e *Engine
	for _, line := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		if strings.HasPrefix(line, "  ") {
			continue // recorded output: regenerated below
		}
		out.WriteString(line + "\n")
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "service":
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "quorum":
					svc.Quorum = atoi(t, v)
				case "hysteresis":
					svc.Hysteresis = atoi(t, v)
				case "sorry":
					svc.Sorry = &Real{Key: "sorry", Name: "sorry", Weight: atoi(t, v)}
				case "sorry_inhibit":
					svc.SorryInhibit = true
				case "omega":
					svc.Omega = true
				case "retry":
					tmg.Retry = atoi(t, v)
				case "delay_loop":
					tmg.DelayLoop = dur(t, v)
				case "dbr":
					tmg.DelayBeforeRetry = dur(t, v)
				default:
					t.Fatalf("service: unknown %q", k)
				}
			}
			svc.QuorumUp, svc.QuorumDown = []string{"quorum_up"}, []string{"quorum_down"}
		case "real":
			s := &script{name: f[1], next: okR, clock: clock}
			checks[f[1]] = s
			r := Real{Key: f[1], Name: f[1], Weight: 1}
			chk := Check{Checker: s, Timing: tmg}
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "weight":
					r.Weight = atoi(t, v)
				case "inhibit":
					r.Inhibit = true
				case "alpha":
					chk.Alpha = true
				case "notify":
					r.NotifyUp, r.NotifyDown = []string{"notify_up", f[1]}, []string{"notify_down", f[1]}
				default:
					t.Fatalf("real: unknown %q", k)
				}
			}
			r.Checks = []Check{chk}
			svc.Reals = append(svc.Reals, r)
		case "start":
			var err error
			e, err = New([]Service{svc}, rec, Options{Clock: clock, Jitter: func(time.Duration) time.Duration { return 0 },
				Notify: func(argv []string) { rec.add("run %s", strings.Join(argv, " ")) }})
			if err != nil {
				t.Fatal(err)
			}
			e.Start()
		case "advance":
			clock.Advance(dur(t, f[1]))
		case "pass":
			checks[f[1]].set(okR)
		case "fail":
			checks[f[1]].set(failR)
		case "weight":
			checks[f[1]].set(Result{OK: true, Dynamic: true, Weight: atoi(t, f[2])})
		case "status":
			for _, st := range e.Services() {
				rec.add("service %s quorum_up=%v live_weight=%d sorry=%v", st.Name, st.QuorumUp, st.LiveWeight, st.SorryActive)
			}
			for _, st := range e.Status() {
				rec.add("check %s %s weight=%d transitions=%d", st.Real, st.State(), st.Weight, st.Transitions)
			}
		case "stop":
			e.Stop()
		default:
			t.Fatalf("unknown command %q", line)
		}
		for _, a := range strings.Split(rec.take(), "; ") {
			if a != "" {
				out.WriteString("  " + a + "\n")
			}
		}
	}
	return out.String()
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func dur(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
