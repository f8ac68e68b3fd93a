package ethtool

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreqData is struct ifreq with ifr_data set, padded to the kernel's size.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ioctl runs one SIOCETHTOOL command on iface; cmd points at the command's
// struct, whose first field is the command number, and receives the answer.
func ioctl[T any](iface string, cmd *T) error {
	var ifr ifreqData
	if len(iface) >= len(ifr.name) {
		return fmt.Errorf("ethtool %s: %w", iface, unix.EINVAL)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	copy(ifr.name[:], iface)
	ifr.data = unsafe.Pointer(cmd)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("ethtool %s cmd %#x: %w", iface, *(*uint32)(unsafe.Pointer(cmd)), errno)
	}
	return nil
}

// value is struct ethtool_value.
type value struct {
	cmd  uint32
	data uint32
}

// Value runs one ETHTOOL_G*/S* value command (such as ETHTOOL_GGRO or
// ETHTOOL_SGRO) on iface in the calling thread's network namespace: *v is
// the value to set, or receives the one read.
func Value(iface string, cmd uint32, v *uint32) error {
	ev := value{cmd: cmd, data: *v}
	if err := ioctl(iface, &ev); err != nil {
		return err
	}
	*v = ev.data
	return nil
}
