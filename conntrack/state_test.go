package conntrack

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt transcripts with the states computed now")

// Transcript files in testdata/ replay packets through NextState. Lines:
//
//	# comment              kept as is
//	start STATE            set the state (a new transcript starts at NONE)
//	DIR FLAGS -> STATE     a packet; STATE is what NextState must return
//
// DIR is in, out or inonly; FLAGS are letters S, A, F, R, P or "." for none.
// With -rewrite the expected states are replaced by the computed ones.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			out, fails := replay(t, file)
			if *rewrite {
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, f := range fails {
				t.Error(f)
			}
		})
	}
}

func replay(t *testing.T, file string) (string, []string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	var fails []string
	s := StateNone
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
			out.WriteString(line + "\n")
			continue
		case fields[0] == "start" && len(fields) == 2:
			st, ok := parseState(fields[1])
			if !ok {
				t.Fatalf("%s:%d: unknown state %q", file, n, fields[1])
			}
			s = st
			out.WriteString(line + "\n")
			continue
		}
		if len(fields) < 2 || len(fields) > 4 || (len(fields) >= 3 && fields[2] != "->") {
			t.Fatalf("%s:%d: want \"DIR FLAGS -> STATE\", got %q", file, n, line)
		}
		dir, ok := parseDir(fields[0])
		if !ok {
			t.Fatalf("%s:%d: unknown direction %q", file, n, fields[0])
		}
		flags, ok := parseFlags(fields[1])
		if !ok {
			t.Fatalf("%s:%d: bad flags %q", file, n, fields[1])
		}
		got := NextState(s, flags, dir)
		if len(fields) == 4 && fields[3] != got.String() {
			fails = append(fails, fmt.Sprintf("%s:%d: %v %s %s: got %v, want %s",
				file, n, s, fields[0], fields[1], got, fields[3]))
		}
		fmt.Fprintf(&out, "%-6s %-4s -> %v\n", fields[0], fields[1], got)
		s = got
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String(), fails
}

func parseState(s string) (State, bool) {
	for i := range numStates {
		if State(i).String() == s {
			return State(i), true
		}
	}
	return 0, false
}

func parseDir(s string) (Dir, bool) {
	switch s {
	case "in":
		return DirInput, true
	case "out":
		return DirOutput, true
	case "inonly":
		return DirInputOnly, true
	}
	return 0, false
}

func parseFlags(s string) (uint8, bool) {
	if s == "." {
		return 0, true
	}
	var f uint8
	for _, r := range s {
		switch r {
		case 'S':
			f |= flow.TCPSyn
		case 'A':
			f |= flow.TCPAck
		case 'F':
			f |= flow.TCPFin
		case 'R':
			f |= flow.TCPRst
		case 'P':
			f |= flow.TCPPsh
		default:
			return 0, false
		}
	}
	return f, true
}

