package conntrack

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// step is one packet of a transcript: direction and TCP flags as letters.
type step struct {
	dir   Dir
	flags string
}

func tcpFlags(s string) uint8 {
	var f uint8
	for _, c := range s {
		switch c {
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
		}
	}
	return f
}

// TestReplyClash: two NAT services on one real server. A client's connection
// to the first VIP holds the reply key real:80 -> client:port; a new
// connection from the same client port to the second VIP wants the same
// reply key. A closing holder gives it up; a live one makes the insert fail
// with ErrReplyClash (not ErrFull: the table has room).
func TestReplyClash(t *testing.T) {
	in, out := DirInput, DirOutput
	cases := []struct {
		name  string
		proto uint8
		steps []step
		age   time.Duration // the holder's idle time before the new insert
		want  error         // nil: the new connection takes the key
		state State         // the holder's state before the insert
	}{
		{"syn-recv", flow.TCP, []step{{in, "S"}}, 0, ErrReplyClash, StateSynRecv},
		{"established", flow.TCP, []step{{in, "S"}, {out, "SA"}, {in, "A"}}, 0, ErrReplyClash, StateEstablished},
		{"fin-wait", flow.TCP, []step{{in, "S"}, {out, "SA"}, {in, "A"}, {out, "FA"}}, 0, nil, StateFinWait},
		{"time-wait server closed", flow.TCP, []step{{in, "S"}, {out, "SA"}, {in, "A"}, {out, "FA"}, {in, "A"}, {in, "FA"}, {out, "A"}}, 0, nil, StateTimeWait},
		{"time-wait client closed", flow.TCP, []step{{in, "S"}, {out, "SA"}, {in, "A"}, {in, "FA"}, {out, "FA"}, {in, "A"}}, 0, nil, StateTimeWait},
		{"close after reset", flow.TCP, []step{{in, "S"}, {out, "SA"}, {in, "A"}, {in, "RA"}}, 0, nil, StateClose},
		{"established but expired", flow.TCP, []step{{in, "S"}, {out, "SA"}, {in, "A"}}, 16 * time.Minute, nil, StateEstablished},
		{"udp", flow.UDP, nil, 0, ErrReplyClash, StateUDP},
		{"udp expired", flow.UDP, nil, 6 * time.Minute, nil, StateUDP},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			tab, clk := newTable(t, Config{Capacity: 100})
			fwd1 := clientKey(1, tc.proto)
			rk := replyOf(fwd1, real1, 80)
			old, err := tab.Insert(fwd1, &rk, Value{Service: 1, Dest: 1, DestGen: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				tab.Observe(old, s.dir, tcpFlags(s.flags), 60)
			}
			if got := old.State(); got != tc.state {
				t.Fatalf("holder state %v, want %v", got, tc.state)
			}
			clk.Advance(tc.age)
			fwd2 := fwd1
			fwd2.Dst = addr("198.18.1.2") // the second VIP, same client port
			c, err := tab.Insert(fwd2, &rk, Value{Service: 2, Dest: 1, DestGen: 1})
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !errors.Is(err, ErrExists) || errors.Is(err, ErrFull) || c != old {
					t.Fatalf("insert: %v, holder %p (old %p); want %v", err, c, old, tc.want)
				}
				if tab.Lookup(&rk) != old || tab.Lookup(&fwd1) != old || tab.Len() != 1 {
					t.Errorf("the live holder was disturbed")
				}
				return
			}
			if err != nil {
				t.Fatalf("insert: %v, want the key taken over", err)
			}
			if got := tab.Lookup(&rk); got != c || c.Service() != 2 {
				t.Errorf("reply key found %p, want the new connection %p", got, c)
			}
			if tab.Lookup(&fwd1) != nil {
				t.Errorf("the old connection is still found by its forward key")
			}
			if tab.Len() != 1 {
				t.Errorf("len %d, want 1", tab.Len())
			}
		})
	}
}

// TestReplyClashKeepsForwardExists: a forward key taken by a live closing
// connection is not taken over by Insert; that choice (conn_reuse_mode) is
// the caller's, which expires the entry first.
func TestReplyClashKeepsForwardExists(t *testing.T) {
	tab, _ := newTable(t, Config{Capacity: 100})
	fwd := clientKey(1, flow.TCP)
	rk := replyOf(fwd, real1, 80)
	old, err := tab.Insert(fwd, &rk, Value{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []step{{DirInput, "S"}, {DirOutput, "SA"}, {DirInput, "A"}, {DirInput, "RA"}} {
		tab.Observe(old, s.dir, tcpFlags(s.flags), 60)
	}
	if old.State() != StateClose {
		t.Fatalf("state %v", old.State())
	}
	rk2 := replyOf(fwd, real2, 80)
	if c, err := tab.Insert(fwd, &rk2, Value{}); !errors.Is(err, ErrExists) || errors.Is(err, ErrReplyClash) || c != old {
		t.Fatalf("insert on a closing forward key: %v %p", err, c)
	}
}
