package forwarder

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/service"
)

// memWriter encodes entries into real version 1 messages and drops each
// full one where a socket would send it: the writer's work without a
// syscall.
type memWriter struct {
	msg      connsync.Message
	buf      []byte
	entries  int
	messages int
}

func newMemWriter() *memWriter {
	w := &memWriter{buf: make([]byte, 0, connsync.DefaultMaxLen)}
	w.msg.Reset(w.buf, connsync.DefaultSyncID, connsync.DefaultMaxLen)
	return w
}

func (w *memWriter) Add(c *connsync.Conn, _ time.Time) error {
	err := w.msg.Add(c)
	if errors.Is(err, connsync.ErrFull) {
		w.Flush(time.Time{}, true)
		err = w.msg.Add(c)
	}
	if err == nil {
		w.entries++
	}
	return err
}

func (w *memWriter) Flush(_ time.Time, force bool) {
	if force && w.msg.Len() > 0 {
		w.messages++
		w.msg.Reset(w.buf, connsync.DefaultSyncID, connsync.DefaultMaxLen)
	}
}

// everyPacket is IPVS's rule set to send a connection at every packet
// (threshold 0, period 1): the most work sync can give the packet path.
var everyPacket = &connsync.Policy{Threshold: 0, Period: 1}

func withSync(w *memWriter, p *connsync.Policy) func(*Options) {
	return func(o *Options) {
		o.Sync = &SyncMaster{Writer: func(int) SyncWriter { return w }, Policy: p}
	}
}

func persistent(o *Options) {
	o.Services.Services[0].Persistence = &service.Persistence{Timeout: 5 * time.Minute}
}

// TestSyncZeroAllocs: with sync on, the per-packet path still allocates
// nothing, for every method, whether it sends every packet's connection
// (and template) or, under xvs's rule, only what changed.
func TestSyncZeroAllocs(t *testing.T) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
		for _, pc := range []struct {
			name   string
			policy *connsync.Policy
			opts   []func(*Options)
		}{
			{"xvs", nil, nil},
			{"every-packet", everyPacket, nil},
			{"every-packet/persistent", everyPacket, []func(*Options){persistent}},
		} {
			w := newMemWriter()
			pb := newPipelineBench(t, m, 1000, append(pc.opts, withSync(w, pc.policy))...)
			before := w.entries
			if a := testing.AllocsPerRun(100, func() { pb.step(batchSize) }); a != 0 {
				t.Errorf("%v/%s: %.1f allocations per batch", m, pc.name, a)
			}
			sent := w.entries - before
			want := 0
			switch {
			case pc.policy == nil:
				// UDP is sent at its first packet, which newPipelineBench
				// already pushed; nothing is due again for minutes.
			case len(pc.opts) > 0:
				want = 2 * 101 * batchSize // each connection and its template
			default:
				want = 101 * batchSize
			}
			if sent != want {
				t.Errorf("%v/%s: %d entries written in the measured batches, want %d", m, pc.name, sent, want)
			}
			if st := pb.e.SyncStats(); st.SendErrors != 0 {
				t.Errorf("%v/%s: %d send errors", m, pc.name, st.SendErrors)
			}
		}
	}
}

// BenchmarkPipelineSync reports ns per packet with sync off, on with xvs's
// rule (established UDP flows: nothing due), and on with every packet's
// connection written to a message.
func BenchmarkPipelineSync(b *testing.B) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR} {
		for _, mode := range []string{"off", "xvs", "every-packet"} {
			b.Run(fmt.Sprintf("%v/%s", m, mode), func(b *testing.B) {
				var opts []func(*Options)
				switch mode {
				case "xvs":
					opts = append(opts, withSync(newMemWriter(), nil))
				case "every-packet":
					opts = append(opts, withSync(newMemWriter(), everyPacket))
				}
				pb := newPipelineBench(b, m, 1000, opts...)
				b.ReportAllocs()
				b.ResetTimer()
				pb.step(b.N)
			})
		}
	}
}

// BenchmarkInstallSync reports a backup's cost per received entry, decoded
// from real messages: new NAT connections, and updates of installed ones.
func BenchmarkInstallSync(b *testing.B) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3)
	const conns = 1 << 16
	var msgs [][]byte
	var msg connsync.Message
	msg.Reset(nil, 1, connsync.DefaultMaxLen)
	for i := 0; i < conns; i++ {
		c := connsync.Conn{Proto: 6, State: 1, Timeout: 900,
			Client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 20000),
			Virtual: netip.AddrPortFrom(vip4, 80),
			Dest:    netip.AddrPortFrom(realAddr(4, 1+i%3), 8080)}
		if errors.Is(msg.Add(&c), connsync.ErrFull) {
			msgs = append(msgs, append([]byte(nil), msg.Bytes()...))
			msg.Reset(nil, 1, connsync.DefaultMaxLen)
			msg.Add(&c)
		}
	}
	msgs = append(msgs, append([]byte(nil), msg.Bytes()...))
	for _, mode := range []string{"new", "update"} {
		b.Run(mode, func(b *testing.B) {
			e, _ := newTestEngine(b, cfg)
			if err := e.SetCapacity(conns * 2); err != nil {
				b.Fatal(err)
			}
			var dec connsync.Decoder
			feed := func() {
				for _, m := range msgs {
					dec.Decode(m, e.InstallSync)
				}
			}
			if mode == "update" {
				feed()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += conns {
				if mode == "new" {
					b.StopTimer()
					e.table.Walk(0, 0, func(ci conntrack.ConnInfo) bool {
						if c := e.table.Lookup(&ci.Key); c != nil {
							e.table.Expire(c)
						}
						return true
					})
					b.StartTimer()
				}
				feed()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64((b.N+conns-1)/conns*conns), "ns/entry")
			if st := e.SyncStats(); st.Refused != [NumSyncRefusals]uint64{} {
				b.Fatalf("refused %v", st.Refused)
			}
		})
	}
}
