package xdpprog

import (
	"github.com/cilium/ebpf/asm"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// The header walk both programs start with: context, Ethernet with one
// optional VLAN tag, and the fixed IPv4 or IPv6 header. Each emitter takes
// the registers it uses, so every program keeps its own register plan and
// the instructions stay what each program wrote by hand before.

// need emits a bounds check: jump to fail unless n bytes from base lie
// before end. tmp holds base+n afterwards.
func (b *builder) need(tmp, base, end asm.Register, n int32, fail string) {
	b.emit(
		asm.Mov.Reg(tmp, base),
		asm.Add.Imm(tmp, n),
		asm.JGT.Reg(tmp, end, fail),
	)
}

// l2Walk says how ethernet walks the link header.
type l2Walk struct {
	data, end asm.Register // loaded from the context
	bound     asm.Register // the bounds check's register; ends at the L3 header
	cursor    asm.Register // set to the L3 header too when not bound
	et        asm.Register // the L3 EtherType, as loaded
	l2Len     asm.Register // set to the link header's length when not asm.R0
	short     string       // where a frame cut short jumps
	other     string       // where a frame neither IPv4 nor IPv6 jumps
}

// ethernet emits the program's entry (the context into rCtx, packet start
// and end) and the Ethernet header with one optional 802.1Q or 802.1ad
// tag; it jumps to "ipv4" or "ipv6" with w.et holding the EtherType.
func (b *builder) ethernet(w l2Walk) {
	b.emit(
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(w.data, rCtx, bpfasm.MDData, asm.Word),
		asm.LoadMem(w.end, rCtx, bpfasm.MDDataEnd, asm.Word),
	)
	header := func(n int16) {
		b.need(w.bound, w.data, w.end, int32(n), w.short)
		b.emit(asm.LoadMem(w.et, w.data, n-2, asm.Half))
		if w.cursor != w.bound {
			b.emit(asm.Mov.Reg(w.cursor, w.bound))
		}
		if w.l2Len != asm.R0 {
			b.emit(asm.Mov.Imm(w.l2Len, int32(n)))
		}
	}
	header(14)
	b.emit(
		asm.JEq.Imm(w.et, bpfasm.EtherVLAN, "vlan"),
		asm.JEq.Imm(w.et, bpfasm.EtherQinQ, "vlan"),
		asm.Ja.Label("l3"),
	)
	b.label("vlan")
	header(18)
	b.label("l3")
	b.emit(
		asm.JEq.Imm(w.et, bpfasm.EtherIPv4, "ipv4"),
		asm.JEq.Imm(w.et, bpfasm.EtherIPv6, "ipv6"),
		asm.Ja.Label(w.other),
	)
}

// ipv4Header emits the checks of an IPv4 header at l3: 20 bytes present,
// version 4, IHL at least 5; ihl ends holding the header length in bytes,
// bounded to [20, 60]. bound and ver are scratch (they may be ihl's
// register for bound, or each other).
func (b *builder) ipv4Header(l3, end, bound, ihl, ver asm.Register, fail string) {
	b.need(bound, l3, end, 20, fail)
	b.emit(
		asm.LoadMem(ihl, l3, 0, asm.Byte),
		asm.Mov.Reg(ver, ihl),
		asm.RSh.Imm(ver, 4),
		asm.JNE.Imm(ver, 4, fail),
		asm.And.Imm(ihl, 0x0f),
		asm.LSh.Imm(ihl, 2),
		asm.JLT.Imm(ihl, 20, fail),
	)
}

// ipVersion emits the checks of an IP header at l3: its fixed part (20
// bytes for version 4, 40 for 6) present and the version nibble right.
// bound and ver are scratch. An IPv4 header the program reads further
// wants ipv4Header, which checks the IHL too.
func (b *builder) ipVersion(l3, end, bound, ver asm.Register, version int32, fail string) {
	n := int32(20)
	if version == 6 {
		n = 40
	}
	b.need(bound, l3, end, n, fail)
	b.emit(
		asm.LoadMem(ver, l3, 0, asm.Byte),
		asm.RSh.Imm(ver, 4),
		asm.JNE.Imm(ver, version, fail),
	)
}
