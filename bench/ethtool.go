package bench

import "github.com/xvs-project/xvs/internal/testnet"

// txChecksumEnabled reports whether interface name in namespace ns leaves
// TCP/UDP checksums to the device (TX checksum offload, the veth default).
func txChecksumEnabled(ns, name string) (bool, error) {
	return testnet.OffloadIn(ns, name, testnet.TxChecksum)
}
