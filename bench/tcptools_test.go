package bench

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The files under testdata/tcpload are Debian's ab 2.3 and iperf3 3.12
// output captured in a namespace on loopback against nginx 1.22 and
// iperf3 -s: a good run, 404s, and a port nothing listens on.
func readTCPFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tcpload", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseAB(t *testing.T) {
	for _, tc := range []struct {
		file  string
		want  ABResult
		check string // checkHTTP's verdict, "" for none
	}{
		{"ab-ok.txt", ABResult{Complete: 5000, Taken: 964 * time.Millisecond, RPS: 5186.99}, ""},
		{"ab-404.txt", ABResult{Complete: 200, Non2xx: 200, Taken: 34 * time.Millisecond, RPS: 5930.67}, "200 of 200 answers were not 2xx"},
		// ab counts 200 "complete" requests that all failed (300 failures
		// of three kinds: a receive error and an exception per request,
		// some twice).
		{"ab-refused.txt", ABResult{Complete: 200, Failed: 300, Taken: 5 * time.Millisecond, RPS: 36677.06}, "300 of 200 requests failed"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseAB(readTCPFixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			cerr := checkHTTP(got)
			if (cerr == nil) != (tc.check == "") || (cerr != nil && cerr.Error() != tc.check) {
				t.Errorf("checkHTTP: %v, want %q", cerr, tc.check)
			}
		})
	}
}

func TestParseABIncomplete(t *testing.T) {
	ok := readTCPFixture(t, "ab-ok.txt")
	for name, out := range map[string]string{
		"empty":        "",
		"usage":        "ab: wrong number of arguments\nUsage: ab [options] [http[s]://]hostname[:port]/path\n",
		"no rate":      dropLine(ok, "Requests per second:"),
		"no failed":    dropLine(ok, "Failed requests:"),
		"bad count":    strings.Replace(ok, "Complete requests:      5000", "Complete requests:      lots", 1),
		"bad time":     strings.Replace(ok, "0.964 seconds", "soon seconds", 1),
		"huge time":    strings.Replace(ok, "0.964 seconds", "1e300 seconds", 1),
		"no time":      dropLine(ok, "Time taken for tests:"),
		"negative":     strings.Replace(ok, "Failed requests:        0", "Failed requests:        -3", 1),
		"rate not num": strings.Replace(ok, "5186.99 [#/sec]", "NaN [#/sec]", 1),
	} {
		if res, err := ParseAB(out); !errors.Is(err, ErrToolOutput) {
			t.Errorf("%s: got %+v, %v; want ErrToolOutput", name, res, err)
		}
	}
}

// dropLine removes the line that starts with prefix.
func dropLine(s, prefix string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) }), "\n")
}

func TestParseIperf3(t *testing.T) {
	got, err := ParseIperf3([]byte(readTCPFixture(t, "iperf3-ok.json")))
	if err != nil {
		t.Fatal(err)
	}
	want := IperfResult{Seconds: 1.00668, Bytes: 888668160, BitsPerSecond: 7062169984.5035162, Retransmits: 7}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if g := got.Gbps(); math.Abs(g-7.062) > 0.001 {
		t.Errorf("Gbps %v", g)
	}
	for _, tc := range []struct {
		name, out string
		want      error // nil: any error but ErrToolOutput
	}{
		{"refused", readTCPFixture(t, "iperf3-refused.json"), nil},
		{"not json", "iperf3: error - unable to connect to server", ErrToolOutput},
		{"empty", "", ErrToolOutput},
		{"no summary", `{"start": {}, "intervals": [], "end": {}}`, ErrToolOutput},
		{"zero seconds", `{"end": {"sum_received": {"seconds": 0, "bytes": 0, "bits_per_second": 0}}}`, ErrToolOutput},
	} {
		_, err := ParseIperf3([]byte(tc.out))
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		case tc.want == nil && errors.Is(err, ErrToolOutput):
			t.Errorf("%s: %v, want iperf3's own error", tc.name, err)
		}
	}
	if _, err := ParseIperf3([]byte(readTCPFixture(t, "iperf3-refused.json"))); err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("refused: %v, want iperf3's message", err)
	}
}

// FuzzParseAB: ParseAB never panics, and what it accepts is a summary
// with counts and figures that are not negative.
func FuzzParseAB(f *testing.F) {
	for _, name := range []string{"ab-ok.txt", "ab-404.txt", "ab-refused.txt"} {
		f.Add(readTCPFixture(f, name))
	}
	f.Add("Complete requests: 1\nFailed requests: 0\nTime taken for tests: 1 seconds\nRequests per second: 1\n")
	f.Fuzz(func(t *testing.T, out string) {
		res, err := ParseAB(out)
		if err != nil {
			if !errors.Is(err, ErrToolOutput) {
				t.Fatalf("error %v is not ErrToolOutput", err)
			}
			return
		}
		if res.Complete < 0 || res.Failed < 0 || res.Non2xx < 0 || res.Taken < 0 || !(res.RPS >= 0) {
			t.Fatalf("accepted %+v", res)
		}
	})
}

func TestABArgs(t *testing.T) {
	got := strings.Join(ABRun{URL: "http://198.18.0.10/index.html", Concurrency: 50, Requests: 1000, Time: 1500 * time.Millisecond}.args(), " ")
	// -t before -n: ab's -t resets the request count to 50000.
	want := "ab -q -r -s 5 -c 50 -t 2 -n 1000 http://198.18.0.10/index.html"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := strings.Join(IperfRun{Host: "198.18.0.10", Port: 5201, Time: 300 * time.Millisecond}.args(), " "); got != "iperf3 -J -c 198.18.0.10 -p 5201 -t 1" {
		t.Errorf("iperf3: %q", got)
	}
}
