//go:build !linux

package forwarder

// threadCPU is not available here.
func threadCPU() (ns int64, ok bool) { return 0, false }
