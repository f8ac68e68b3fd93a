package conntrack

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// residentBytes returns the process's resident set and the part of it in
// anonymous transparent huge pages, from /proc/self/smaps_rollup; ok is
// false where there is none.
func residentBytes() (rss, huge int64, ok bool) {
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0, 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		switch string(f[0]) {
		case "Rss:":
			rss, ok = kb<<10, true
		case "AnonHugePages:":
			huge = kb << 10
		}
	}
	return rss, huge, ok
}

// smapsHuge sums the resident and huge-page bytes of the mappings in
// /proc/self/smaps that overlap any of ranges.
func smapsHuge(t *testing.T, ranges [][2]uintptr) (huge, rss int64) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			in = false
			for _, r := range ranges {
				if uintptr(start) < r[1] && r[0] < uintptr(end) {
					in = true
				}
			}
			continue
		}
		if !in || len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Rss:":
			rss += kb << 10
		case "AnonHugePages:":
			huge += kb << 10
		}
	}
	return huge, rss
}
