package cpucache

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"48K", 48 << 10, true},
		{"1024K", 1 << 20, true},
		{"32M", 32 << 20, true},
		{"65536", 65536, true},
		{"", 0, false},
		{"K", 0, false},
		{"0K", 0, false},
		{"-1K", 0, false},
		{"12G", 0, false},
		{"1.5M", 0, false},
		{"99999999999999M", 0, false},
	} {
		got, ok := ParseSize(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// writeCache makes one cpuN/cache/indexM directory under root.
func writeCache(t *testing.T, root string, cpu, index int, level, typ, size string) {
	t.Helper()
	d := filepath.Join(root, "cpu"+strconv.Itoa(cpu), "cache", "index"+strconv.Itoa(index))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"level": level, "type": typ, "size": size} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSize(t *testing.T) {
	root := t.TempDir()
	// This machine's layout: L1 split into data and instruction, L2 and L3
	// unified; cpu1 has another L2.
	writeCache(t, root, 0, 0, "1", "Data", "48K")
	writeCache(t, root, 0, 1, "1", "Instruction", "32K")
	writeCache(t, root, 0, 2, "2", "Unified", "1024K")
	writeCache(t, root, 0, 3, "3", "Unified", "32768K")
	writeCache(t, root, 1, 2, "2", "Unified", "2048K")
	for _, tc := range []struct {
		cpu, level, want int
		ok               bool
	}{
		{0, 1, 48 << 10, true}, // the data half, not the instruction cache
		{0, 2, 1 << 20, true},
		{0, 3, 32 << 20, true},
		{1, 2, 2 << 20, true},
		{0, 4, 0, false},
		{2, 2, 0, false},
	} {
		got, ok := Size(root, tc.cpu, tc.level)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Size(cpu%d, L%d) = %d, %v; want %d, %v", tc.cpu, tc.level, got, ok, tc.want, tc.ok)
		}
	}
	// An instruction cache alone is not a data cache.
	only := t.TempDir()
	writeCache(t, only, 0, 0, "1", "Instruction", "32K")
	if n, ok := Size(only, 0, 1); ok {
		t.Errorf("instruction-only L1: got %d, want none", n)
	}
	// Live sysfs, where it exists, gives something sane or nothing.
	if n, ok := Size(SysfsRoot, 0, 2); ok && (n < 64<<10 || n > 1<<30) {
		t.Errorf("this machine's L2 is %d bytes?", n)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"48K", "32M", "1", "", "K", "-5M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseSize(s)
		if ok != (n > 0) {
			t.Fatalf("ParseSize(%q) = %d, %v", s, n, ok)
		}
	})
}
