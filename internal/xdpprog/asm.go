package xdpprog

import (
	"fmt"
	"strconv"

	"github.com/cilium/ebpf/asm"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// Masks in the form a native-endian load from the packet yields, so the
// program compares without byte swaps (the EtherTypes are bpfasm's).
var (
	fragMask   = bpfasm.NetConst16(0x3fff)                    // IPv4 flags+offset without DF
	v4MappedW2 = bpfasm.NetConst32([4]byte{0, 0, 0xff, 0xff}) // bytes 8..11 of ::ffff:a.b.c.d
)

// builder accumulates instructions and resolves labels. A label binds to the
// next emitted instruction; several labels may name the same instruction.
type builder struct {
	insns   asm.Instructions
	pending string            // label waiting for the next instruction
	alias   map[string]string // extra label -> label carried by the instruction
	seq     int
}

func newBuilder() *builder {
	return &builder{alias: make(map[string]string)}
}

// emit appends instructions, binding a pending label to the first one.
func (b *builder) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if b.pending != "" {
			in = in.WithSymbol(b.pending)
			b.pending = ""
		}
		b.insns = append(b.insns, in)
	}
}

// label names the next emitted instruction.
func (b *builder) label(name string) {
	if b.pending != "" {
		b.alias[name] = b.pending
		return
	}
	b.pending = name
}

// uniq returns a fresh label for code emitted more than once.
func (b *builder) uniq(prefix string) string {
	b.seq++
	return prefix + "_" + strconv.Itoa(b.seq)
}

// program returns the finished instructions with alias references rewritten.
func (b *builder) program() (asm.Instructions, error) {
	if b.pending != "" {
		return nil, fmt.Errorf("label %q at end of program", b.pending)
	}
	out := make(asm.Instructions, len(b.insns))
	for i, in := range b.insns {
		if ref := in.Reference(); ref != "" && !in.IsLoadFromMap() {
			if to, ok := b.alias[ref]; ok {
				in = in.WithReference(to)
			}
		}
		out[i] = in
	}
	return out, nil
}

// returnImm emits "r0 = v; exit".
func (b *builder) returnImm(v int32) {
	b.emit(asm.Mov.Imm(asm.R0, v), asm.Return())
}

// mapLookup emits a bpf_map_lookup_elem call on the map named mapName with
// the key at fp+keyOff. R0 holds the result; R1-R5 are clobbered.
func (b *builder) mapLookup(mapName string, keyOff int16) {
	b.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
	)
}

// regLookup is mapLookup for a map whose pointer sits in register m (an inner
// map fetched from a map-in-map).
func (b *builder) regLookup(m asm.Register, keyOff int16) {
	b.emit(
		asm.Mov.Reg(asm.R1, m),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
	)
}

// storeV4Mapped writes ::ffff:<4 bytes at src+off> to the 16 bytes at fp+dst
// (dst 8-byte aligned). It uses scratch as a temporary register.
func (b *builder) storeV4Mapped(dst int16, src asm.Register, off int16, scratch asm.Register) {
	b.emit(
		asm.StoreImm(asm.RFP, dst, 0, asm.Word), // asm has no 64-bit immediate store
		asm.StoreImm(asm.RFP, dst+4, 0, asm.Word),
		asm.StoreImm(asm.RFP, dst+8, int64(v4MappedW2), asm.Word),
		asm.LoadMem(scratch, src, off, asm.Word),
		asm.StoreMem(asm.RFP, dst+12, scratch, asm.Word),
	)
}

// copy16 copies the 16 bytes at src+off to fp+dst (dst 8-byte aligned).
func (b *builder) copy16(dst int16, src asm.Register, off int16, scratch asm.Register) {
	b.emit(
		asm.LoadMem(scratch, src, off, asm.DWord),
		asm.StoreMem(asm.RFP, dst, scratch, asm.DWord),
		asm.LoadMem(scratch, src, off+8, asm.DWord),
		asm.StoreMem(asm.RFP, dst+8, scratch, asm.DWord),
	)
}
