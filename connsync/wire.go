package connsync

import (
	"net/netip"

	"github.com/xvs-project/xvs/flow"
)

// Transport defaults of the kernel's sync daemon.
var (
	// Group is the IPv4 multicast group sync datagrams go to
	// (IP_VS_SYNC_GROUP).
	Group = netip.MustParseAddr("224.0.0.81")
)

const (
	// Port is the UDP port of the first sync thread; thread i uses Port+i.
	Port = 8848
	// DefaultMaxLen is the master's default sync_maxlen: an Ethernet MTU
	// less the IPv4 and UDP headers.
	DefaultMaxLen = 1500 - 20 - 8
	// DefaultSyncID is ipvsadm's default --syncid.
	DefaultSyncID = 255
)

// Sizes of the wire structures.
const (
	headerLen   = 8  // struct ip_vs_sync_mesg (version 1)
	headerLenV0 = 4  // struct ip_vs_sync_mesg_v0
	entryLen4   = 36 // struct ip_vs_sync_v4
	entryLen6   = 72 // struct ip_vs_sync_v6
	entryLenV0  = 24 // struct ip_vs_sync_conn_v0
	seqLen      = 24 // struct ip_vs_sync_conn_options: two ip_vs_seq
	optHeadLen  = 2  // option type and length bytes
	maxPEData   = 255
	maxPEName   = 16
	sizeMask    = 0x0fff // low 12 bits of ver_size; the top 4 are the version
	protoVer    = 1
	typeInet6   = 1 // STYPE_F_INET6
)

// Option types of a version 1 entry. A type with optParam set is optional:
// a receiver that does not know it skips it; an unknown type without it
// makes the receiver skip the whole entry.
const (
	optSeqData = 1
	optPEData  = 2
	optPEName  = 3
	optParam   = 0x40
)

// Connection flags as IPVS keeps them (include/uapi/linux/ip_vs.h). Only
// the low 16 bits travel in version 0.
const (
	FlagFwdMask   = 0x0007 // forwarding method, one of the Fwd values
	FlagSync      = 0x0020 // entry came from a sync message
	FlagHashed    = 0x0040 // in the kernel's table; never sent
	FlagNoOutput  = 0x0080
	FlagInactive  = 0x0100 // not (or no longer) established
	FlagOutSeq    = 0x0200
	FlagInSeq     = 0x0400
	FlagNoCPort   = 0x0800 // client port not known yet (persistence)
	FlagTemplate  = 0x1000 // a persistence template, not a connection
	FlagOnePacket = 0x2000 // one-packet scheduling: never synced

	// FlagSeqMask: the entry carries TCP sequence adjustments.
	FlagSeqMask = FlagInSeq | FlagOutSeq
	// FlagBackupMask is what a backup keeps of the flags it receives.
	FlagBackupMask = FlagFwdMask | FlagNoOutput | FlagInactive | FlagSeqMask | FlagNoCPort | FlagTemplate
	// FlagBackupUpdateMask is what an update may change on a backup's
	// existing entry.
	FlagBackupUpdateMask = FlagInactive | FlagSeqMask
)

// Forwarding methods in FlagFwdMask.
const (
	FwdMasq      = 0
	FwdLocalNode = 1
	FwdTunnel    = 2
	FwdDRoute    = 3
	FwdBypass    = 4
)

// Protocols the kernel keeps state tables for, with their number of states:
// an entry whose state is not below it is skipped by the receiver.
const (
	protoTCP   = flow.TCP
	protoUDP   = flow.UDP
	protoSCTP  = flow.SCTP
	protoESP   = flow.ESP
	protoAH    = flow.AH
	tcpStates  = 11 // IP_VS_TCP_S_LAST
	oneState   = 1  // IP_VS_UDP_S_LAST; AH and ESP have one state too
	sctpStates = 10 // IP_VS_SCTP_S_LAST
)

// Seq is one direction's TCP sequence adjustment (struct ip_vs_seq), used
// by application helpers that change payload length (FTP).
type Seq struct {
	InitSeq, Delta, PreviousDelta uint32
}

// Conn is one connection (or persistence template) as a sync message
// carries it.
type Conn struct {
	Proto uint8
	// Flags are the IPVS connection flags (Flag*); FlagHashed is never
	// sent.
	Flags uint32
	// State is the protocol state in the kernel's numbering (xvs's
	// conntrack.State keeps it for TCP).
	State uint16
	// Client, Virtual and Dest are the client, the virtual service and the
	// real server with their ports. A template holds the client's address
	// (masked by the persistence granularity) with port 0.
	Client, Virtual, Dest netip.AddrPort
	// FWMark is the firewall mark of a fwmark service, else 0.
	FWMark uint32
	// Timeout is the entry's timeout in seconds (0 in version 0 messages:
	// the receiver uses its own per-state timeout).
	Timeout uint32
	// HasSeq reports that InSeq and OutSeq were received. The encoder
	// sends them when Flags has FlagInSeq or FlagOutSeq, as the kernel
	// does; a decoded entry without the option has them zero.
	HasSeq        bool
	InSeq, OutSeq Seq
	// PEData and PEName are a persistence engine's data and name (SIP's
	// Call-ID and "sip"). Decode makes them alias its input.
	PEData, PEName []byte
}

// IsIPv6 reports whether the entry is an IPv6 one.
func (c *Conn) IsIPv6() bool { return flow.IsIPv6(c.Client.Addr()) }

// wireLen is the entry's length without padding, as ver_size carries it.
func (c *Conn) wireLen() int {
	n := entryLen4
	if c.IsIPv6() {
		n = entryLen6
	}
	if c.Flags&FlagSeqMask != 0 {
		n += optHeadLen + seqLen
	}
	if len(c.PEData) > 0 {
		n += optHeadLen + len(c.PEData)
		if len(c.PEName) > 0 {
			n += optHeadLen + len(c.PEName)
		}
	}
	return n
}
