package connsync

import (
	"encoding/binary"
	"net/netip"
)

// Decoded describes one datagram Decode read.
type Decoded struct {
	// Version is the message format, 0 or 1.
	Version int
	// SyncID is the sender's sync ID.
	SyncID uint8
	// Ignored reports a message for another sync ID: nothing was read.
	Ignored bool
	// Conns counts the entries handed to the callback.
	Conns int
	// Skipped counts the entries the kernel would skip alone: an unknown
	// mandatory option, a protocol it keeps no states for, a state out of
	// its range, or persistence-engine data without the engine's name.
	Skipped int
}

// Decoder reads sync datagrams for one receiver. Its zero value takes every
// sync ID.
type Decoder struct {
	// SyncID is the receiver's sync ID: 0 takes messages of every sync ID,
	// another value ignores the rest (ipvsadm --syncid on a backup).
	SyncID uint8
	conn   Conn // handed to the callback, reused entry after entry
}

// Decode reads the sync datagram b as the kernel's backup does and calls fn
// for each entry, in order, with a Conn that is reused for the next entry
// (copy what must outlive the call; PEData and PEName alias b). An error
// drops the whole datagram, but fn may already have seen the entries before
// the defect, exactly as the kernel installs them before it finds one.
func (dec *Decoder) Decode(b []byte, fn func(*Conn)) (Decoded, error) {
	syncID := dec.SyncID
	var d Decoded
	if len(b) < headerLenV0 {
		return d, ErrShort
	}
	if int(be.Uint16(b[2:])) != len(b) {
		return d, ErrSize
	}
	d.SyncID = b[1]
	if syncID != 0 && b[1] != syncID {
		d.Ignored = true
		return d, nil
	}
	c := &dec.conn
	if len(b) >= headerLen && b[0] == 0 && b[5] == protoVer && b[6] == 0 && b[7] == 0 {
		d.Version = 1
		return d, decodeV1(b, c, &d, fn)
	}
	return d, decodeV0(b, c, &d, fn)
}

func decodeV1(b []byte, c *Conn, d *Decoded, fn func(*Conn)) error {
	next := headerLen
	for range int(b[4]) {
		p := next
		if p+entryLen4 > len(b) {
			return ErrTruncated
		}
		vs := be.Uint16(b[p+2:])
		size := int(vs & sizeMask)
		end := p + size
		if end > len(b) || size < entryLen4 {
			return ErrTruncated
		}
		if vs>>12 != 0 {
			return ErrEntryVersion
		}
		ok, err := readEntry(b[p:end], c)
		if err != nil {
			return err
		}
		if ok {
			d.Conns++
			fn(c)
		} else {
			d.Skipped++
		}
		next = p + (size+3)&^3
	}
	return nil
}

// readEntry decodes one version 1 entry e (its ver_size bytes). ok is false
// for an entry to skip alone.
func readEntry(e []byte, c *Conn) (ok bool, err error) {
	*c = Conn{}
	n := entryLen4
	switch {
	case e[0]&typeInet6 != 0:
		n = entryLen6
	case e[0] != 0:
		return false, ErrEntryType
	}
	if len(e) < n {
		return false, ErrTruncated
	}
	c.Proto = e[1]
	c.Flags = be.Uint32(e[4:])
	c.State = be.Uint16(e[8:])
	cport, vport, dport := be.Uint16(e[10:]), be.Uint16(e[12:]), be.Uint16(e[14:])
	c.FWMark = be.Uint32(e[16:])
	c.Timeout = be.Uint32(e[20:])
	if n == entryLen6 {
		c.Client = netip.AddrPortFrom(netip.AddrFrom16([16]byte(e[24:40])), cport)
		c.Virtual = netip.AddrPortFrom(netip.AddrFrom16([16]byte(e[40:56])), vport)
		c.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(e[56:72])), dport)
	} else {
		c.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[24:28])), cport)
		c.Virtual = netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[28:32])), vport)
		c.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[32:36])), dport)
	}
	var seen uint8
	for p := n; p < len(e); {
		if p+optHeadLen > len(e) {
			return false, ErrTruncated
		}
		typ, l := e[p], int(e[p+1])
		p += optHeadLen
		if l == 0 {
			return false, ErrBadOption
		}
		if p+l > len(e) {
			return false, ErrTruncated
		}
		data := e[p : p+l]
		p += l
		kind := typ &^ optParam
		switch kind {
		case optSeqData, optPEData, optPEName:
			if seen&(1<<kind) != 0 || (kind == optSeqData && l != seqLen) || (kind == optPEName && l > maxPEName) {
				return false, ErrBadOption
			}
			seen |= 1 << kind
		default:
			if typ&optParam == 0 {
				// The kernel stops reading this entry here: what follows
				// is not checked, and the entry is skipped.
				return false, nil
			}
			continue
		}
		switch kind {
		case optSeqData:
			c.HasSeq = true
			c.InSeq = readSeq(data, be)
			c.OutSeq = readSeq(data[12:], be)
		case optPEData:
			c.PEData = data
		case optPEName:
			c.PEName = data
		}
	}
	if !stateValid(c) || (len(c.PEData) > 0 && len(c.PEName) == 0) {
		return false, nil
	}
	return true, nil
}

func readSeq(b []byte, order binary.ByteOrder) Seq {
	return Seq{order.Uint32(b), order.Uint32(b[4:]), order.Uint32(b[8:])}
}

// stateValid is the kernel's check before it installs an entry: a
// connection's protocol must have a state table and its state be in range;
// a template's state is not checked.
func stateValid(c *Conn) bool {
	if c.Flags&FlagTemplate != 0 {
		return true
	}
	var states uint16
	switch c.Proto {
	case protoTCP:
		states = tcpStates
	case protoUDP, protoAH, protoESP:
		states = oneState
	case protoSCTP:
		states = sctpStates
	}
	return c.State < states
}

// decodeV0 reads a version 0 message: IPv4 only, 16-bit flags, no timeout,
// and sequence data copied raw from the sender's memory. Every kernel that
// sends it in practice is little-endian (x86, arm64), so that is how the
// sequence data is read.
func decodeV0(b []byte, c *Conn, d *Decoded, fn func(*Conn)) error {
	p := headerLenV0
	for range int(b[0]) {
		if p+entryLenV0 > len(b) {
			return ErrTruncated
		}
		e := b[p:]
		*c = Conn{
			Proto:   e[1],
			Client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[8:12])), be.Uint16(e[2:])),
			Virtual: netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[12:16])), be.Uint16(e[4:])),
			Dest:    netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[16:20])), be.Uint16(e[6:])),
			Flags:   uint32(be.Uint16(e[20:])),
			State:   be.Uint16(e[22:]),
		}
		p += entryLenV0
		if c.Flags&FlagSeqMask != 0 {
			if p+seqLen > len(b) {
				return ErrTruncated
			}
			c.HasSeq = true
			c.InSeq = readSeq(b[p:], binary.LittleEndian)
			c.OutSeq = readSeq(b[p+12:], binary.LittleEndian)
			p += seqLen
		}
		if !stateValid(c) {
			d.Skipped++
			continue
		}
		d.Conns++
		fn(c)
	}
	return nil
}
