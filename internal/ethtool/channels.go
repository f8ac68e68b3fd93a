package ethtool

import "golang.org/x/sys/unix"

// channels is struct ethtool_channels (ETHTOOL_GCHANNELS).
type channels struct {
	cmd           uint32
	_             [4]uint32 // max_rx, max_tx, max_other, max_combined
	rxCount       uint32
	_             [2]uint32 // tx_count, other_count
	combinedCount uint32
}

// RxQueues returns how many receive queues the driver of iface really uses.
// Netlink's IFLA_NUM_RX_QUEUES counts the queues allocated (veth allocates
// one per CPU but uses one unless told otherwise), and binding an AF_XDP
// socket to an unused queue fails, so ask the driver through
// ETHTOOL_GCHANNELS; without an answer, fall back to allocated (at least
// one).
func RxQueues(iface string, allocated int) int {
	ch := channels{cmd: unix.ETHTOOL_GCHANNELS}
	if err := ioctl(iface, &ch); err != nil {
		return max(allocated, 1)
	}
	n := int(ch.rxCount + ch.combinedCount)
	if n < 1 {
		return max(allocated, 1)
	}
	return n
}
