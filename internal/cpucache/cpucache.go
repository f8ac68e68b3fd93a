// Package cpucache reads the sizes of a CPU's caches from sysfs, for code
// that sizes its work to what stays in cache (the forwarder's batched
// lookups).
package cpucache

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SysfsRoot is where Linux describes each CPU's caches: one directory per
// cache, cpuN/cache/indexM, with its level, type and size.
const SysfsRoot = "/sys/devices/system/cpu"

// Size returns the size in bytes of cpu's level-level cache that holds data
// (type Data or Unified), read under root (SysfsRoot on a live system). ok
// is false where sysfs does not describe one, as in some containers and on
// other systems.
func Size(root string, cpu, level int) (bytes int, ok bool) {
	dirs, _ := filepath.Glob(filepath.Join(root, "cpu"+strconv.Itoa(cpu), "cache", "index*"))
	for _, d := range dirs {
		if read(d, "level") != strconv.Itoa(level) {
			continue
		}
		if t := read(d, "type"); t != "Data" && t != "Unified" {
			continue
		}
		if n, ok := ParseSize(read(d, "size")); ok {
			return n, true
		}
	}
	return 0, false
}

func read(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ParseSize reads a sysfs cache size: a number of bytes, or of KB or MB
// with a K or M suffix ("48K", "1024K", "32M"). ok is false for anything
// else, and for zero.
func ParseSize(s string) (bytes int, ok bool) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 1<<40/mult {
		return 0, false
	}
	return n * mult, true
}
