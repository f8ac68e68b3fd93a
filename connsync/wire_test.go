package connsync

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// unhex joins hex pieces (spaces and | allowed) into bytes.
func unhex(t testing.TB, pieces ...string) []byte {
	t.Helper()
	s := strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(strings.Join(pieces, ""))
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// The fixtures are written by hand from the kernel's structures
// (struct ip_vs_sync_mesg, ip_vs_sync_v4, ip_vs_sync_v6 and the option
// layout), field by field, not produced by the encoder.
var (
	// One IPv4 TCP connection, direct routing, ESTABLISHED, 900 s, syncid 1.
	connDR = Conn{Proto: 6, Flags: FwdDRoute, State: 1,
		Client: ap("198.18.0.1:40000"), Virtual: ap("198.18.0.10:80"), Dest: ap("198.18.1.1:80"), Timeout: 900}
	fixtureDR = []string{
		"00 01 002c 01 01 0000",                         // reserved, syncid 1, size 44, 1 conn, version 1, spare
		"00 06 0024 | 00000003 | 0001 9c40 | 0050 0050", // type v4, TCP, size 36 | flags DR | state, cport | vport, dport
		"00000000 | 00000384",                           // fwmark | timeout 900
		"c6120001 c612000a c6120101",                    // caddr vaddr daddr
	}

	// A NAT connection with sequence data (62 bytes, so 2 bytes of
	// padding follow), then an IPv6 UDP entry with persistence-engine
	// data and name, syncid 7.
	connSeq = Conn{Proto: 6, Flags: FwdMasq | FlagInSeq | FlagOutSeq, State: 4,
		Client: ap("198.18.0.2:1234"), Virtual: ap("198.18.0.10:21"), Dest: ap("198.18.1.2:2121"), Timeout: 120,
		HasSeq: true, InSeq: Seq{0x11111111, 3, 0}, OutSeq: Seq{0x22222222, 0xfffffffd, 1}}
	connPE = Conn{Proto: 17, Flags: FwdMasq, State: 0,
		Client: ap("[2001:db8::1]:5060"), Virtual: ap("[2001:db8::a]:5060"), Dest: ap("[2001:db8:1::1]:5060"),
		FWMark: 42, Timeout: 300, PEData: []byte("abc"), PEName: []byte("sip")}
	fixtureTwo = []string{
		"00 07 009a 02 01 0000", // size 8+62+2+82 = 154, 2 conns
		"00 06 003e | 00000600 | 0004 04d2 | 0015 0849 | 00000000 | 00000078",
		"c6120002 c612000a c6120102",
		"01 18 | 11111111 00000003 00000000 | 22222222 fffffffd 00000001", // SEQ_DATA, 24 bytes
		"0000", // padding to the next entry
		"01 11 0052 | 00000000 | 0000 13c4 | 13c4 13c4 | 0000002a | 0000012c", // v6, UDP, size 82
		"20010db8000000000000000000000001 20010db800000000000000000000000a 20010db8000100000000000000000001",
		"02 03 616263 | 03 03 736970", // PE_DATA "abc", PE_NAME "sip"
	}
)

func TestEncodeFixtures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		syncID uint8
		conns  []Conn
		want   []string
	}{
		{"dr", 1, []Conn{connDR}, fixtureDR},
		{"seq-then-v6-pe", 7, []Conn{connSeq, connPE}, fixtureTwo},
	} {
		var m Message
		m.Reset(nil, tc.syncID, DefaultMaxLen)
		for i := range tc.conns {
			if err := m.Add(&tc.conns[i]); err != nil {
				t.Fatalf("%s: Add %d: %v", tc.name, i, err)
			}
		}
		if want := unhex(t, tc.want...); !bytes.Equal(m.Bytes(), want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, m.Bytes(), want)
		}
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wire  []string
		conns []Conn
	}{
		{"dr", fixtureDR, []Conn{connDR}},
		{"seq-then-v6-pe", fixtureTwo, []Conn{connSeq, connPE}},
	} {
		var got []Conn
		var dec Decoder
		d, err := dec.Decode(unhex(t, tc.wire...), func(c *Conn) {
			cc := *c
			cc.PEData, cc.PEName = bytes.Clone(c.PEData), bytes.Clone(c.PEName)
			got = append(got, cc)
		})
		if err != nil || d.Version != 1 || d.Conns != len(tc.conns) || d.Skipped != 0 {
			t.Fatalf("%s: %+v, %v", tc.name, d, err)
		}
		for i := range tc.conns {
			if !connEqual(&got[i], &tc.conns[i]) {
				t.Errorf("%s: entry %d:\n got %+v\nwant %+v", tc.name, i, got[i], tc.conns[i])
			}
		}
	}
}

