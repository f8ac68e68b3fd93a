package admin

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/service"
)

// equalConfig compares two configurations as ipvsadm would: services and
// real servers in any order.
func equalConfig(a, b *service.Config) bool {
	var x, y bytes.Buffer
	Save(&x, a, true, nil)
	Save(&y, b, true, nil)
	if x.String() != y.String() {
		return false
	}
	// Save does not show every field; compare the sorted structures too.
	sa, sb := sortedServices(a, false), sortedServices(b, false)
	if len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		s, t := *sa[i], *sb[i]
		s.Reals, t.Reals = nil, nil
		if !reflect.DeepEqual(normalized(s), normalized(t)) {
			return false
		}
		ra, rb := sortedReals(sa[i], false), sortedReals(sb[i], false)
		if len(ra) != len(rb) {
			return false
		}
		for j := range ra {
			if *ra[j] != *rb[j] {
				return false
			}
		}
	}
	return true
}

func normalized(s service.Service) service.Service {
	if len(s.SchedFlags) == 0 {
		s.SchedFlags = nil
	} else {
		s.SchedFlags = canonicalFlags(s.SchedFlags)
	}
	if len(s.Matches) == 0 {
		s.Matches = nil
	}
	return s
}

// TestRestoreIpvsadmFile loads a file in the exact format the real
// ipvsadm 1.31 -S writes (service names, -g, --tun-type ipip).
func TestRestoreIpvsadmFile(t *testing.T) {
	f, err := os.Open("testdata/ipvsadm-S.rules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := &service.Config{}
	if err := Restore(f, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Save(&out, cfg, true, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "ipvsadm-S.restored.golden", out.Bytes())
	// Saved with names, the file comes back byte for byte.
	want, _ := os.ReadFile("testdata/ipvsadm-S.rules")
	out.Reset()
	Save(&out, cfg, false, nil)
	if out.String() != string(want) {
		t.Errorf("-S of the restored file:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestSaveRestoreRoundTrip: -S then -R gives an identical table, with and
// without -n.
func TestSaveRestoreRoundTrip(t *testing.T) {
	for _, numeric := range []bool{false, true} {
		cfg := fixtureConfig()
		for i := range cfg.Services {
			cfg.Services[i].Normalize()
		}
		var saved bytes.Buffer
		if err := Save(&saved, cfg, numeric, testResolver()); err != nil {
			t.Fatal(err)
		}
		got := &service.Config{}
		if err := Restore(strings.NewReader(saved.String()), got, testResolver()); err != nil {
			t.Fatalf("numeric %v: %v\n%s", numeric, err, saved.String())
		}
		if !equalConfig(cfg, got) {
			var again bytes.Buffer
			Save(&again, got, numeric, testResolver())
			t.Errorf("numeric %v: round trip differs:\n%s\nvs\n%s", numeric, saved.String(), again.String())
		}
	}
}

func TestParseRulesLines(t *testing.T) {
	rules, err := ParseRules(strings.NewReader(`
# saved by hand
ipvsadm -A -t 198.18.0.1:80 -s rr    # trailing comment
/sbin/ipvsadm -a -t 198.18.0.1:80 -r 198.18.1.2:80 -g -w 1
xvsadm -a -t 198.18.0.1:80 -r 198.18.1.3:80 -g -w 1`+"\r\n\t\n-C\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := []int{}
	for _, r := range rules {
		lines = append(lines, r.Line)
	}
	if !reflect.DeepEqual(lines, []int{3, 4, 5, 7}) {
		t.Errorf("rule lines %v", lines)
	}
	if rules[0].Command.Service.Scheduler != "rr" || rules[3].Command.Op != OpClear {
		t.Errorf("rules %+v", rules)
	}
	if got := len(Changes(rules)); got != 4 {
		t.Errorf("%d changes", got)
	}
}

func TestRestoreKeepsCfgOnFailure(t *testing.T) {
	cfg := fixtureConfig()
	before := cfg.Clone()
	err := Restore(strings.NewReader("-C\n-A -t 198.18.0.1:80\n-D -t 198.18.7.7:80\n"), cfg, nil)
	if err == nil || Message(err) != "line 3: No such service" {
		t.Fatalf("error %v", err)
	}
	if !reflect.DeepEqual(cfg, before) {
		t.Error("a failed restore changed the configuration")
	}
}

func TestApplyInMemory(t *testing.T) {
	cfg := &service.Config{}
	for _, line := range []string{
		"-A -f web -s wrr --match tcp:198.18.0.10/32:80-81 --match tcp:198.18.0.10:443",
		"-a -f web -r 198.18.1.2 -w 3",
		"-E -f web -s rr -p",
	} {
		cmd, err := Parse(strings.Fields(line), nil)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if err := Apply(cmd, cfg); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	s := cfg.Services[0]
	if s.Scheduler != "rr" || len(s.Matches) != 2 || s.Persistence == nil || len(s.Reals) != 1 || s.Reals[0].Weight != 3 {
		t.Errorf("group after edit: %+v", s)
	}
	cmd, _ := Parse([]string{"-L"}, nil)
	if err := Apply(cmd, cfg); err == nil {
		t.Error("Apply accepted -L")
	}
}
