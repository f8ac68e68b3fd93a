package conntrack

import (
	"errors"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// FuzzTable drives a table and a plain map model with the same operations
// and compares them after each: Insert, Lookup, Observe, Expire, time and
// Reap. Time moves in whole seconds, where the table's expiry is exact.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 2, 1, 0, 3, 4, 60, 1, 1})
	f.Add([]byte{0, 4, 2, 4, 1, 2, 4, 0, 2, 4, 1, 0, 4, 200, 3, 4, 0, 4})
	f.Add([]byte{0, 0, 0, 1, 0, 2, 0, 3, 4, 3, 4, 255, 4, 255, 1, 0})
	f.Add([]byte{0, 5, 2, 0x15, 2, 0x55, 2, 0x95, 1, 5, 4, 10, 1, 5, 3, 5, 1, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tab, clk := newTable(t, Config{Capacity: 64, Shards: 2})
		type entry struct {
			state  State
			exp    uint32 // ticks
			output bool   // a DirOutput packet was seen
		}
		model := map[uint32]*entry{}
		alive := func(e *entry) bool { return e != nil && before(tab.now(), e.exp) }
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%5, ops[i+1]
			id := uint32(arg % 16)
			proto := uint8(flow.TCP)
			if id%4 == 3 {
				proto = flow.UDP
			}
			fwd := clientKey(id, proto)
			rk := replyOf(fwd, real1, uint16(8000+id))
			var reply *Key
			if id%2 == 0 {
				reply = &rk
			}
			switch op {
			case 0: // insert
				c, err := tab.Insert(fwd, reply, Value{Dest: id})
				if alive(model[id]) {
					if !errors.Is(err, ErrExists) || c == nil || c.Dest() != id {
						t.Fatalf("op %d: insert over live %d: %v", i, id, err)
					}
					break
				}
				if err != nil {
					t.Fatalf("op %d: insert %d: %v", i, id, err)
				}
				st := StateNone
				if proto != flow.TCP {
					st = StateUDP
				}
				model[id] = &entry{state: st, exp: tab.now() + tab.timeouts[st].Load()}
			case 1: // lookup, both keys
				c := tab.Lookup(&fwd)
				e := model[id]
				if alive(e) != (c != nil) {
					t.Fatalf("op %d: lookup %d: found %v, model %+v now %d", i, id, c != nil, e, tab.now())
				}
				if c == nil {
					break
				}
				if c.Key() != fwd || c.State() != e.state || c.Dest() != id {
					t.Fatalf("op %d: %d: key %v state %v, model %v", i, id, c.Key(), c.State(), e.state)
				}
				if got := tab.Lookup(&rk); (reply != nil) != (got == c) {
					t.Fatalf("op %d: reply lookup %d: %p", i, id, got)
				}
			case 2: // a packet
				c := tab.Lookup(&fwd)
				if c == nil {
					break
				}
				e := model[id]
				dir := Dir(arg>>4) % 3
				flags := [...]uint8{flow.TCPSyn, flow.TCPAck, flow.TCPFin | flow.TCPAck, flow.TCPRst, flow.TCPSyn | flow.TCPAck, 0, flow.TCPAck, flow.TCPFin}[arg>>5]
				ns := StateUDP
				if proto == flow.TCP {
					d := dir
					if reply == nil && dir != DirOutput && !e.output {
						d = DirInputOnly
					}
					ns = NextState(e.state, flags, d)
				}
				if got := tab.Observe(c, dir, flags, 100); got != ns {
					t.Fatalf("op %d: observe %d dir %d flags %#x from %v: %v, want %v", i, id, dir, flags, e.state, got, ns)
				}
				e.output = e.output || dir == DirOutput
				e.state, e.exp = ns, tab.now()+tab.timeouts[ns].Load()
			case 3: // expire
				tab.Expire(tab.Lookup(&fwd))
				if alive(model[id]) {
					delete(model, id)
				}
			case 4: // time passes, the reaper runs
				clk.Advance(time.Duration(arg) * time.Second)
				tab.Reap(1 << 20)
				for id, e := range model {
					if !alive(e) {
						delete(model, id)
					}
				}
				if tab.Len() != len(model) {
					t.Fatalf("op %d: after reaping, len %d, model %d", i, tab.Len(), len(model))
				}
			}
		}
	})
}
