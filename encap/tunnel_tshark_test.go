package encap

import (
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/internal/packettest"
)

// TestTunnelFramesTshark has Wireshark's dissectors, a decoder written
// independently of gopacket and of us, read every GUE/GRE fixture from a
// pcap file: the outer IP, UDP and GRE fields and checksum states, and for
// GRE the inner packet down to TCP/UDP with its checksum. Wireshark has no
// GUE dissector, so for GUE it checks the outer UDP (length, port, checksum)
// and TestPushTunnelGUEGRE checks the GUE header and inner packet. tshark
// comes from scripts/deps.sh, which packettest.Tshark runs when it is missing.
func TestTunnelFramesTshark(t *testing.T) {
	fixtures := tunnelFixtures()
	frames := make([][]byte, len(fixtures))
	for i, tf := range fixtures {
		frames[i] = tf.push(t)
	}
	// Fields come back tab-separated, repeated ones comma-separated (outer
	// first). Checksum states: 0 bad, 1 good, 2 unverified, 3 not present.
	fields := []string{"ip.proto", "ipv6.nxt", "gre.proto", "gre.checksum.status",
		"udp.dstport", "udp.length", "udp.checksum.status", "tcp.dstport", "tcp.checksum.status", "ip.checksum.status"}
	args := []string{"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out := packettest.Tshark(t, frames, args...)
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(fixtures) {
		t.Fatalf("tshark printed %d lines for %d frames:\n%s", len(lines), len(fixtures), out)
	}
	for i, tf := range fixtures {
		got := map[string]string{}
		for j, v := range strings.Split(lines[i], "\t") {
			if j < len(fields) {
				got[fields[j]] = v
			}
		}
		v6 := tf.f.v6()
		inner := "6"
		if tf.f.udp {
			inner = "17"
		}
		check := func(field, want string) {
			if got[field] != want {
				t.Errorf("%s: %s = %q, want %q (line %q)", tf.name, field, got[field], want, lines[i])
			}
		}
		switch tf.tun.Type {
		case TunnelGRE:
			if v6 {
				check("ipv6.nxt", "47,"+inner)
				check("gre.proto", "0x86dd")
			} else {
				check("ip.proto", "47,"+inner)
				check("gre.proto", "0x0800")
				check("ip.checksum.status", "1,1")
			}
			if tf.tun.Csum {
				check("gre.checksum.status", "1")
			} else {
				check("gre.checksum.status", "")
			}
			if tf.f.udp {
				check("udp.dstport", "9999")
				check("udp.checksum.status", "1")
			} else {
				check("tcp.dstport", "80")
				check("tcp.checksum.status", "1")
			}
		case TunnelGUE:
			if v6 {
				check("ipv6.nxt", "17")
			} else {
				check("ip.proto", "17")
				check("ip.checksum.status", "1")
			}
			check("udp.dstport", strconv.Itoa(int(tf.tun.Port)))
			check("udp.length", strconv.Itoa(8+4+len(tf.f.ipPacket())))
			if tf.tun.Csum {
				check("udp.checksum.status", "1")
			} else if !v6 {
				// IPv4: 0 means none; Wireshark says "not present" (3).
				check("udp.checksum.status", "3")
			}
		}
	}
}