func connEqual(a, b *Conn) bool {
	norm := func(c Conn) Conn {
		if len(c.PEData) == 0 {
			c.PEData = nil
		}
		if len(c.PEName) == 0 {
			c.PEName = nil
		}
		return c
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}

// TestDecodeRefuses: each framing defect drops the datagram with its own
// error; entries the kernel skips alone are counted, the rest delivered.
func TestDecodeRefuses(t *testing.T) {
	dr := func(edit func(b []byte) []byte) []byte { return edit(unhex(t, fixtureDR...)) }
	for _, tc := range []struct {
		name    string
		b       []byte
		syncID  uint8
		err     error
		conns   int
		skipped int
		ignored bool
	}{
		{"short", []byte{0, 1, 0}, 0, ErrShort, 0, 0, false},
		{"size-too-big", dr(func(b []byte) []byte { b[3]++; return b }), 0, ErrSize, 0, 0, false},
		{"size-too-small", dr(func(b []byte) []byte { return b[:40] }), 0, ErrSize, 0, 0, false},
		{"other-syncid", dr(func(b []byte) []byte { return b }), 2, nil, 0, 0, true},
		{"syncid-0-takes-all", dr(func(b []byte) []byte { return b }), 0, nil, 1, 0, false},
		{"entry-version", dr(func(b []byte) []byte { b[10] |= 0x10; return b }), 0, ErrEntryVersion, 0, 0, false},
		{"entry-type", dr(func(b []byte) []byte { b[8] = 2; return b }), 0, ErrEntryType, 0, 0, false},
		{"entry-past-end", dr(func(b []byte) []byte { b[11] = 40; return b }), 0, ErrTruncated, 0, 0, false},
		{"entry-short-size", dr(func(b []byte) []byte { b[11] = 30; return b }), 0, ErrTruncated, 0, 0, false},
		{"count-past-end", dr(func(b []byte) []byte { b[4] = 2; return b }), 0, ErrTruncated, 1, 0, false},
		{"option-len-0", withOption(t, "01 00"), 0, ErrBadOption, 0, 0, false},
		{"option-past-end", withOption(t, "02 09 6162"), 0, ErrTruncated, 0, 0, false},
		{"seq-wrong-len", withOption(t, "01 04 00000000"), 0, ErrBadOption, 0, 0, false},
		{"pe-name-too-long", withOption(t, "03 11 "+strings.Repeat("61", 17)), 0, ErrBadOption, 0, 0, false},
		{"pe-data-twice", withOption(t, "02 01 61 02 01 62 03 01 63"), 0, ErrBadOption, 0, 0, false},
		{"unknown-optional", withOption(t, "45 02 abcd"), 0, nil, 1, 0, false},
		{"unknown-mandatory", withOption(t, "05 02 abcd"), 0, nil, 0, 1, false},
		{"pe-data-without-name", withOption(t, "02 01 61"), 0, nil, 0, 1, false},
		{"tcp-state-out-of-range", dr(func(b []byte) []byte { b[17] = 11; return b }), 0, nil, 0, 1, false},
		{"unknown-protocol", dr(func(b []byte) []byte { b[9] = 47; return b }), 0, nil, 0, 1, false},
		{"template-any-state", dr(func(b []byte) []byte { b[14] |= 0x10; b[17] = 99; return b }), 0, nil, 1, 0, false},
	} {
		d, err := (&Decoder{SyncID: tc.syncID}).Decode(tc.b, func(*Conn) {})
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
		}
		if d.Conns != tc.conns || d.Skipped != tc.skipped || d.Ignored != tc.ignored {
			t.Errorf("%s: %+v, want %d conns, %d skipped, ignored %v", tc.name, d, tc.conns, tc.skipped, tc.ignored)
		}
	}
}

