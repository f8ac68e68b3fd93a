package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNetlink: the kernel refused an nftables request. Errors wrap it with
// the request and the kernel's errno.
var ErrNetlink = errors.New("nftables netlink request failed")

// nf_tables constants that golang.org/x/sys does not have.
const (
	nftTableFOwner  = 0x2 // NFT_TABLE_F_OWNER: the table dies with its netlink socket
	nftaTableOwner  = 7   // NFTA_TABLE_OWNER
	nftaTableHandle = 4   // NFTA_TABLE_HANDLE
)

// nlBuilder appends netlink messages and attributes to one buffer. nf_tables
// attributes carry integers in network byte order; the netlink headers are in
// host byte order.
type nlBuilder struct {
	b     []byte
	start int    // offset of the message being built
	seq   uint32 // sequence number of the last message
	what  map[uint32]string
}

func newBuilder(seq uint32) *nlBuilder { return &nlBuilder{seq: seq, what: make(map[uint32]string)} }

// begin starts a message of the nf_tables subsystem (or, for the batch
// markers, of nfnetlink itself). what describes it in errors.
func (m *nlBuilder) begin(typ, flags uint16, family uint8, resID uint16, what string) {
	m.seq++
	m.what[m.seq] = what
	m.start = len(m.b)
	m.b = binary.NativeEndian.AppendUint32(m.b, 0) // length, set by end
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	m.b = binary.NativeEndian.AppendUint16(m.b, flags|unix.NLM_F_REQUEST)
	m.b = binary.NativeEndian.AppendUint32(m.b, m.seq)
	m.b = binary.NativeEndian.AppendUint32(m.b, 0)
	m.b = append(m.b, family, unix.NFNETLINK_V0)
	m.b = binary.BigEndian.AppendUint16(m.b, resID)
}

func (m *nlBuilder) end() {
	binary.NativeEndian.PutUint32(m.b[m.start:], uint32(len(m.b)-m.start))
}

// msg starts an nf_tables message.
func (m *nlBuilder) msg(nftMsg uint16, flags uint16, what string) {
	m.begin(unix.NFNL_SUBSYS_NFTABLES<<8|nftMsg, flags, unix.NFPROTO_NETDEV, 0, what)
}

func (m *nlBuilder) attr(typ uint16, data []byte) {
	m.b = binary.NativeEndian.AppendUint16(m.b, uint16(unix.SizeofNlAttr+len(data)))
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	m.b = append(m.b, data...)
	m.pad()
}

func (m *nlBuilder) pad() {
	for len(m.b)%unix.NLA_ALIGNTO != 0 {
		m.b = append(m.b, 0)
	}
}

func (m *nlBuilder) u32(typ uint16, v uint32) { m.attr(typ, binary.BigEndian.AppendUint32(nil, v)) }

func (m *nlBuilder) str(typ uint16, s string) { m.attr(typ, append([]byte(s), 0)) }

// nest opens a nested attribute; close it with unnest.
func (m *nlBuilder) nest(typ uint16) int {
	at := len(m.b)
	m.b = binary.NativeEndian.AppendUint16(m.b, 0)
	m.b = binary.NativeEndian.AppendUint16(m.b, typ|unix.NLA_F_NESTED)
	return at
}

func (m *nlBuilder) unnest(at int) {
	binary.NativeEndian.PutUint16(m.b[at:], uint16(len(m.b)-at))
}

// nlConn is a NETLINK_NETFILTER socket in the network namespace of the
// thread that opened it.
type nlConn struct {
	fd  int
	seq uint32
}

func dialNetfilter() (*nlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("netfilter netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netfilter netlink bind: %w", err)
	}
	// A rule set of a few thousand rules is one batch of a few MB, and the
	// kernel refuses a message larger than the send buffer.
	for _, o := range []struct{ force, plain int }{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.force, 8<<20) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.plain, 8<<20)
		}
	}
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &nlConn{fd: fd, seq: uint32(time.Now().Unix())}, nil
}

func (c *nlConn) close() {
	if c != nil && c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// batch wraps the messages built by fill in a batch and sends it. The kernel
// processes a batch inside sendmsg, so every error (and only errors: no
// message asks for an acknowledgement) is queued on the socket by the time
// sendmsg returns.
func (c *nlConn) batch(fill func(m *nlBuilder)) error {
	m := newBuilder(c.seq)
	m.begin(unix.NFNL_MSG_BATCH_BEGIN, 0, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES, "batch begin")
	m.end()
	fill(m)
	m.begin(unix.NFNL_MSG_BATCH_END, 0, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES, "batch end")
	m.end()
	c.seq = m.seq
	if err := unix.Sendto(c.fd, m.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending nftables batch: %w", err)
	}
	var errs []error
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return fmt.Errorf("reading nftables answer: %w", err)
		}
		msgs, perr := parseMessages(buf[:n])
		if perr != nil {
			return perr
		}
		for _, msg := range msgs {
			if msg.typ != unix.NLMSG_ERROR || len(msg.data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(msg.data)); code != 0 {
				errs = append(errs, fmt.Errorf("%s: %w", m.what[msg.seq], unix.Errno(-code)))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNetlink, errors.Join(errs...))
	}
	return nil
}

// dump sends one dump request and returns the payloads (after the nfgenmsg
// header) of the answers.
func (c *nlConn) dump(nftMsg uint16, family uint8) ([]nlMessage, error) {
	m := newBuilder(c.seq)
	m.begin(unix.NFNL_SUBSYS_NFTABLES<<8|nftMsg, unix.NLM_F_DUMP|unix.NLM_F_ACK, family, 0, "dump")
	m.end()
	c.seq = m.seq
	if err := unix.Sendto(c.fd, m.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sending nftables dump request: %w", err)
	}
	var out []nlMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading nftables dump: %w", err)
		}
		msgs, err := parseMessages(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			if msg.seq != m.seq {
				continue
			}
			switch msg.typ {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(msg.data) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(msg.data)); code != 0 {
						return nil, fmt.Errorf("%w: dump: %w", ErrNetlink, unix.Errno(-code))
					}
				}
				return out, nil
			default:
				if len(msg.data) >= 4 {
					msg.family = msg.data[0]
					msg.data = msg.data[4:]
					out = append(out, msg)
				}
			}
		}
	}
}

// nlMessage is one received message: its type, sequence number and payload.
type nlMessage struct {
	typ    uint16
	seq    uint32
	family uint8
	data   []byte
}

func parseMessages(b []byte) ([]nlMessage, error) {
	var out []nlMessage
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, fmt.Errorf("%w: malformed netlink message", ErrNetlink)
		}
		out = append(out, nlMessage{
			typ:  binary.NativeEndian.Uint16(b[4:]),
			seq:  binary.NativeEndian.Uint32(b[8:]),
			data: append([]byte(nil), b[unix.NLMSG_HDRLEN:l]...),
		})
		l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out, nil
}

// parseAttrs returns the top-level attributes of b by type (the nested flag
// cleared).
func parseAttrs(b []byte) map[uint16][]byte {
	out := make(map[uint16][]byte)
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofNlAttr || l > len(b) {
			break
		}
		out[binary.NativeEndian.Uint16(b[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER)] = b[unix.SizeofNlAttr:l]
		l = (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out
}
