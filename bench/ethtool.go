package bench

import (
	"errors"
	"fmt"

	"github.com/xvs-project/xvs/internal/testnet"
)

// disableTxChecksum turns TX checksum offload off on each interface of
// namespace ns. A veth with it on hands its peer packets whose L4 checksum
// holds only the pseudo-header sum; XDP and AF_XDP see such packets as they
// are, so a rewritten probe would arrive with a bad checksum. Turning it off
// makes the stack checksum in software. It needs no ethtool binary.
func disableTxChecksum(ns string, ifaces ...string) error {
	return offloadOff(ns, testnet.TxChecksum, ifaces)
}

// disableTSO turns TCP segmentation offload off on each interface of
// namespace ns. Without TX checksumming the kernel already drops plain TSO,
// but this says it outright: a TSO super-packet from a local sender over
// veth is dropped by xvs's AF_PACKET backend (it taps frames, it does not
// segment them), and a lab must not depend on what senders the bench runs
// (today: AF_XDP frames and UDP probes, never bulk TCP).
func disableTSO(ns string, ifaces ...string) error {
	return offloadOff(ns, testnet.TSO, ifaces)
}

// offloadOff switches offload f off on each interface, through testnet's
// ethtool ioctl.
func offloadOff(ns string, f testnet.Offload, ifaces []string) error {
	var errs []error
	for _, name := range ifaces {
		if err := testnet.SetOffloadIn(ns, name, f, false); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s off: %w", name, f, err))
		}
	}
	return errors.Join(errs...)
}

// tsoEnabled reports whether interface name in namespace ns segments TCP
// (any of the TSO features on, as ETHTOOL_GTSO reports it).
func tsoEnabled(ns, name string) (bool, error) {
	return testnet.OffloadIn(ns, name, testnet.TSO)
}
