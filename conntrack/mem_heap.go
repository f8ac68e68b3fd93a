//go:build !linux || race

package conntrack

// sysMap takes the memory from the Go heap where there are no transparent
// huge pages to ask for, and under the race detector, which tracks heap
// memory only: there the table's atomics still order its readers and
// writers for it, and checkptr still checks the arithmetic into chunks.
// Alignment beyond a cache line only serves huge pages, so it is not kept.
func sysMap(size, _ int) (mapping, mem []byte, err error) {
	m := make([]byte, size+cacheLine)
	off := int(alignUp(addrOf(m), cacheLine) - addrOf(m))
	return nil, m[off : off+size : off+size], nil
}

// sysUnmap has nothing to do: the garbage collector frees heap memory.
func sysUnmap([]byte) {}