// TestNextStateRows checks a few cells of each of the kernel's tables by
// hand, and the flag priority.
func TestNextStateRows(t *testing.T) {
	tests := []struct {
		s     State
		flags uint8
		dir   Dir
		want  State
	}{
		{StateNone, flow.TCPSyn, DirInput, StateSynRecv},
		{StateNone, flow.TCPAck, DirInput, StateEstablished}, // sloppy mid-flow
		{StateNone, flow.TCPFin, DirInput, StateClose},
		{StateSynRecv, flow.TCPSyn | flow.TCPAck, DirOutput, StateSynRecv}, // SYN wins over ACK
		{StateSynRecv, flow.TCPAck, DirOutput, StateEstablished},
		{StateSynRecv, flow.TCPRst, DirInput, StateSynRecv}, // RST on SYN_RECV is ignored
		{StateEstablished, flow.TCPFin | flow.TCPAck, DirInput, StateCloseWait},
		{StateEstablished, flow.TCPFin | flow.TCPAck, DirInputOnly, StateFinWait},
		{StateEstablished, flow.TCPFin | flow.TCPAck, DirOutput, StateFinWait},
		{StateEstablished, flow.TCPRst | flow.TCPAck | flow.TCPSyn | flow.TCPFin, DirInput, StateClose}, // RST first
		{StateEstablished, 0, DirInput, StateClose},                                                     // no flags
		{StateEstablished, flow.TCPPsh, DirInput, StateClose},
		{StateTimeWait, flow.TCPSyn, DirInput, StateSynRecv},
		{StateTimeWait, flow.TCPRst, DirOutput, StateTimeWait},
		{StateLastAck, flow.TCPAck, DirInput, StateClose},
		{StateLastAck, flow.TCPAck, DirOutput, StateLastAck},
		{StateListen, flow.TCPAck, DirOutput, StateEstablished},
		{StateSynAck, flow.TCPRst, DirInput, StateSynRecv},
		{StateSynAck, flow.TCPRst, DirInputOnly, StateClose},
		{StateUDP, flow.TCPSyn, DirInput, StateSynRecv},        // not TCP: as NONE
		{StateNone, flow.TCPSyn, Dir(7), StateSynRecv},         // unknown dir: as input
		{State(200), flow.TCPAck, DirOutput, StateEstablished}, // out of range: as NONE
	}
	for _, tt := range tests {
		if got := NextState(tt.s, tt.flags, tt.dir); got != tt.want {
			t.Errorf("NextState(%v, %#x, %d) = %v, want %v", tt.s, tt.flags, tt.dir, got, tt.want)
		}
	}
}

func TestStateNames(t *testing.T) {
	want := "NONE ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN SYNACK UDP ICMP"
	var got []string
	for s := range numStates {
		got = append(got, State(s).String())
	}
	if g := strings.Join(got, " "); g != want {
		t.Errorf("names %q, want %q", g, want)
	}
	if State(numStates).String() != "ERR!" {
		t.Errorf("out of range name %q", State(numStates))
	}
	for s := range numStates {
		want := s == int(StateEstablished) || s == int(StateSynSent) || s == int(StateSynRecv) || s == int(StateSynAck)
		if State(s).Active() != want {
			t.Errorf("%v.Active() = %v", State(s), !want)
		}
	}
}

// FuzzStateMachine feeds random packet sequences: each byte pair is a
// direction and TCP flags. The state must always be a TCP state, and a
// packet with RST in the output direction never leaves ESTABLISHED standing.
func FuzzStateMachine(f *testing.F) {
	f.Add([]byte{0, flow.TCPSyn, 1, flow.TCPSyn | flow.TCPAck, 0, flow.TCPAck, 0, flow.TCPFin | flow.TCPAck, 1, flow.TCPFin | flow.TCPAck, 0, flow.TCPAck})
	f.Add([]byte{2, flow.TCPSyn, 2, flow.TCPAck, 2, flow.TCPFin, 2, flow.TCPRst})
	f.Add([]byte{0, 0, 1, 0xff, 2, flow.TCPPsh, 9, flow.TCPSyn})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, seq []byte) {
		s := StateNone
		for i := 0; i+1 < len(seq); i += 2 {
			dir, flags := Dir(seq[i]), seq[i+1]
			n := NextState(s, flags, dir)
			if int(n) >= numTCPStates {
				t.Fatalf("step %d: %v %#x dir %d -> invalid state %d", i/2, s, flags, dir, n)
			}
			if flags&flow.TCPRst != 0 && dir == DirOutput && n == StateEstablished {
				t.Fatalf("step %d: RST from the server left %v -> ESTABLISHED", i/2, s)
			}
			if flags&(flow.TCPRst|flow.TCPSyn|flow.TCPFin|flow.TCPAck) == 0 && n != StateClose {
				t.Fatalf("step %d: flagless packet gave %v", i/2, n)
			}
			s = n
		}
	})
}