// withOption is fixtureDR with the option bytes opt appended to its entry.
func withOption(t *testing.T, opt string) []byte {
	b := unhex(t, fixtureDR...)
	o := unhex(t, opt)
	b = append(b, o...)
	be.PutUint16(b[2:], uint16(len(b)))
	be.PutUint16(b[10:], uint16(entryLen4+len(o)))
	return b
}

// TestDecodeV0: a version 0 message (header nr_conns, syncid, size; 24-byte
// entries with 16-bit flags; sequence data raw in the little-endian
// sender's order) from a kernel with sync_version=0.
func TestDecodeV0(t *testing.T) {
	b := unhex(t,
		"02 05 0058", // 2 conns, syncid 5, size 4+24+24+12... (set below)
		"00 06 9c40 0050 0050 c6120001 c612000a c6120101", // reserved, TCP, ports, addresses
		"0003 0001", // flags DR, ESTABLISHED
		"00 06 04d2 0015 0849 c6120002 c612000a c6120102",
		"0600 0004", // flags IN_SEQ|OUT_SEQ masq, FIN_WAIT
		"11111111 03000000 00000000 22222222 fdffffff 01000000", // raw little-endian seq data
	)
	be.PutUint16(b[2:], uint16(len(b)))
	var got []Conn
	d, err := (&Decoder{SyncID: 5}).Decode(b, func(c *Conn) { got = append(got, *c) })
	if err != nil || d.Version != 0 || d.Conns != 2 {
		t.Fatalf("%+v, %v", d, err)
	}
	want0 := connDR
	want0.Timeout = 0
	want1 := connSeq
	want1.Timeout = 0
	if !connEqual(&got[0], &want0) || !connEqual(&got[1], &want1) {
		t.Errorf("got\n%+v\n%+v", got[0], got[1])
	}
}

// TestEncodeLimits: a message never exceeds its maximum length nor 255
// entries, and what does not fit is refused without changing the message.
func TestEncodeLimits(t *testing.T) {
	var m Message
	m.Reset(nil, 1, DefaultMaxLen)
	n := 0
	for {
		before := len(m.Bytes())
		if err := m.Add(&connSeq); err != nil {
			if !errors.Is(err, ErrFull) || len(m.Bytes()) != before {
				t.Fatalf("Add: %v, length %d -> %d", err, before, len(m.Bytes()))
			}
			break
		}
		n++
	}
	// 8 + 62 per entry + 2 of padding between: 22 entries take 1414 bytes
	// and a 23rd would end at 1478, past 1472.
	if n != 22 || len(m.Bytes()) > DefaultMaxLen {
		t.Errorf("%d entries, %d bytes; want 22 in at most %d", n, len(m.Bytes()), DefaultMaxLen)
	}
	d, err := (&Decoder{SyncID: 1}).Decode(m.Bytes(), func(*Conn) {})
	if err != nil || d.Conns != n {
		t.Errorf("decoding the full message: %+v, %v", d, err)
	}
	m.Reset(m.Bytes(), 1, 0xffff)
	for range 255 {
		if err := m.Add(&connDR); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Add(&connDR); !errors.Is(err, ErrFull) {
		t.Errorf("256th entry: %v, want ErrFull", err)
	}
	bad := connDR
	bad.Dest = ap("[2001:db8::1]:80")
	if err := m.Add(&bad); !errors.Is(err, ErrEntry) {
		t.Errorf("mixed families: %v, want ErrEntry", err)
	}
}

func TestDecodeAllocs(t *testing.T) {
	b := unhex(t, fixtureTwo...)
	n := 0
	count := func(*Conn) { n++ }
	var dec Decoder
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := dec.Decode(b, count); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode: %.0f allocations, want 0", allocs)
	}
}
