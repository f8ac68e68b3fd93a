package xdpprog

import (
	"github.com/cilium/ebpf/asm"
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
	rOuterLen = asm.R8 // outer IP header length
	rInnerEth = asm.R9 // ethertype of the inner packet, as loaded from the frame
)

// decapInsns generates the decapsulation program. With checkLocal the outer
// destination must be a key of the local-address hash; without it every
// tunnel packet is decapsulated.
func decapInsns(checkLocal bool) (asm.Instructions, error) {
	b := newBuilder()
	const rData, rEnd, rL3, rVal = asm.R2, asm.R3, asm.R4, asm.R5

	b.emit(
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rData, rCtx, mdData, asm.Word),
		asm.LoadMem(rEnd, rCtx, mdDataEnd, asm.Word),
		asm.Mov.Reg(rL3, rData),
		asm.Add.Imm(rL3, 14),
		asm.JGT.Reg(rL3, rEnd, "pass"),
		asm.LoadMem(rVal, rData, 12, asm.Half),
		asm.Mov.Imm(rL2Len, 14),
		asm.JEq.Imm(rVal, etherVLAN, "vlan"),
		asm.JEq.Imm(rVal, etherQinQ, "vlan"),
		asm.Ja.Label("l3"),
	)
	b.label("vlan")
	b.emit(
		asm.Mov.Reg(rL3, rData),
		asm.Add.Imm(rL3, 18),
		asm.JGT.Reg(rL3, rEnd, "pass"),
		asm.LoadMem(rVal, rData, 16, asm.Half),
		asm.Mov.Imm(rL2Len, 18),
	)
	b.label("l3")
	b.emit(
		asm.JEq.Imm(rVal, etherIPv4, "ipv4"),
		asm.JEq.Imm(rVal, etherIPv6, "ipv6"),
		asm.Ja.Label("pass"),
	)

	// Outer IPv4: any IHL, no fragments, proto 4 or 41.
	b.label("ipv4")
	b.emit(
		asm.Mov.Reg(rVal, rL3),
		asm.Add.Imm(rVal, 20),
		asm.JGT.Reg(rVal, rEnd, "pass"),
		asm.LoadMem(rOuterLen, rL3, 0, asm.Byte),
		asm.Mov.Reg(rVal, rOuterLen),
		asm.RSh.Imm(rVal, 4),
		asm.JNE.Imm(rVal, 4, "pass"),
		asm.And.Imm(rOuterLen, 0x0f),
		asm.LSh.Imm(rOuterLen, 2),
		asm.JLT.Imm(rOuterLen, 20, "pass"),
		asm.LoadMem(rVal, rL3, 6, asm.Half),
		asm.And.Imm(rVal, fragMask),
		asm.JNE.Imm(rVal, 0, "pass"),
		asm.LoadMem(rVal, rL3, 9, asm.Byte),
	)
	b.storeV4Mapped(fpLocal, rL3, 16, rEnd) // rEnd is reloaded after the lookup
	b.emit(asm.Ja.Label("inner_proto"))

	// Outer IPv6: fixed header directly followed by the inner packet.
	b.label("ipv6")
	b.emit(
		asm.Mov.Reg(rVal, rL3),
		asm.Add.Imm(rVal, 40),
		asm.JGT.Reg(rVal, rEnd, "pass"),
		asm.LoadMem(rVal, rL3, 0, asm.Byte),
		asm.RSh.Imm(rVal, 4),
		asm.JNE.Imm(rVal, 6, "pass"),
		asm.Mov.Imm(rOuterLen, 40),
		asm.LoadMem(rVal, rL3, 6, asm.Byte),
	)
	b.copy16(fpLocal, rL3, 24, rEnd)

	// rVal holds the outer protocol / next header.
	b.label("inner_proto")
	b.emit(
		asm.Mov.Imm(rInnerEth, etherIPv4),
		asm.JEq.Imm(rVal, 4, "is_tunnel"),
		asm.Mov.Imm(rInnerEth, etherIPv6),
		asm.JEq.Imm(rVal, 41, "is_tunnel"),
		asm.Ja.Label("pass"),
	)
	b.label("is_tunnel")
	if checkLocal {
		b.mapLookup(decapLocalMap, fpLocal)
		b.emit(asm.JEq.Imm(asm.R0, 0, "pass"))
	}

	// Re-derive the packet pointers (the lookup clobbered them) and check
	// that a whole inner header of the right version follows.
	b.emit(
		asm.LoadMem(rData, rCtx, mdData, asm.Word),
		asm.LoadMem(rEnd, rCtx, mdDataEnd, asm.Word),
		asm.Mov.Reg(rVal, rData),
		asm.Add.Imm(rVal, 18),
		asm.JGT.Reg(rVal, rEnd, "pass"),
		asm.Mov.Reg(rL3, rData),
		asm.Add.Reg(rL3, rL2Len),
		asm.Add.Reg(rL3, rOuterLen), // the inner header
		asm.JEq.Imm(rInnerEth, etherIPv6, "inner6"),
		asm.Mov.Reg(rVal, rL3),
		asm.Add.Imm(rVal, 20),
		asm.JGT.Reg(rVal, rEnd, "pass"),
		asm.LoadMem(rVal, rL3, 0, asm.Byte),
		asm.RSh.Imm(rVal, 4),
		asm.JNE.Imm(rVal, 4, "pass"),
		asm.Ja.Label("pop"),
	)
	b.label("inner6")
	b.emit(
		asm.Mov.Reg(rVal, rL3),
		asm.Add.Imm(rVal, 40),
		asm.JGT.Reg(rVal, rEnd, "pass"),
		asm.LoadMem(rVal, rL3, 0, asm.Byte),
		asm.RSh.Imm(rVal, 4),
		asm.JNE.Imm(rVal, 6, "pass"),
	)

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
		asm.LoadMem(rData, rCtx, mdData, asm.Word),
		asm.LoadMem(rEnd, rCtx, mdDataEnd, asm.Word),
		asm.Mov.Reg(rVal, rData),
		asm.Add.Imm(rVal, 18),
		asm.JGT.Reg(rVal, rEnd, "pass"),
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
	b.returnImm(xdpPass)
	return b.program()
}
