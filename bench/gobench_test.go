package bench

import (
	"strings"
	"testing"
)

const goBenchSample = `goos: linux
goarch: amd64
pkg: github.com/xvs-project/xvs/conntrack
cpu: AMD EPYC
BenchmarkLookup/100k-2         	 1000000	        45.25 ns/op	       0 B/op	       0 allocs/op
BenchmarkLookup/10M-2          	  500000	       180.5 ns/op	       0 B/op	       0 allocs/op
BenchmarkInsertExpire/tcp-2    	   10000	     39158 ns/op	       0.5000 expired/op	  106528 B/op	       3 allocs/op
BenchmarkNoProcs 	      10	 1234 ns/op
--- BENCH: BenchmarkSomething
    bench_test.go:10: a log line
PASS
ok  	github.com/xvs-project/xvs/conntrack	12.3s
`

func TestParseGoBench(t *testing.T) {
	got, err := ParseGoBench("./conntrack/", strings.NewReader(goBenchSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d results: %+v", len(got), got)
	}
	if got[0].Name != "Lookup/100k" || got[0].Iterations != 1_000_000 || got[0].Metrics["ns/op"] != 45.25 {
		t.Errorf("first: %+v", got[0])
	}
	ie := got[2]
	if ie.Name != "InsertExpire/tcp" || ie.Metrics["expired/op"] != 0.5 || ie.Metrics["B/op"] != 106528 {
		t.Errorf("custom metric: %+v", ie)
	}
	if strings.Join(ie.Units, ",") != "ns/op,expired/op,B/op,allocs/op" {
		t.Errorf("units %v", ie.Units)
	}
	if got[3].Name != "NoProcs" || got[3].Pkg != "./conntrack/" {
		t.Errorf("no -N suffix: %+v", got[3])
	}
}

func TestParseGoBenchBadValue(t *testing.T) {
	if _, err := ParseGoBench("p", strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("no error for a non-numeric value")
	}
}
