package packettest

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/gopacket/layers"
)

// GRE returns a GRE header (RFC 2784; with the checksum-present bit and a
// zero checksum word when csum) for an inner packet of EtherType et,
// followed by inner: the Payload of an outer Packet with Proto ProtoGRE.
func GRE(csum bool, et uint16, inner []byte) []byte {
	h := []byte{0, 0}
	if csum {
		h[0] = 0x80
	}
	h = binary.BigEndian.AppendUint16(h, et)
	if csum {
		h = append(h, 0, 0, 0, 0)
	}
	return append(h, inner...)
}

// GUE returns a GUE header of version 0 without flags or options (RFC draft
// "Generic UDP Encapsulation" section 3.1) for an inner packet of IP
// protocol proto, followed by inner: the Payload of an outer UDP Packet.
func GUE(proto uint8, inner []byte) []byte {
	return append([]byte{0, proto, 0, 0}, inner...)
}

// ARP returns an Ethernet broadcast ARP who-has request from srcMAC and
// srcIP for target.
func ARP(srcMAC net.HardwareAddr, srcIP, target netip.Addr) []byte {
	return Serialize(
		&layers.Ethernet{SrcMAC: srcMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: srcMAC, SourceProtAddress: srcIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
}
