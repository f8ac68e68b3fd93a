package vrrp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var mac = net.HardwareAddr{0x02, 0, 0x5e, 0x10, 0, 1}

// TestGARP: gopacket reads the frame as keepalived's gratuitous ARP: a
// broadcast request whose sender and target are the virtual address.
func TestGARP(t *testing.T) {
	b := AppendGARP(nil, mac, vip4)
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil {
		t.Fatalf("gopacket: %v", p.ErrorLayer())
	}
	if eth.DstMAC.String() != "ff:ff:ff:ff:ff:ff" || eth.SrcMAC.String() != mac.String() ||
		arp.Operation != layers.ARPRequest || net.HardwareAddr(arp.SourceHwAddress).String() != mac.String() ||
		!net.IP(arp.SourceProtAddress).Equal(vip4.AsSlice()) || !net.IP(arp.DstProtAddress).Equal(vip4.AsSlice()) ||
		net.HardwareAddr(arp.DstHwAddress).String() != "ff:ff:ff:ff:ff:ff" {
		t.Errorf("eth %+v arp %+v", eth, arp)
	}
}

// TestUnsolicitedNA: gopacket decodes the advertisement and its checksum
// verifies; the flags and the option are keepalived's.
func TestUnsolicitedNA(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::100")
	b := AppendUnsolicitedNA(nil, mac, vip, false)
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if ip6 == nil || icmp == nil || na == nil {
		t.Fatalf("gopacket: %v", p.ErrorLayer())
	}
	if ip6.HopLimit != 255 || ip6.DstIP.String() != "ff02::1" || !na.Override() || na.Router() || na.Solicited() ||
		!na.TargetAddress.Equal(vip.AsSlice()) || len(na.Options) != 1 ||
		na.Options[0].Type != layers.ICMPv6OptTargetAddress || net.HardwareAddr(na.Options[0].Data).String() != mac.String() {
		t.Errorf("ip6 %+v na %+v", ip6, na)
	}
	// Recompute the checksum with gopacket and compare.
	icmp2 := *icmp
	if err := icmp2.SetNetworkLayerForChecksum(ip6); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &icmp2, gopacket.Payload(icmp.Payload)); err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes()[2:4]; got[0] != b[54+2] || got[1] != b[54+3] {
		t.Errorf("checksum %x, gopacket computes %x", b[56:58], got)
	}
}
