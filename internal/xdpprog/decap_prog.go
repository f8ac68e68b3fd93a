package xdpprog

import (
	"github.com/cilium/ebpf/asm"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// Names of the decapsulation program and its map.
const (
	decapProgName = "xvs_decap"
	decapLocalMap = "xvs_decap_local"
)

// Stack frame of the decap program: the saved L2 header (MACs and the VLAN
// tag) and the outer destination as a hash key.
const (
	fpL2    = -16 // 16 bytes: frame bytes 0..15
	fpLocal = -40 // 16 bytes: outer destination, IPv6 or v4-mapped
)

// Registers that live across helper calls.
const (
	rL2Len    = asm.R7 // 14, or 18 with a VLAN tag
	rOuterLen = asm.R8 // outer IP header length, plus the GUE/GRE header
	rInnerEth = asm.R9 // ethertype of the inner packet, as loaded from the frame
)

// MaxGUEPorts bounds the GUE ports one decap program listens on: each is one
// comparison in the program.
const MaxGUEPorts = 16

// decapInsns generates the decapsulation program. With checkLocal the outer
// destination must be a key of the local-address hash; without it every
// tunnel packet is decapsulated. Besides IPIP, IPv6-in-IPv4, IPv6-in-IPv6 and
// IPv4-in-IPv6 it strips GRE (version 0, no flags or only the checksum flag,
// protocol 0x0800 / 0x86DD) and, to the UDP ports in guePorts, GUE (variant
// 0, not a control message, no options or flags, protocol 4 / 41) together
// with the outer header. Neither the GRE nor the UDP checksum is verified:
// the inner packet keeps its own transport checksum, which the kernel checks
// on delivery, and verifying would mean summing the whole packet in the
// program. The UDP length is not checked either.
func decapInsns(checkLocal bool, guePorts []uint16) (asm.Instructions, error) {
	b := newBuilder()
	const rData, rEnd, rL3, rVal = asm.R2, asm.R3, asm.R4, asm.R5

	b.ethernet(l2Walk{data: rData, end: rEnd, bound: rL3, cursor: rL3, et: rVal, l2Len: rL2Len,
		short: "pass", other: "pass"})

	// Outer IPv4: any IHL, no fragments, proto 4 or 41.
	b.label("ipv4")
	b.ipv4Header(rL3, rEnd, rVal, rOuterLen, rVal, "pass")
	b.emit(
		asm.LoadMem(rVal, rL3, 6, asm.Half),
		asm.And.Imm(rVal, fragMask),
		asm.JNE.Imm(rVal, 0, "pass"),
		asm.LoadMem(rVal, rL3, 9, asm.Byte),
	)
	b.storeV4Mapped(fpLocal, rL3, 16, rEnd) // rEnd is reloaded after the lookup
	b.emit(asm.Ja.Label("inner_proto"))

	// Outer IPv6: fixed header directly followed by the inner packet.
	b.label("ipv6")
	b.ipVersion(rL3, rEnd, rVal, rVal, 6, "pass")
	b.emit(
		asm.Mov.Imm(rOuterLen, 40),
		asm.LoadMem(rVal, rL3, 6, asm.Byte),
	)
	b.copy16(fpLocal, rL3, 24, rEnd)

	// rVal holds the outer protocol / next header.
	b.label("inner_proto")
	b.emit(
		asm.Mov.Imm(rInnerEth, bpfasm.EtherIPv4),
		asm.JEq.Imm(rVal, 4, "is_tunnel"),
		asm.Mov.Imm(rInnerEth, bpfasm.EtherIPv6),
		asm.JEq.Imm(rVal, 41, "is_tunnel"),
		asm.JEq.Imm(rVal, 47, "gre"),
	)
	if len(guePorts) > 0 {
		b.emit(asm.JEq.Imm(rVal, 17, "gue"))
	}
	b.emit(asm.Ja.Label("pass"))

	// GRE: 4-byte base header, 4 more with the checksum flag. rEnd was
	// used as scratch for the address key: reload it. R1 points at the
	// tunnel header; rOuterLen grows by the tunnel header's length.
	const rTun = asm.R1
	tunnelHeader := func(n int32) {
		b.emit(
			asm.LoadMem(rEnd, rCtx, bpfasm.MDDataEnd, asm.Word),
			asm.Mov.Reg(rTun, rL3),
			asm.Add.Reg(rTun, rOuterLen),
		)
		b.need(rVal, rTun, rEnd, n, "pass")
	}
	b.label("gre")
	tunnelHeader(4)
	b.emit(
		asm.LoadMem(rVal, rTun, 2, asm.Half),
		asm.Mov.Imm(rInnerEth, bpfasm.EtherIPv4),
		asm.JEq.Imm(rVal, bpfasm.EtherIPv4, "gre_flags"),
		asm.Mov.Imm(rInnerEth, bpfasm.EtherIPv6),
		asm.JNE.Imm(rVal, bpfasm.EtherIPv6, "pass"),
	)
	b.label("gre_flags")
	b.emit(
		asm.LoadMem(rVal, rTun, 0, asm.Half),
		asm.Add.Imm(rOuterLen, 4),
		asm.JEq.Imm(rVal, 0, "is_tunnel"),
		asm.JNE.Imm(rVal, bpfasm.NetConst16(0x8000), "pass"),
		asm.Add.Imm(rOuterLen, 4), // checksum + reserved; the inner check covers them
		asm.Ja.Label("is_tunnel"),
	)

	// GUE: UDP to one of guePorts, then the 4-byte GUE header.
	if len(guePorts) > 0 {
		b.label("gue")
		tunnelHeader(12) // UDP and GUE headers
		b.emit(asm.LoadMem(rVal, rTun, 2, asm.Half))
		for _, port := range guePorts {
			b.emit(asm.JEq.Imm(rVal, bpfasm.NetConst16(port), "gue_hdr"))
		}
		b.emit(asm.Ja.Label("pass"))
		b.label("gue_hdr")
		b.emit(
			// Byte 0: version 0, C 0, hlen 0; bytes 2-3: no flags.
			asm.LoadMem(rVal, rTun, 8, asm.Byte),
			asm.JNE.Imm(rVal, 0, "pass"),
			asm.LoadMem(rVal, rTun, 10, asm.Half),
			asm.JNE.Imm(rVal, 0, "pass"),
			asm.LoadMem(rVal, rTun, 9, asm.Byte),
			asm.Add.Imm(rOuterLen, 12),
			asm.Mov.Imm(rInnerEth, bpfasm.EtherIPv4),
			asm.JEq.Imm(rVal, 4, "is_tunnel"),
			asm.Mov.Imm(rInnerEth, bpfasm.EtherIPv6),
			asm.JEq.Imm(rVal, 41, "is_tunnel"),
			asm.Ja.Label("pass"),
		)
	}
	b.label("is_tunnel")
	if checkLocal {
		b.mapLookup(decapLocalMap, fpLocal)
		b.emit(asm.JEq.Imm(asm.R0, 0, "pass"))
	}

	// Re-derive the packet pointers (the lookup clobbered them) and check
	// that a whole inner header of the right version follows.
	b.emit(
		asm.LoadMem(rData, rCtx, bpfasm.MDData, asm.Word),
		asm.LoadMem(rEnd, rCtx, bpfasm.MDDataEnd, asm.Word),
	)
	b.need(rVal, rData, rEnd, 18, "pass")
	b.emit(
		asm.Mov.Reg(rL3, rData),
		asm.Add.Reg(rL3, rL2Len),
		asm.Add.Reg(rL3, rOuterLen), // the inner header
		asm.JEq.Imm(rInnerEth, bpfasm.EtherIPv6, "inner6"),
	)
	b.ipVersion(rL3, rEnd, rVal, rVal, 4, "pass")
	b.emit(asm.Ja.Label("pop"))
	b.label("inner6")
	b.ipVersion(rL3, rEnd, rVal, rVal, 6, "pass")

	// Save the L2 header, drop the outer IP header from the front, and
	// write the L2 header back in front of the inner packet.
	b.label("pop")
	b.emit(
		asm.LoadMem(rVal, rData, 0, asm.DWord),
		asm.StoreMem(asm.RFP, fpL2, rVal, asm.DWord),
		asm.LoadMem(rVal, rData, 8, asm.DWord),
		asm.StoreMem(asm.RFP, fpL2+8, rVal, asm.DWord),
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Reg(asm.R2, rOuterLen),
		asm.FnXdpAdjustHead.Call(),
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(rData, rCtx, bpfasm.MDData, asm.Word),
		asm.LoadMem(rEnd, rCtx, bpfasm.MDDataEnd, asm.Word),
	)
	b.need(rVal, rData, rEnd, 18, "pass")
	b.emit(
		asm.LoadMem(rVal, asm.RFP, fpL2, asm.DWord),
		asm.StoreMem(rData, 0, rVal, asm.DWord),
		asm.LoadMem(rVal, asm.RFP, fpL2+8, asm.Word),
		asm.StoreMem(rData, 8, rVal, asm.Word),
		asm.JEq.Imm(rL2Len, 18, "pop_vlan"),
		asm.StoreMem(rData, 12, rInnerEth, asm.Half),
		asm.Ja.Label("pass"),
	)
	b.label("pop_vlan")
	b.emit(
		asm.LoadMem(rVal, asm.RFP, fpL2+12, asm.Word),
		asm.StoreMem(rData, 12, rVal, asm.Word),
		asm.StoreMem(rData, 16, rInnerEth, asm.Half),
	)
	b.label("pass")
	b.returnImm(bpfasm.XDPPass)
	return b.program()
}
