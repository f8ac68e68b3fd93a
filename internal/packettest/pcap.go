package packettest

import "encoding/binary"

// PcapFile returns a classic pcap file (little-endian, microsecond
// timestamps, Ethernet link type) holding frames, for an independent
// decoder such as tshark to read what a test built.
func PcapFile(frames ...[]byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2) // version 2.4
	b = le.AppendUint16(b, 4)
	b = le.AppendUint64(b, 0) // thiszone, sigfigs
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, 1) // LINKTYPE_ETHERNET
	for i, f := range frames {
		b = le.AppendUint32(b, uint32(i)) // one frame a second
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(len(f)))
		b = le.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}
