package keepalived

import (
	"errors"
	"os"
	"testing"

	"github.com/xvs-project/xvs/health"
)

// FuzzParse feeds arbitrary files (with one includable neighbour) to the reader. Invariants: it
// never panics; an error is an *Error with a line inside the input; a success has only checkers
// the health engine accepts as they are, and Services either refuses it with an *Error with a
// line or returns services that validate, keyed as Health keys them.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/two-vs.conf", "testdata/all-checkers.conf"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("virtual_server 198.18.0.1 80 { real_server 198.18.1.2 80 { TCP_CHECK { } } }"))
	f.Add([]byte("include inc.conf\nvirtual_server group g {\n}\n"))
	f.Add([]byte("virtual_server group g {\n protocol UDP\n ops\n lb_algo sh\n flag-2\n real_server 198.18.1.2 53\n}\n" +
		"virtual_server group g {\n sorry_server 198.18.2.1 80\n lb_kind DR\n}\n"))
	f.Add([]byte("virtual_server fwmark 1 {\n lb_kind TUN type gue port 1 remcsum\n sorry_server 198.18.2.1\n}\n"))
	l := mem(map[string]string{
		"/f/inc.conf": "virtual_server_group g {\n 198.18.0.1-9 80\n fwmark 3\n}\n",
	})
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := l.Parse("/f/keepalived.conf", src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("not an *Error: %v", err)
			}
			if pe.Pos.Line < 1 {
				t.Fatalf("no line: %v", err)
			}
			return
		}
		for _, v := range c.VirtualServers {
			for _, r := range v.Reals {
				for _, ch := range r.Checks {
					if ch.Checker == nil {
						t.Fatalf("nil checker at %v", ch.Pos)
					}
					if err := ch.Timing.Validate(); err != nil {
						t.Fatalf("%v: %v", ch.Pos, err)
					}
				}
			}
			v.Health() // of a virtual server Services leaves out too: it must not panic
		}
		// The forwarding half: refused with a line, or services that validate, one per
		// forwarded virtual server, whose keys the health engine's view shares.
		cfg, _, err := c.Services()
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Pos.Line < 1 {
				t.Fatalf("services: not an *Error with a line: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("services do not validate: %v", err)
		}
		checkHealthKeys(t, c, cfg)
		var svcs []health.Service
		for _, v := range c.Forwarded() {
			svcs = append(svcs, v.Health())
		}
		if _, err := health.New(svcs, nopActions{}, health.Options{}); err != nil {
			t.Fatalf("engine refused a parsed file: %v", err)
		}
	})
}
