package connsync

import (
	"net"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/internal/packettest"
)

// TestTsharkDecodes: Wireshark's IPVS sync dissector, an independent
// reader, sees in our datagrams the fields we wrote (REFERENCE §3.6). The
// message holds an IPv4 and an IPv6 entry whose lengths need no padding
// between them: the dissector (Wireshark 4.0) steps to the next entry by
// its size alone, while the kernel, whose layout we follow, pads every
// entry to 4 bytes (ip_vs_sync.c: msg_end = p + ((size + 3) & ~3)), so
// after a 62-byte entry with sequence data it reads two bytes early.
func TestTsharkDecodes(t *testing.T) {
	var m Message
	m.Reset(nil, 7, DefaultMaxLen)
	for _, c := range []*Conn{&connDR, &connPE} {
		if err := m.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 0x51},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{198, 18, 0, 2}, DstIP: Group.AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: Port}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip, udp, gopacket.Payload(m.Bytes())); err != nil {
		t.Fatal(err)
	}
	out := packettest.Tshark(t, [][]byte{buf.Bytes()}, "-d", "udp.port==8848,ipvs", "-T", "fields", "-E", "aggregator=;",
		"-e", "ipvs.syncid", "-e", "ipvs.conncount", "-e", "ipvs.cport", "-e", "ipvs.vport", "-e", "ipvs.dport",
		"-e", "ipvs.timeout", "-e", "ipvs.fwmark", "-e", "ipvs.proto", "-e", "ipvs.caddr", "-e", "ipvs.daddr6",
		"-e", "ipvs.flags.v1")
	got := strings.Fields(out)
	want := []string{"7", "2", "40000;5060", "80;5060", "80;5060", "900;300", "0x00000000;0x0000002a",
		"0x06;0x11", "198.18.0.1", "2001:db8:1::1", "0x00000003;0x00000000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tshark read\n %q\nwant\n %q", got, want)
	}
}
