package forwarder

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolChannels is struct ethtool_channels (ETHTOOL_GCHANNELS).
type ethtoolChannels struct {
	cmd                                         uint32
	maxRX, maxTX, maxOther, maxCombined         uint32
	rxCount, txCount, otherCount, combinedCount uint32
}

// rxQueues returns how many receive queues the driver really uses. Netlink's
// IFLA_NUM_RX_QUEUES counts the queues allocated (veth allocates one per CPU
// but uses one unless told otherwise), and binding an AF_XDP socket to an
// unused queue fails, so ask the driver through ETHTOOL_GCHANNELS; without
// an answer, fall back to the allocated count.
func rxQueues(iface string, allocated int) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return max(allocated, 1)
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	var ifr [unix.IFNAMSIZ + 24]byte
	copy(ifr[:unix.IFNAMSIZ-1], iface)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&ch))
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		return max(allocated, 1)
	}
	n := int(ch.rxCount + ch.combinedCount)
	if n < 1 {
		return max(allocated, 1)
	}
	return n
}
