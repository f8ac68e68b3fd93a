package afpacket

import "golang.org/x/sys/unix"

// The IPv6 extension-header walk of the socket filter: the same walk as the
// XDP steering program's (internal/xdpprog), so both backends steer the same
// packets. At most maxExtHeaders headers are skipped: hop-by-hop (0),
// destination options (60), a routing header (43) without segments left, an
// atomic fragment (44 with offset 0 and M clear, RFC 6946). A fragment of
// TCP/UDP is matched by address only, like an IPv4 fragment; anything else
// stays with the kernel. Each skipped header must have its 8 bytes in the
// packet (a load past the end rejects the packet, as the XDP program's
// bounds check passes it).

// maxExtHeaders bounds the walk (the XDP program unrolls the same number).
const maxExtHeaders = 6

// Classic BPF opcodes of the walk, beside cbpf.go's.
const (
	opLdxImm = unix.BPF_LDX | unix.BPF_W | unix.BPF_IMM
	opLdxMem = unix.BPF_LDX | unix.BPF_MEM
	opTax    = unix.BPF_MISC | unix.BPF_TAX
	opTxa    = unix.BPF_MISC | unix.BPF_TXA
	opAddK   = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K
	opAddX   = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X
	opLshK   = unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K
)

// v6FragMask selects the offset and the M flag of a Fragment header's
// second 16-bit word.
const v6FragMask = 0xfff9

// genV6Walk stores the upper-layer protocol in M[fm.proto] and leaves X at
// its header's offset from the IPv6 header, then jumps to v6l4 (TCP/UDP),
// v6icmp (ICMPv6), fm.addrLbl (a fragment of TCP/UDP) or lblReject.
func genV6Walk(a *asm, fm fam) {
	a.emit(opLdAbsB, offV6Next)
	a.emit(opSt, fm.proto)
	a.emit(opLdxImm, 40)
	for i := 0; i <= maxExtHeaders; i++ {
		a.emit(opLdMem, fm.proto)
		a.jump(opJeqK, unix.IPPROTO_TCP, "v6l4", "")
		a.jump(opJeqK, unix.IPPROTO_UDP, "v6l4", "")
		if i == maxExtHeaders {
			a.jump(opJeqK, unix.IPPROTO_ICMPV6, "v6icmp", lblReject)
			break
		}
		opt, rt, next := a.newLabel(), a.newLabel(), a.newLabel()
		a.jump(opJeqK, unix.IPPROTO_ICMPV6, "v6icmp", "")
		a.jump(opJeqK, unix.IPPROTO_HOPOPTS, opt, "")
		a.jump(opJeqK, unix.IPPROTO_DSTOPTS, opt, "")
		a.jump(opJeqK, unix.IPPROTO_ROUTING, rt, "")
		a.jump(opJeqK, unix.IPPROTO_FRAGMENT, "", lblReject)
		// Fragment header.
		a.emit(opLdIndB, offL3+7) // the whole header is there
		a.emit(opLdIndB, offL3)
		a.emit(opSt, fm.proto)
		a.emit(opLdIndH, offL3+2)
		a.jump(opJsetK, v6FragMask, "v6frag", "")
		a.emit(opTxa, 0)
		a.emit(opAddK, 8)
		a.emit(opTax, 0)
		a.ja(next)
		// Routing header: only without segments left.
		a.label(rt)
		a.emit(opLdIndB, offL3+7)
		a.emit(opLdIndB, offL3+3)
		a.jump(opJeqK, 0, opt, lblReject)
		// Options (and a finished routing header): (len + 1) * 8 bytes.
		a.label(opt)
		a.emit(opLdIndB, offL3+7)
		a.emit(opLdIndB, offL3)
		a.emit(opSt, fm.proto)
		a.emit(opLdIndB, offL3+1)
		a.emit(opAddK, 1)
		a.emit(opLshK, 3)
		a.emit(opAddX, 0)
		a.emit(opTax, 0)
		a.label(next)
	}
	a.label("v6frag")
	a.emit(opLdMem, fm.proto)
	a.jump(opJeqK, unix.IPPROTO_TCP, fm.addrLbl, "")
	a.jump(opJeqK, unix.IPPROTO_UDP, fm.addrLbl, lblReject)
}
