package encap

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTunnelFramesTshark has Wireshark's dissectors, a decoder written
// independently of gopacket and of us, read every GUE/GRE fixture from a
// pcap file: the outer IP, UDP and GRE fields and checksum states, and for
// GRE the inner packet down to TCP/UDP with its checksum. Wireshark has no
// GUE dissector, so for GUE it checks the outer UDP (length, port, checksum)
// and TestPushTunnelGUEGRE checks the GUE header and inner packet. tshark
// comes from scripts/deps.sh, which the test runs when tshark is missing.
func TestTunnelFramesTshark(t *testing.T) {
	tshark := needTshark(t)
	fixtures := tunnelFixtures()
	path := filepath.Join(t.TempDir(), "tunnels.pcap")
	// A classic pcap file, written here rather than with pcapgo (which
	// would pull golang.org/x/net into go.mod): the 24-byte file header
	// (magic, version 2.4, zone, sigfigs, snaplen, link type 1 Ethernet),
	// then per frame a 16-byte record header (seconds, microseconds,
	// captured and original length) and the frame.
	le := binary.LittleEndian
	file := le.AppendUint32(nil, 0xa1b2c3d4)
	file = le.AppendUint16(le.AppendUint16(file, 2), 4)
	file = le.AppendUint32(le.AppendUint32(file, 0), 0)
	file = le.AppendUint32(le.AppendUint32(file, 65535), 1)
	for i, tf := range fixtures {
		b := tf.push(t)
		file = le.AppendUint32(le.AppendUint32(file, uint32(i)), 0)
		file = le.AppendUint32(le.AppendUint32(file, uint32(len(b))), uint32(len(b)))
		file = append(file, b...)
	}
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	// Fields come back tab-separated, repeated ones comma-separated (outer
	// first). Checksum states: 0 bad, 1 good, 2 unverified, 3 not present.
	fields := []string{"ip.proto", "ipv6.nxt", "gre.proto", "gre.checksum.status",
		"udp.dstport", "udp.length", "udp.checksum.status", "tcp.dstport", "tcp.checksum.status", "ip.checksum.status"}
	args := []string{"-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
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

// needTshark returns tshark's path, installing it with scripts/deps.sh when
// it is missing (as root; otherwise the test is skipped, saying why).
func needTshark(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("tshark"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("tshark is not installed and installing it needs root (scripts/deps.sh)")
	}
	if out, err := exec.Command("bash", filepath.Join("..", "scripts", "deps.sh")).CombinedOutput(); err != nil {
		t.Fatalf("scripts/deps.sh: %v\n%s", err, out)
	}
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("scripts/deps.sh ran but tshark is still missing")
	}
	return p
}
