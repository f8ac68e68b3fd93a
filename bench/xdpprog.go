package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// The bench's two XDP programs, generated with cilium/ebpf's asm package (no
// C, no clang): the counting sink on the real servers' link and the
// redirect-everything-IPv4 program of the bare AF_XDP bounce.

// Sink counter layout: slot s (the last byte of a real server's MAC, 0 for
// a MAC outside the prefix) counts plain IPv4 TCP/UDP at index s and IPIP at
// index encapBase+s.
const (
	sinkSlots   = 256
	encapBase   = sinkSlots
	sinkEntries = 2 * sinkSlots
)

// sinkInsns counts and drops IPv4 TCP/UDP/IPIP frames by destination MAC and
// passes everything else to the stack: ARP, ICMP, UDP to probePort (also
// inside IPIP), which the latency probe's echo servers answer, and TCP to
// the checked servers' ports (checkPortBase and up, checks.go), which the
// health checks' HTTP server answers.
func sinkInsns(macPrefix [5]byte, probePort uint16) asm.Instructions {
	const (
		rCtx, rData, rEnd, rPtr, rVal = asm.R6, asm.R2, asm.R3, asm.R4, asm.R5
		rKind, rSlot, rCmp            = asm.R7, asm.R8, asm.R9
	)
	probe := bpfasm.NetConst16(probePort)
	prefixWord := int64(binary.NativeEndian.Uint32(macPrefix[:4]))
	return asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rData, rCtx, bpfasm.MDData, asm.Word),
		asm.LoadMem(rEnd, rCtx, bpfasm.MDDataEnd, asm.Word),
		asm.Mov.Reg(rPtr, rData),
		asm.Add.Imm(rPtr, offDport+2),
		asm.JGT.Reg(rPtr, rEnd, "pass"),
		asm.LoadMem(rVal, rData, offEtherType, asm.Half),
		asm.JNE.Imm(rVal, bpfasm.EtherIPv4, "pass"),
		asm.LoadMem(rVal, rData, offIP, asm.Byte),
		asm.JNE.Imm(rVal, 0x45, "pass"),
		asm.Mov.Imm(rKind, 0),
		asm.LoadMem(rVal, rData, offProto, asm.Byte),
		asm.JEq.Imm(rVal, 17, "udp"),
		asm.JEq.Imm(rVal, 6, "tcp"),
		asm.JEq.Imm(rVal, 4, "ipip"),
		asm.Ja.Label("pass"),

		asm.LoadMem(rVal, rData, offDport, asm.Half).WithSymbol("udp"),
		asm.JEq.Imm(rVal, probe, "pass"),
		asm.Ja.Label("count"),

		// TCP: a destination port in the checked servers' range passes
		// (compared in host order, so swapped first).
		asm.LoadMem(rVal, rData, offDport, asm.Half).WithSymbol("tcp"),
		asm.HostTo(asm.BE, rVal, asm.Half),
		asm.JLT.Imm(rVal, checkPortBase, "count"),
		asm.JLT.Imm(rVal, checkPortBase+maxCheckedReals, "pass"),
		asm.Ja.Label("count"),

		// IPIP: the inner header starts at offL4; its UDP ports 20 bytes later.
		asm.Mov.Imm(rKind, encapBase).WithSymbol("ipip"),
		asm.Mov.Reg(rPtr, rData),
		asm.Add.Imm(rPtr, offL4+20+4),
		asm.JGT.Reg(rPtr, rEnd, "count"),
		asm.LoadMem(rVal, rData, offL4, asm.Byte),
		asm.JNE.Imm(rVal, 0x45, "count"),
		asm.LoadMem(rVal, rData, offL4+9, asm.Byte),
		asm.JNE.Imm(rVal, 17, "count"),
		asm.LoadMem(rVal, rData, offL4+20+2, asm.Half),
		asm.JEq.Imm(rVal, probe, "pass"),

		// Slot from the destination MAC: its last byte when the first five
		// match the prefix, else 0.
		asm.Mov.Imm(rSlot, 0).WithSymbol("count"),
		asm.LoadImm(rCmp, prefixWord, asm.DWord),
		asm.LoadMem(rVal, rData, 0, asm.Word),
		asm.JNE.Reg(rVal, rCmp, "key"),
		asm.LoadMem(rVal, rData, 4, asm.Byte),
		asm.JNE.Imm(rVal, int32(macPrefix[4]), "key"),
		asm.LoadMem(rSlot, rData, 5, asm.Byte),

		asm.Add.Reg(rSlot, rKind).WithSymbol("key"),
		asm.StoreMem(asm.R10, -4, rSlot, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("counters"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		// Per-CPU value: a plain increment is race-free.
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),

		asm.Mov.Imm(asm.R0, bpfasm.XDPDrop).WithSymbol("drop"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, bpfasm.XDPPass).WithSymbol("pass"),
		asm.Return(),
	}
}

// sinkSpec is the sink program with its PERCPU_ARRAY of counters.
func sinkSpec(macPrefix [5]byte, probePort uint16) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			"counters": {Name: "xb_sink_cnt", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: sinkEntries},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			"sink": {Name: "xb_sink", Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: sinkInsns(macPrefix, probePort)},
		},
	}
}

// redirectSpec redirects every IPv4 frame to the AF_XDP socket of its RX
// queue (XDP_PASS when the queue has none) and passes everything else, so
// ARP keeps working while the bounce runs.
func redirectSpec(queues int) *ebpf.CollectionSpec {
	const rData, rEnd, rPtr, rVal = asm.R2, asm.R3, asm.R4, asm.R5
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(rData, asm.R6, bpfasm.MDData, asm.Word),
		asm.LoadMem(rEnd, asm.R6, bpfasm.MDDataEnd, asm.Word),
		asm.Mov.Reg(rPtr, rData),
		asm.Add.Imm(rPtr, offIP),
		asm.JGT.Reg(rPtr, rEnd, "pass"),
		asm.LoadMem(rVal, rData, offEtherType, asm.Half),
		asm.JNE.Imm(rVal, bpfasm.EtherIPv4, "pass"),
		asm.LoadMapPtr(asm.R1, 0).WithReference("xsks"),
		asm.LoadMem(asm.R2, asm.R6, bpfasm.MDRxQueueIndex, asm.Word),
		asm.Mov.Imm(asm.R3, bpfasm.XDPPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, bpfasm.XDPPass).WithSymbol("pass"),
		asm.Return(),
	}
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			"xsks": {Name: "xb_bounce_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues)},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			"redirect": {Name: "xb_bounce", Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: insns},
		},
	}
}

// loadCollection loads spec, naming what failed.
func loadCollection(what string, spec *ebpf.CollectionSpec) (*ebpf.Collection, error) {
	c, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load %s program: %w", what, err)
	}
	return c, nil
}
