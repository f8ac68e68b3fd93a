package nft

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Verdicts of a Rule besides unix.NFT_RETURN, NFT_JUMP and NFT_GOTO.
const (
	Drop   int32 = 0 // NF_DROP
	Accept int32 = 1 // NF_ACCEPT
)

// Match compares bytes of the packet (or skb->protocol) with Data.
type Match struct {
	Meta    bool   // meta protocol instead of a payload load
	L4Proto bool   // meta l4proto (the kernel's upper-layer protocol)
	ExtHdr  uint8  // non-zero: a load from this IPv6 extension header (exthdr)
	Base    uint32 // NFT_PAYLOAD_NETWORK_HEADER or NFT_PAYLOAD_TRANSPORT_HEADER
	Off     uint32
	Mask    []byte // optional: AND before comparing
	Op      uint32 // NFT_CMP_*
	Data    []byte
}

// Rule is one rule of a chain: all matches, then a verdict.
type Rule struct {
	Chain   string
	Matches []Match
	Verdict int32  // Drop, Accept, NFT_RETURN, NFT_JUMP, NFT_GOTO
	Target  string // chain of a jump or goto
}

// encode appends the NEWRULE message of r for table.
func (r Rule) encode(m *nlBuilder, table string) {
	m.msg(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_APPEND, "rule "+r.Chain+": "+r.String())
	m.str(unix.NFTA_RULE_TABLE, table)
	m.str(unix.NFTA_RULE_CHAIN, r.Chain)
	exprs := m.nest(unix.NFTA_RULE_EXPRESSIONS)
	for _, x := range r.Matches {
		n := uint32(len(x.Data))
		switch {
		case x.Meta || x.L4Proto:
			key := uint32(unix.NFT_META_PROTOCOL)
			if x.L4Proto {
				key = unix.NFT_META_L4PROTO
			}
			expr(m, "meta", func() {
				m.u32(unix.NFTA_META_DREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_META_KEY, key)
			})
		case x.ExtHdr != 0:
			// NFTA_EXTHDR_OP absent: the IPv6 extension-header walk.
			expr(m, "exthdr", func() {
				m.u32(unix.NFTA_EXTHDR_DREG, unix.NFT_REG_1)
				m.attr(unix.NFTA_EXTHDR_TYPE, []byte{x.ExtHdr}) // NLA_U8
				m.u32(unix.NFTA_EXTHDR_OFFSET, x.Off)
				m.u32(unix.NFTA_EXTHDR_LEN, n)
			})
		default:
			expr(m, "payload", func() {
				m.u32(unix.NFTA_PAYLOAD_DREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_PAYLOAD_BASE, x.Base)
				m.u32(unix.NFTA_PAYLOAD_OFFSET, x.Off)
				m.u32(unix.NFTA_PAYLOAD_LEN, n)
			})
		}
		if x.Mask != nil {
			expr(m, "bitwise", func() {
				m.u32(unix.NFTA_BITWISE_SREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_BITWISE_DREG, unix.NFT_REG_1)
				m.u32(unix.NFTA_BITWISE_LEN, n)
				dataAttr(m, unix.NFTA_BITWISE_MASK, x.Mask)
				dataAttr(m, unix.NFTA_BITWISE_XOR, make([]byte, n))
			})
		}
		expr(m, "cmp", func() {
			m.u32(unix.NFTA_CMP_SREG, unix.NFT_REG_1)
			m.u32(unix.NFTA_CMP_OP, x.Op)
			dataAttr(m, unix.NFTA_CMP_DATA, x.Data)
		})
	}
	expr(m, "immediate", func() {
		m.u32(unix.NFTA_IMMEDIATE_DREG, unix.NFT_REG_VERDICT)
		d := m.nest(unix.NFTA_IMMEDIATE_DATA)
		v := m.nest(unix.NFTA_DATA_VERDICT)
		m.u32(unix.NFTA_VERDICT_CODE, uint32(r.Verdict))
		if r.Target != "" {
			m.str(unix.NFTA_VERDICT_CHAIN, r.Target)
		}
		m.unnest(v)
		m.unnest(d)
	})
	m.unnest(exprs)
	m.end()
}

func expr(m *nlBuilder, name string, body func()) {
	e := m.nest(unix.NFTA_LIST_ELEM)
	m.str(unix.NFTA_EXPR_NAME, name)
	d := m.nest(unix.NFTA_EXPR_DATA)
	body()
	m.unnest(d)
	m.unnest(e)
}

func dataAttr(m *nlBuilder, typ uint16, value []byte) {
	a := m.nest(typ)
	m.attr(unix.NFTA_DATA_VALUE, value)
	m.unnest(a)
}

// String renders the rule in nft's raw-payload syntax, for errors and tests.
func (r Rule) String() string {
	var sb strings.Builder
	for _, x := range r.Matches {
		switch {
		case x.Meta:
			sb.WriteString("meta protocol")
		case x.L4Proto:
			sb.WriteString("meta l4proto")
		case x.ExtHdr != 0:
			fmt.Fprintf(&sb, "@exthdr%d,%d,%d", x.ExtHdr, 8*x.Off, 8*len(x.Data))
		default:
			b := "@nh"
			if x.Base == unix.NFT_PAYLOAD_TRANSPORT_HEADER {
				b = "@th"
			}
			fmt.Fprintf(&sb, "%s,%d,%d", b, 8*x.Off, 8*len(x.Data))
		}
		if x.Mask != nil {
			fmt.Fprintf(&sb, " & 0x%x", x.Mask)
		}
		fmt.Fprintf(&sb, " %s 0x%x ", cmpNames[x.Op], x.Data)
	}
	switch r.Verdict {
	case Drop:
		sb.WriteString("drop")
	case Accept:
		sb.WriteString("accept")
	case unix.NFT_RETURN:
		sb.WriteString("return")
	case unix.NFT_JUMP:
		sb.WriteString("jump " + r.Target)
	case unix.NFT_GOTO:
		sb.WriteString("goto " + r.Target)
	}
	return sb.String()
}

var cmpNames = map[uint32]string{
	unix.NFT_CMP_EQ: "==", unix.NFT_CMP_NEQ: "!=", unix.NFT_CMP_LT: "<",
	unix.NFT_CMP_LTE: "<=", unix.NFT_CMP_GT: ">", unix.NFT_CMP_GTE: ">=",
}
