package conntrack

import "github.com/xvs-project/xvs/flow"

// State is a connection's protocol state. The TCP states keep the kernel's
// order and names (include/net/ip_vs.h, IP_VS_TCP_S_*), so String gives what
// ipvsadm -Lc prints; UDP and ICMP entries have one state each.
type State uint8

// Connection states.
const (
	StateNone State = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	StateUDP
	StateICMP

	numTCPStates = int(StateSynAck) + 1
	numStates    = int(StateICMP) + 1
)

var stateNames = [numStates]string{
	"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP", "ICMP",
}

// String returns ipvsadm's name for s, or "ERR!" (the kernel's word) for a
// value out of range.
func (s State) String() string {
	if int(s) < numStates {
		return stateNames[s]
	}
	return "ERR!"
}

// Active reports whether a connection in state s counts as active on its real
// server. This follows the kernel since Linux 4.11 (tcp_state_active_table,
// "ipvs: count pre-established TCP states as active"): ESTABLISHED and the
// handshake states SYN_SENT, SYN_RECV and SYNACK are active; closing TCP
// states, UDP and ICMP are inactive (a UDP entry keeps the INACTIVE flag it is
// created with, as the kernel never changes it).
func (s State) Active() bool {
	switch s {
	case StateEstablished, StateSynSent, StateSynRecv, StateSynAck:
		return true
	}
	return false
}

// Dir is the direction of a packet relative to a connection.
type Dir uint8

// Packet directions, the kernel's IP_VS_DIR_*.
const (
	// DirInput: client -> director.
	DirInput Dir = iota
	// DirOutput: real server -> director (the reply side, seen only on NAT).
	DirOutput
	// DirInputOnly: client -> director on a connection whose replies bypass
	// the director (DR, TUN). A connection inserted without a reply key uses
	// this table for DirInput packets until it sees a DirOutput packet, as the
	// kernel's IP_VS_CONN_F_NOOUTPUT does.
	DirInputOnly
)

// Short names for the transition tables below.
const (
	sNO = StateNone
	sES = StateEstablished
	sSS = StateSynSent
	sSR = StateSynRecv
	sFW = StateFinWait
	sTW = StateTimeWait
	sCL = StateClose
	sCW = StateCloseWait
	sLA = StateLastAck
	sLI = StateListen
	sSA = StateSynAck
)

// tcpStates is the kernel's tcp_states table (net/netfilter/ipvs/
// ip_vs_proto_tcp.c, the non-secure_tcp one), indexed by direction, flag
// class (syn, fin, ack, rst) and current state. The ACK row on NONE goes to
// ESTABLISHED as in kernels since 3.12 (sloppy TCP): an entry created for a
// mid-flow packet is established by it.
var tcpStates = [3][4][numTCPStates]State{
	DirInput: {
		//  sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA
		{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR}, // syn
		{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW}, // fin
		{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES}, // ack
		{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR}, // rst
	},
	DirOutput: {
		{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR}, // syn
		{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW}, // fin
		{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES}, // ack
		{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL}, // rst
	},
	DirInputOnly: {
		{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR}, // syn
		{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW}, // fin
		{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES}, // ack
		{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL}, // rst
	},
}

// NextState is the TCP state machine: the state a connection in state s moves
// to on a packet with TCP flags in direction dir. The flag class is chosen by
// priority RST > SYN > FIN > ACK; a packet with none of them moves the
// connection to CLOSE, as the kernel does. It is pure and total: a state that
// is not a TCP state is treated as NONE and an unknown direction as DirInput,
// so the result is always a TCP state.
func NextState(s State, flags uint8, dir Dir) State {
	if int(s) >= numTCPStates {
		s = StateNone
	}
	if dir > DirInputOnly {
		dir = DirInput
	}
	var class int
	switch {
	case flags&flow.TCPRst != 0:
		class = 3
	case flags&flow.TCPSyn != 0:
		class = 0
	case flags&flow.TCPFin != 0:
		class = 1
	case flags&flow.TCPAck != 0:
		class = 2
	default:
		return StateClose
	}
	return tcpStates[dir][class][s]
}

// Eviction classes group states by how cheaply an entry may be dropped when
// the table is full.
const (
	classEmbryonic   = iota // TCP that never finished its handshake
	classClosing            // TCP on its way out
	classEstablished        // TCP ESTABLISHED
	classDatagram           // UDP, ICMP, anything not TCP
	numClasses
)

var stateClass = [numStates]uint8{
	StateNone:        classEmbryonic,
	StateEstablished: classEstablished,
	StateSynSent:     classEmbryonic,
	StateSynRecv:     classEmbryonic,
	StateFinWait:     classClosing,
	StateTimeWait:    classClosing,
	StateClose:       classClosing,
	StateCloseWait:   classClosing,
	StateLastAck:     classClosing,
	StateListen:      classEmbryonic,
	StateSynAck:      classEmbryonic,
	StateUDP:         classDatagram,
	StateICMP:        classDatagram,
}

// protoState is the one state of a non-TCP protocol.
func protoState(proto uint8) State {
	switch proto {
	case flow.ICMP, flow.ICMPv6:
		return StateICMP
	}
	return StateUDP
}
