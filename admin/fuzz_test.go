package admin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/service"
)

var fuzzSeeds = []string{
	"-A -t 192.168.8.200:80 -s rr",
	"-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1",
	"-Ln \u2013stats",
	"-A -t 198.18.0.1:0 -p 600 -M 255.255.255.0 -s sh -b sh-fallback,sh-port",
	"-A -u [2001:db8::1]:53 -s rr -o -p -M 64",
	"-a -t 198.18.0.1:80 -r 198.18.1.2:8080 -m -w 0 -x 100 -y 50",
	"-a -u 198.18.0.2:domain -r 198.18.2.1:domain -i -w 1 --tun-type ipip",
	"-a -t 207.175.44.110:80 -r 192.168.10.5:80 -i --tun-type gue --tun-port 6079 --tun-remcsum",
	"-e -t 10.0.0.1:80 -r 192.168.11.1:80 -i --tun-type gre --tun-csum",
	"-A -f web -s wrr --match tcp:198.18.0.10/32:80-81 --match udp:[2001:db8::/64]:53",
	"-a -f web -6 -r [2001:db8::2]:0 -g -w 1",
	"--set 900 120 300",
	"-L -n --rate --exact -t 198.18.0.1:80",
	"-At198.18.0.1:80 -srr -p",
	"-e -t 198.18.0.1:80 -r 198.18.1.2 --weight=3 -- extra",
}

// FuzzParse: Parse never panics; errors have a message and a non-zero
// status; a config change that applies to an empty table survives -S -n
// and -R unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := Parse(strings.Fields(line), nil)
		if err != nil {
			if Message(err) == "" || ExitStatus(err) == 0 {
				t.Fatalf("error %#v has no message or status", err)
			}
			return
		}
		ch, ok := cmd.Change()
		if ok != cmd.IsConfigChange() {
			t.Fatalf("Change ok %v for %s", ok, cmd.Op)
		}
		if !ok || cmd.Op != OpAddService {
			return
		}
		cfg := &service.Config{}
		if ch.Apply(cfg) != nil {
			return
		}
		roundTrip(t, cfg)
	})
}

// FuzzParseRules: ParseRules never panics; a file that restores onto an
// empty table is saved and restored again to the same table.
func FuzzParseRules(f *testing.F) {
	f.Add(strings.Join(fuzzSeeds[:2], "\n"))
	f.Add("-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gue --tun-port 6080 --tun-csum\n" +
		"-a -t 198.18.0.1:80 -r 198.18.1.3 -i --tun-type gre\n")
	f.Add("-A -t 198.18.0.1:http -s wlc\n-a -t 198.18.0.1:http -r 198.18.1.2:http -g -w 1\n# c\n\nipvsadm -C\n")
	f.Add("-A -f 7 -s rr --match tcp:198.18.0.0/24:1-1024 -p 60 -M 255.255.0.0\n-a -f 7 -r 198.18.1.2:0 -g -w 5\n-a -f 7 -r 198.18.1.3:80 -m\n")
	f.Add("-A -t [2001:db8::1]:443 -s mh -b mh-port,mh-fallback -p 30 -M 56\n-a -t [2001:db8::1]:443 -r [2001:db8::9]:8443 -m -w 65535 -x 7 -y 3\n")
	f.Fuzz(func(t *testing.T, data string) {
		rules, err := ParseRules(strings.NewReader(data), nil)
		if err != nil {
			if Message(err) == "" {
				t.Fatalf("error %#v has no message", err)
			}
			return
		}
		if len(Changes(rules)) != len(rules) {
			t.Fatal("a rule has no change")
		}
		cfg := &service.Config{}
		if Restore(strings.NewReader(data), cfg, nil) != nil {
			return
		}
		roundTrip(t, cfg)
	})
}

func roundTrip(t *testing.T, cfg *service.Config) {
	t.Helper()
	if cfg.Validate() != nil {
		// The service package checks some things only as a whole; a table
		// it would not accept from the daemon is not worth saving.
		return
	}
	var saved bytes.Buffer
	if err := Save(&saved, cfg, true, nil); err != nil {
		t.Fatal(err)
	}
	back := &service.Config{}
	if err := Restore(strings.NewReader(saved.String()), back, nil); err != nil {
		t.Fatalf("restore of saved rules: %v\n%s", err, saved.String())
	}
	if !equalConfig(cfg, back) {
		var again bytes.Buffer
		Save(&again, back, true, nil)
		t.Fatalf("round trip differs:\n%s\nvs\n%s\n%+v\n%+v", saved.String(), again.String(), cfg, back)
	}
}
