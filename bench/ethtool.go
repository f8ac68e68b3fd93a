package bench

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool's legacy commands (linux/ethtool.h): set TX checksumming, get and
// set TCP segmentation offload.
const (
	ethtoolSTxCsum = 0x17
	ethtoolGTSO    = 0x1e
	ethtoolSTSO    = 0x1f
)

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
	return ethtoolSet(ns, ethtoolSTxCsum, "tx checksum off", ifaces)
}

// disableTSO turns TCP segmentation offload off on each interface of
// namespace ns. Without TX checksumming the kernel already drops plain TSO,
// but this says it outright: a TSO super-packet from a local sender over
// veth is dropped by xvs's AF_PACKET backend (it taps frames, it does not
// segment them), and a lab must not depend on what senders the bench runs
// (today: AF_XDP frames and UDP probes, never bulk TCP).
func disableTSO(ns string, ifaces ...string) error {
	return ethtoolSet(ns, ethtoolSTSO, "tso off", ifaces)
}

// ethtoolSet sends the legacy set command cmd with value 0 for each
// interface.
func ethtoolSet(ns string, cmd uint32, what string, ifaces []string) error {
	return inNS(ns, func() error {
		var errs []error
		for _, name := range ifaces {
			if _, err := ethtoolValueIoctl(name, cmd, 0); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", name, what, err))
			}
		}
		return errors.Join(errs...)
	})
}

// tsoEnabled reports whether interface name in namespace ns segments TCP
// (any of the TSO features on, as ETHTOOL_GTSO reports it).
func tsoEnabled(ns, name string) (on bool, err error) {
	err = inNS(ns, func() error {
		v, err := ethtoolValueIoctl(name, ethtoolGTSO, 0)
		on = v != 0
		return err
	})
	return on, err
}

// ethtoolValueIoctl runs one legacy ethtool command that takes or returns an
// ethtool_value, in the calling thread's namespace.
func ethtoolValueIoctl(name string, cmd, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: cmd, data: data}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = unsafe.Pointer(v)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return 0, e
	}
	return v.data, nil
}
