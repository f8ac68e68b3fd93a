package bench

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool's legacy "set TX checksumming" command (linux/ethtool.h).
const ethtoolSTxCsum = 0x17

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // rest of the ifreq union
}

// disableTxChecksum turns TX checksum offload off on each interface of
// namespace ns. A veth with it on hands its peer packets whose L4 checksum
// holds only the pseudo-header sum; XDP and AF_XDP see such packets as they
// are, so a rewritten probe would arrive with a bad checksum. Turning it off
// makes the stack checksum in software. It needs no ethtool binary.
func disableTxChecksum(ns string, ifaces ...string) error {
	return inNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer unix.Close(fd)
		var errs []error
		for _, name := range ifaces {
			v := &ethtoolValue{cmd: ethtoolSTxCsum}
			var ifr ifreqData
			copy(ifr.name[:unix.IFNAMSIZ-1], name)
			ifr.data = unsafe.Pointer(v)
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
				errs = append(errs, fmt.Errorf("%s: tx checksum off: %w", name, e))
			}
		}
		return errors.Join(errs...)
	})
}
