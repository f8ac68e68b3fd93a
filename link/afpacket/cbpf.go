package afpacket

import (
	"fmt"
	"math/bits"
	"strconv"

	"golang.org/x/sys/unix"
)

// Classic BPF opcodes the filter uses.
const (
	opLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opLdAbsH = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
	opLdAbsB = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
	opLdIndH = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
	opLdIndB = unix.BPF_LD | unix.BPF_B | unix.BPF_IND
	opLdxMsh = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH
	opLdMem  = unix.BPF_LD | unix.BPF_MEM
	opSt     = unix.BPF_ST
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJa     = unix.BPF_JMP | unix.BPF_JA
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	opRetK   = unix.BPF_RET | unix.BPF_K
)

// insn is one instruction before assembly. Conditional jumps name their
// targets by label; "" is the next instruction.
type insn struct {
	op     uint16
	k      uint32
	jt, jf string
	target string // opJa only
}

func (in insn) conditional() bool {
	return in.op&0x07 == unix.BPF_JMP && in.op != opJa
}

// asm collects a classic BPF program with symbolic, forward-only jumps and
// assembles it. cBPF conditional jumps reach at most 255 instructions
// ahead; a farther target gets a trampoline (an unconditional jump, which
// has a 32-bit offset) right after the conditional one.
type asm struct {
	insns  []insn
	labels map[string]int // label → index of the instruction that follows it
	uniq   int
}

func newAsm() *asm { return &asm{labels: make(map[string]int)} }

func (a *asm) emit(op uint16, k uint32) { a.insns = append(a.insns, insn{op: op, k: k}) }

func (a *asm) jump(op uint16, k uint32, jt, jf string) {
	a.insns = append(a.insns, insn{op: op, k: k, jt: jt, jf: jf})
}

func (a *asm) ja(target string) { a.insns = append(a.insns, insn{op: opJa, target: target}) }

func (a *asm) label(name string) { a.labels[name] = len(a.insns) }

// newLabel returns a label name not used before.
func (a *asm) newLabel() string {
	a.uniq++
	return "L" + strconv.Itoa(a.uniq)
}

// assemble resolves the labels. Trampolines only ever get added, so the
// layout loop terminates.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	const long1, long2 = 1, 2 // trampoline for jt, for jf
	tramp := make([]uint8, len(a.insns))
	addr := make([]int, len(a.insns)+1)
	target := func(i int, l string) (int, error) {
		if l == "" {
			return addr[i+1], nil
		}
		at, ok := a.labels[l]
		if !ok {
			return 0, fmt.Errorf("cbpf: undefined label %q", l)
		}
		if at <= i {
			return 0, fmt.Errorf("cbpf: backward jump to %q", l)
		}
		return addr[at], nil
	}
	for changed := true; changed; {
		changed = false
		pc := 0
		for i := range a.insns {
			addr[i] = pc
			pc += 1 + bits.OnesCount8(tramp[i])
		}
		addr[len(a.insns)] = pc
		for i, in := range a.insns {
			if !in.conditional() {
				continue
			}
			for _, b := range []struct {
				label string
				flag  uint8
			}{{in.jt, long1}, {in.jf, long2}} {
				t, err := target(i, b.label)
				if err != nil {
					return nil, err
				}
				if tramp[i]&b.flag == 0 && t-(addr[i]+1) > 255 {
					tramp[i] |= b.flag
					changed = true
				}
			}
		}
	}
	n := addr[len(a.insns)]
	if n > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("%d instructions: %w", n, ErrTooManyRules)
	}
	out := make([]unix.SockFilter, 0, n)
	for i, in := range a.insns {
		pc := addr[i]
		switch {
		case in.op == opJa:
			t, err := target(i, in.target)
			if err != nil {
				return nil, err
			}
			out = append(out, unix.SockFilter{Code: opJa, K: uint32(t - (pc + 1))})
		case in.conditional():
			tt, _ := target(i, in.jt)
			tf, _ := target(i, in.jf)
			f := unix.SockFilter{Code: in.op, K: in.k}
			var tr []unix.SockFilter
			next := pc + 1
			if tramp[i]&long1 != 0 {
				f.Jt = uint8(next + len(tr) - (pc + 1))
				tr = append(tr, unix.SockFilter{Code: opJa, K: uint32(tt - (next + len(tr) + 1))})
			} else {
				f.Jt = uint8(tt - (pc + 1))
			}
			if tramp[i]&long2 != 0 {
				f.Jf = uint8(next + len(tr) - (pc + 1))
				tr = append(tr, unix.SockFilter{Code: opJa, K: uint32(tf - (next + len(tr) + 1))})
			} else {
				f.Jf = uint8(tf - (pc + 1))
			}
			out = append(out, f)
			out = append(out, tr...)
		default:
			out = append(out, unix.SockFilter{Code: in.op, K: in.k})
		}
	}
	return out, nil
}
