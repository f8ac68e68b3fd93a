package xdpprog

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The kernel's "netdev" generic netlink family (include/uapi/linux/netdev.h).
const (
	netdevFamily               = "netdev"
	netdevFamilyVersion        = 1
	netdevCmdDevGet            = 1 // NETDEV_CMD_DEV_GET
	netdevADevIfindex          = 1 // NETDEV_A_DEV_IFINDEX
	netdevADevXDPRxMetadata    = 5 // NETDEV_A_DEV_XDP_RX_METADATA_FEATURES
	netdevXDPRxMetadataVLANTag = 4 // NETDEV_XDP_RX_METADATA_VLAN_TAG
)

// rxVLANMetadata asks the kernel whether the driver of ifindex (in the
// calling thread's network namespace) implements
// bpf_xdp_metadata_rx_vlan_tag, as `ynl --family netdev --do dev-get` shows
// it (xdp-rx-metadata-features). A nil error means it does.
func rxVLANMetadata(ifindex int) error {
	fam, err := netlink.GenlFamilyGet(netdevFamily)
	if err != nil {
		return fmt.Errorf("netdev netlink family (Linux 6.3): %w", err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), 0)
	req.AddData(genlHeader{netdevCmdDevGet, netdevFamilyVersion, 0, 0})
	req.AddData(nl.NewRtAttr(netdevADevIfindex, nl.Uint32Attr(uint32(ifindex))))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return fmt.Errorf("link %d: xdp-rx-metadata-features: %w", ifindex, err)
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofGenlmsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return fmt.Errorf("link %d: xdp-rx-metadata-features: %w", ifindex, err)
		}
		for _, a := range attrs {
			if a.Attr.Type != netdevADevXDPRxMetadata || len(a.Value) != 8 {
				continue
			}
			if binary.NativeEndian.Uint64(a.Value)&netdevXDPRxMetadataVLANTag == 0 {
				return ErrNoVLANMetadata
			}
			return nil
		}
	}
	return fmt.Errorf("link %d: the kernel reports no xdp-rx-metadata-features", ifindex)
}

// genlHeader is struct genlmsghdr with its reserved bytes zero (nl.Genlmsg
// serialises two bytes of whatever memory follows it as the reserved field,
// and the netdev family rejects that with EINVAL).
type genlHeader [4]byte

func (h genlHeader) Len() int          { return len(h) }
func (h genlHeader) Serialize() []byte { return h[:] }
