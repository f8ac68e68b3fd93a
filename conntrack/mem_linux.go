//go:build linux && !race

package conntrack

import "syscall"

// madvHugepage is MADV_HUGEPAGE, the same number on every Linux
// architecture Go supports.
const madvHugepage = 14

// sysMap maps size bytes of zeroed memory outside the Go heap, aligned to
// align (a power of two), and advises the kernel to back it with transparent
// huge pages: with THP in madvise mode that is what makes the first touch of
// each 2 MB fault in one huge page, where the Go heap gets 4 KB pages. Where
// the kernel has no THP the advice fails and the memory is ordinary pages.
// mapping is what sysUnmap needs later; mem is the aligned part.
func sysMap(size, align int) (mapping, mem []byte, err error) {
	m, err := syscall.Mmap(-1, 0, size+align, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, err
	}
	// The slack before and after the aligned part is never touched, so it
	// costs address space only.
	off := int(alignUp(addrOf(m), align) - addrOf(m))
	mem = m[off : off+size : off+size]
	_ = syscall.Madvise(mem, madvHugepage)
	return m, mem, nil
}

// sysUnmap releases a mapping made by sysMap.
func sysUnmap(mapping []byte) { _ = syscall.Munmap(mapping) }
