package connsync

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/flow"
)

var be = binary.BigEndian

// Message builds one version 1 sync datagram in a caller-owned buffer. The
// zero Message is not usable; call Reset first.
type Message struct {
	b      []byte
	maxLen int
}

// Reset starts an empty message for syncID in buf's storage, to hold at
// most maxLen bytes (the sync daemon's sync_maxlen; values below a header
// and one IPv4 entry are raised to that, above 65535 lowered to it).
func (m *Message) Reset(buf []byte, syncID uint8, maxLen int) {
	maxLen = min(max(maxLen, headerLen+entryLen4), 0xffff)
	m.b = append(buf[:0], 0, syncID, 0, headerLen, 0, protoVer, 0, 0)
	m.maxLen = maxLen
}

// Bytes returns the datagram: header and entries; it aliases the buffer
// given to Reset.
func (m *Message) Bytes() []byte { return m.b }

// Len returns the number of entries.
func (m *Message) Len() int {
	if len(m.b) < headerLen {
		return 0
	}
	return int(m.b[4])
}

// Add appends c. It returns ErrFull, leaving the message as it was, when c
// does not fit (the caller sends the message and adds c to a fresh one),
// and ErrEntry when c cannot be encoded at all. As the kernel does, the
// padding that aligns an entry goes before it, so the datagram never ends
// in padding.
func (m *Message) Add(c *Conn) error {
	if err := checkEncodable(c); err != nil {
		return err
	}
	n := c.wireLen()
	pad := (4 - len(m.b)&3) & 3
	if m.Len() == 255 || len(m.b)+pad+n > m.maxLen {
		return ErrFull
	}
	for range pad {
		m.b = append(m.b, 0)
	}
	m.b = appendEntry(m.b, c, n)
	m.b[4]++
	be.PutUint16(m.b[2:], uint16(len(m.b)))
	return nil
}

func checkEncodable(c *Conn) error {
	v6 := c.IsIPv6()
	for _, a := range [...]struct {
		name string
		ap   netip.AddrPort
	}{{"client", c.Client}, {"virtual", c.Virtual}, {"dest", c.Dest}} {
		if !a.ap.IsValid() || flow.IsIPv6(a.ap.Addr()) != v6 {
			return fmt.Errorf("%s address missing or of another family: %w", a.name, ErrEntry)
		}
	}
	if len(c.PEData) > maxPEData || len(c.PEName) > maxPEName {
		return fmt.Errorf("persistence-engine data %d bytes (max %d), name %d (max %d): %w",
			len(c.PEData), maxPEData, len(c.PEName), maxPEName, ErrEntry)
	}
	if len(c.PEName) > 0 && len(c.PEData) == 0 {
		return fmt.Errorf("persistence-engine name without data: %w", ErrEntry)
	}
	return nil
}

// appendEntry writes c's n-byte entry (ip_vs_sync_v4/v6 and options).
func appendEntry(b []byte, c *Conn, n int) []byte {
	typ := byte(0)
	if c.IsIPv6() {
		typ = typeInet6
	}
	b = append(b, typ, c.Proto)
	b = be.AppendUint16(b, uint16(n)&sizeMask) // version 0 in the top nibble
	b = be.AppendUint32(b, c.Flags&^FlagHashed)
	b = be.AppendUint16(b, c.State)
	b = be.AppendUint16(b, c.Client.Port())
	b = be.AppendUint16(b, c.Virtual.Port())
	b = be.AppendUint16(b, c.Dest.Port())
	b = be.AppendUint32(b, c.FWMark)
	b = be.AppendUint32(b, c.Timeout)
	for _, a := range [...]netip.AddrPort{c.Client, c.Virtual, c.Dest} {
		if typ == typeInet6 {
			a16 := a.Addr().As16()
			b = append(b, a16[:]...)
		} else {
			a4 := a.Addr().Unmap().As4()
			b = append(b, a4[:]...)
		}
	}
	if c.Flags&FlagSeqMask != 0 {
		b = append(b, optSeqData, seqLen)
		for _, s := range [...]Seq{c.InSeq, c.OutSeq} {
			b = be.AppendUint32(b, s.InitSeq)
			b = be.AppendUint32(b, s.Delta)
			b = be.AppendUint32(b, s.PreviousDelta)
		}
	}
	if len(c.PEData) > 0 {
		b = append(b, optPEData, byte(len(c.PEData)))
		b = append(b, c.PEData...)
		if len(c.PEName) > 0 {
			b = append(b, optPEName, byte(len(c.PEName)))
			b = append(b, c.PEName...)
		}
	}
	return b
}
