package xdpprog

import (
	"github.com/cilium/ebpf/asm"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// Names of the steering program and its maps (kernel object names are at
// most 15 characters).
const (
	steerProgName  = "xvs_steer"
	steerXSKMap    = "xvs_xsks"
	steerRulesMap  = "xvs_rules"
	steerInnerMap  = "xvs_rules_in"
	steerStatsMap  = "xvs_steer_stats"
	programLicense = "Dual MIT/GPL"
)

// Counter slots of the steering program's PERCPU_ARRAY. Every packet bumps
// exactly one verdict slot; a steered packet whose queue has no socket also
// bumps ctrNoSocket (the redirect fell back to XDP_PASS, or to XDP_DROP in a
// holding program).
const (
	ctrPassShort     = iota // truncated or malformed headers
	ctrPassOther            // not IPv4/IPv6, not TCP/UDP/ICMP error, extension headers
	ctrPassNoMatch          // no rule matched
	ctrPassLocal            // reply or ICMP error addressed to a director address
	ctrSteerService         // TCP/UDP to a service
	ctrSteerReply           // TCP/UDP from a real server (NAT)
	ctrSteerICMP            // ICMP error about service or real-server traffic
	ctrSteerFragment        // IPv4 fragment matched by address
	ctrNoSocket             // redirect found no socket on the queue: passed, or dropped when holding
	ctrVLANTag              // steered with its offloaded VLAN tag put back in the frame
	ctrVLANNoPush           // steered, offloaded tag not put back (no headroom): passed
	numCounters
)

// counterQueues is how many receive queues get their own row of counters;
// packets of higher queues are counted in one shared row after them.
const counterQueues = 64

// counterNames are the keys Steering.Counters returns.
var counterNames = [numCounters]string{
	ctrPassShort:     "pass_short",
	ctrPassOther:     "pass_other",
	ctrPassNoMatch:   "pass_nomatch",
	ctrPassLocal:     "pass_local",
	ctrSteerService:  "steer_service",
	ctrSteerReply:    "steer_reply",
	ctrSteerICMP:     "steer_icmp",
	ctrSteerFragment: "steer_fragment",
	ctrNoSocket:      "steer_nosocket",
	ctrVLANTag:       "steer_vlan_tag",
	ctrVLANNoPush:    "steer_vlan_nopush",
}

// Stack frame of the steering program: two trie keys (destination and
// source side, see rules.go for the layout; each address 8-byte aligned), a
// scratch word for array indexes, and the frame's offloaded VLAN tag
// (protocol as on the wire, then the TCI in host order; protocol 0: none).
const (
	fpDstKey    = -28
	fpSrcKey    = -60
	fpScratch   = -64
	fpVLANProto = -68
	fpVLANTCI   = -66
)

// tagSource is where the steering program learns a frame's VLAN tag when the
// driver took it out of the frame (rx-vlan-offload, and every veth whose
// peer sent with tx-vlan-offload): the tag is then descriptor or skb
// metadata, and a frame redirected to AF_XDP would arrive untagged, its VLAN
// unknowable to the worker.
type tagSource struct {
	// kfunc is the vmlinux BTF ID of bpf_xdp_metadata_rx_vlan_tag; 0: the
	// program does not read offloaded tags (today's program, for generic
	// mode and kernels or devices without the kfunc).
	kfunc int32
	// meta makes the program read the tag from the first four bytes of the
	// XDP metadata area instead (protocol, TCI) — for BPF_PROG_TEST_RUN,
	// which cannot run device-bound programs.
	meta bool
}

func (t tagSource) reads() bool { return t.kfunc != 0 || t.meta }

// Registers that live across helper calls.
const (
	rCtx   = asm.R6 // struct xdp_md
	rPkt   = asm.R7 // parse cursor (packet pointer) until the lookups start
	rProto = asm.R8 // IP protocol / next header
	rTrie  = asm.R9 // inner rule trie
)

// steeringInsns generates the steering program; tags says whether and how
// it reads offloaded VLAN tags, hold whether service traffic whose queue has
// no socket is dropped (see SteerOptions.Hold) instead of passed.
func steeringInsns(tags tagSource, hold bool) (asm.Instructions, error) {
	b := newBuilder()
	const rData, rEnd, rTmp, rVal = asm.R2, asm.R3, asm.R4, asm.R5

	// --- Ethernet and one optional VLAN tag ---
	b.ethernet(l2Walk{data: rData, end: rEnd, bound: rTmp, cursor: rPkt, et: rVal, l2Len: asm.R0,
		short: "pass_short", other: "pass_other"})

	// --- IPv4: version, IHL, addresses, fragments ---
	b.label("ipv4")
	b.ipv4Header(rPkt, rEnd, rTmp, rTmp, rVal, "pass_short")
	b.emit(asm.LoadMem(rProto, rPkt, 9, asm.Byte))
	b.initKeys(4)
	b.storeV4(fpDstKey+keyOffAddr, rPkt, 16, rVal)
	b.storeV4(fpSrcKey+keyOffAddr, rPkt, 12, rVal)
	b.emit(
		asm.LoadMem(rVal, rPkt, 6, asm.Half),
		asm.And.Imm(rVal, fragMask),
		asm.JNE.Imm(rVal, 0, "frag"),
		// The L4 header starts IHL*4 bytes in; rTmp is bounded to [20, 60].
		asm.Add.Reg(rPkt, rTmp),
		asm.JEq.Imm(rProto, 6, "ports"),
		asm.JEq.Imm(rProto, 17, "ports"),
		asm.JNE.Imm(rProto, 1, "pass_other"),
	)
	// ICMP: steer only errors (destination unreachable, time exceeded,
	// parameter problem), which quote a packet of a flow.
	b.need(rTmp, rPkt, rEnd, 1, "pass_short")
	b.emit(
		asm.LoadMem(rVal, rPkt, 0, asm.Byte),
		asm.JEq.Imm(rVal, 3, "match_addr"),
		asm.JEq.Imm(rVal, 11, "match_addr"),
		asm.JEq.Imm(rVal, 12, "match_addr"),
		asm.Ja.Label("pass_other"),
	)
	// A fragment of either family (IPv6 jumps here from its walk): TCP and
	// UDP fragments are steered by address, as the ports are not in every one.
	b.label("frag")
	b.emit(
		asm.JEq.Imm(rProto, 6, "match_addr"),
		asm.JEq.Imm(rProto, 17, "match_addr"),
		asm.Ja.Label("pass_other"),
	)

	// --- IPv6: fixed header, then up to maxExtHeaders extension headers ---
	b.label("ipv6")
	b.ipVersion(rPkt, rEnd, rTmp, rVal, 6, "pass_short")
	b.emit(asm.LoadMem(rProto, rPkt, 6, asm.Byte))
	b.initKeys(6)
	b.copy16(fpDstKey+keyOffAddr, rPkt, 24, rVal)
	b.copy16(fpSrcKey+keyOffAddr, rPkt, 8, rVal)
	b.emit(asm.Add.Imm(rPkt, 40))
	b.ipv6Walk(rEnd, rTmp, rVal)
	b.label("icmp6")
	// ICMPv6 errors are types 1 to 4.
	b.need(rTmp, rPkt, rEnd, 1, "pass_short")
	b.emit(
		asm.LoadMem(rVal, rPkt, 0, asm.Byte),
		asm.Add.Imm(rVal, -1),
		asm.JLE.Imm(rVal, 3, "match_addr"),
		asm.Ja.Label("pass_other"),
	)

	// --- TCP/UDP ports into both keys ---
	b.label("ports")
	b.need(rTmp, rPkt, rEnd, 4, "pass_short")
	b.emit(
		asm.LoadMem(rVal, rPkt, 0, asm.Half),
		asm.StoreMem(asm.RFP, fpSrcKey+keyOffPort, rVal, asm.Half),
		asm.LoadMem(rVal, rPkt, 2, asm.Half),
		asm.StoreMem(asm.RFP, fpDstKey+keyOffPort, rVal, asm.Half),
		asm.StoreImm(asm.RFP, fpDstKey, keyFullPrefix, asm.Word),
		asm.StoreImm(asm.RFP, fpSrcKey, keyFullPrefix, asm.Word),
		asm.StoreMem(asm.RFP, fpDstKey+keyOffProto, rProto, asm.Byte),
		asm.StoreMem(asm.RFP, fpSrcKey+keyOffProto, rProto, asm.Byte),
	)
	b.loadTrie("pass_nomatch")
	// Service: exact port first, then the any-port entry; then a
	// real-server reply the same way by source.
	b.portThenAny(fpDstKey, kindDstPort, kindDstAny, "steer_service")
	b.portThenAny(fpSrcKey, kindSrcPort, kindSrcAny, "reply_l4")
	b.emit(asm.Ja.Label("pass_nomatch"))
	b.label("reply_l4")
	b.notLocal("steer_reply")

	// --- ICMP errors and fragments: addresses only ---
	b.label("match_addr")
	b.emit(
		asm.StoreImm(asm.RFP, fpDstKey, keyFullPrefix, asm.Word),
		asm.StoreImm(asm.RFP, fpDstKey+keyOffKind, kindDstAddr, asm.Byte),
		asm.StoreImm(asm.RFP, fpDstKey+keyOffProto, 0, asm.Byte),
		asm.StoreImm(asm.RFP, fpDstKey+keyOffPort, 0, asm.Half),
		asm.StoreImm(asm.RFP, fpSrcKey, keyFullPrefix, asm.Word),
		asm.StoreImm(asm.RFP, fpSrcKey+keyOffKind, kindSrcAddr, asm.Byte),
		asm.StoreImm(asm.RFP, fpSrcKey+keyOffProto, 0, asm.Byte),
		asm.StoreImm(asm.RFP, fpSrcKey+keyOffPort, 0, asm.Half),
	)
	b.loadTrie("pass_nomatch")
	b.regLookup(rTrie, fpDstKey)
	b.emit(asm.JNE.Imm(asm.R0, 0, "steer_addr"))
	b.regLookup(rTrie, fpSrcKey)
	b.emit(asm.JEq.Imm(asm.R0, 0, "pass_nomatch"))
	b.notLocal("steer_addr")
	// rProto still tells a fragment (TCP/UDP) from an ICMP error.
	b.label("steer_addr")
	b.emit(
		asm.JEq.Imm(rProto, 6, "steer_fragment"),
		asm.JEq.Imm(rProto, 17, "steer_fragment"),
		asm.Ja.Label("steer_icmp"),
	)

	// --- verdicts ---
	for _, v := range []struct {
		label string
		ctr   int
	}{
		{"steer_service", ctrSteerService},
		{"steer_reply", ctrSteerReply},
		{"steer_icmp", ctrSteerICMP},
		{"steer_fragment", ctrSteerFragment},
	} {
		b.label(v.label)
		b.count(v.ctr)
		b.emit(asm.Ja.Label("redirect"))
	}
	b.label("redirect")
	if tags.reads() {
		b.readTag(tags)
		b.pushTag()
	}
	b.label("redirect_frame")
	b.redirect("no_socket")
	b.label("no_socket")
	b.count(ctrNoSocket)
	if hold {
		b.returnImm(bpfasm.XDPDrop)
	} else {
		b.returnImm(bpfasm.XDPPass)
	}

	for _, v := range []struct {
		label string
		ctr   int
	}{
		{"pass_short", ctrPassShort},
		{"pass_other", ctrPassOther},
		{"pass_nomatch", ctrPassNoMatch},
		{"pass_local", ctrPassLocal},
	} {
		b.label(v.label)
		b.count(v.ctr)
		b.returnImm(bpfasm.XDPPass)
	}
	return b.program()
}

// maxExtHeaders bounds the IPv6 extension headers the steering program
// walks (the verifier wants bounded loops, so the walk is unrolled). Six
// covers RFC 8200's recommended order (hop-by-hop, destination options,
// routing, fragment, destination options) with one to spare; a packet with
// more goes to the kernel (pass_other).
const maxExtHeaders = 6

// ipv6Walk skips IPv6 extension headers from rPkt with next header rProto,
// as encap's parser does: hop-by-hop (0), destination options (60), a
// routing header (43) without segments left, and an atomic fragment (44
// with offset 0 and M clear, RFC 6946). It jumps to ports (TCP/UDP) or
// icmp6 with rPkt at the upper-layer header; a real fragment goes to
// match_addr (by addresses, like an IPv4 fragment) when its Next Header is
// TCP or UDP; anything else to pass_other, and a header cut short to
// pass_short. Each header is checked to lie within the packet before it is
// read; its length, (Hdr Ext Len + 1) * 8, is at most 2048 bytes, so the
// verifier sees a bounded packet offset.
func (b *builder) ipv6Walk(rEnd, rTmp, rVal asm.Register) {
	need8 := func() {
		b.need(rTmp, rPkt, rEnd, 8, "pass_short")
	}
	for i := 0; i < maxExtHeaders; i++ {
		opt, rt, next := b.uniq("v6opt"), b.uniq("v6rt"), b.uniq("v6ext")
		b.emit(
			asm.JEq.Imm(rProto, 6, "ports"),
			asm.JEq.Imm(rProto, 17, "ports"),
			asm.JEq.Imm(rProto, 58, "icmp6"),
			asm.JEq.Imm(rProto, 0, opt),
			asm.JEq.Imm(rProto, 60, opt),
			asm.JEq.Imm(rProto, 43, rt),
			asm.JNE.Imm(rProto, 44, "pass_other"),
		)
		// Fragment header: 8 bytes; offset (13 bits) << 3 | res | M.
		need8()
		b.emit(
			asm.LoadMem(rProto, rPkt, 0, asm.Byte),
			asm.LoadMem(rVal, rPkt, 2, asm.Half),
			asm.And.Imm(rVal, bpfasm.NetConst16(0xfff9)),
			asm.JNE.Imm(rVal, 0, "frag"),
			asm.Add.Imm(rPkt, 8),
			asm.Ja.Label(next),
		)
		// Routing header: only without segments left is the
		// destination final.
		b.label(rt)
		need8()
		b.emit(
			asm.LoadMem(rVal, rPkt, 3, asm.Byte),
			asm.JNE.Imm(rVal, 0, "pass_other"),
		)
		b.label(opt)
		need8()
		b.emit(
			asm.LoadMem(rVal, rPkt, 1, asm.Byte),
			asm.LoadMem(rProto, rPkt, 0, asm.Byte),
			asm.Add.Imm(rVal, 1),
			asm.LSh.Imm(rVal, 3),
			asm.Add.Reg(rPkt, rVal),
		)
		b.label(next)
	}
	b.emit(
		asm.JEq.Imm(rProto, 6, "ports"),
		asm.JEq.Imm(rProto, 17, "ports"),
		asm.JEq.Imm(rProto, 58, "icmp6"),
		asm.Ja.Label("pass_other"),
	)
}

// portThenAny looks the trie key at fp+key up with its port (kind exact),
// then as the any-port entry (kind anyPort, port 0), jumping to hit on a
// match and falling through when neither is in the trie.
func (b *builder) portThenAny(key int16, exact, anyPort int64, hit string) {
	b.emit(asm.StoreImm(asm.RFP, key+keyOffKind, exact, asm.Byte))
	b.regLookup(rTrie, key)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, hit),
		asm.StoreImm(asm.RFP, key+keyOffKind, anyPort, asm.Byte),
		asm.StoreImm(asm.RFP, key+keyOffPort, 0, asm.Half),
	)
	b.regLookup(rTrie, key)
	b.emit(asm.JNE.Imm(asm.R0, 0, hit))
}

// redirect emits the redirect to the AF_XDP socket of the frame's queue,
// returning XDP_REDIRECT, or a jump to noSocket when the queue has none
// (the map's fallback action, XDP_PASS, came back).
func (b *builder) redirect(noSocket string) {
	b.emit(
		asm.LoadMapPtr(asm.R1, 0).WithReference(steerXSKMap),
		asm.LoadMem(asm.R2, rCtx, bpfasm.MDRxQueueIndex, asm.Word),
		asm.Mov.Imm(asm.R3, bpfasm.XDPPass),
		asm.FnRedirectMap.Call(),
		asm.JNE.Imm(asm.R0, bpfasm.XDPRedirect, noSocket),
		asm.Return(),
	)
}

// initKeys sets the family of both keys and zeroes their kind, proto, port
// and padding bytes.
func (b *builder) initKeys(family byte) {
	w := int64(bpfasm.NetConst32([4]byte{family, 0, 0, 0}))
	b.emit(
		asm.StoreImm(asm.RFP, fpDstKey+keyOffFamily, w, asm.Word),
		asm.StoreImm(asm.RFP, fpDstKey+keyOffPort, 0, asm.Word),
		asm.StoreImm(asm.RFP, fpSrcKey+keyOffFamily, w, asm.Word),
		asm.StoreImm(asm.RFP, fpSrcKey+keyOffPort, 0, asm.Word),
	)
}

// storeV4 writes the IPv4 address at src+off to the 16 bytes at fp+dst,
// zero-padded.
func (b *builder) storeV4(dst int16, src asm.Register, off int16, scratch asm.Register) {
	b.emit(
		asm.LoadMem(scratch, src, off, asm.Word),
		asm.StoreMem(asm.RFP, dst, scratch, asm.Word),
		asm.StoreImm(asm.RFP, dst+4, 0, asm.Word),
		asm.StoreImm(asm.RFP, dst+8, 0, asm.Word),
		asm.StoreImm(asm.RFP, dst+12, 0, asm.Word),
	)
}

// loadTrie fetches the current rule trie into rTrie, or jumps to empty when
// the slot holds none.
func (b *builder) loadTrie(empty string) {
	b.emit(asm.StoreImm(asm.RFP, fpScratch, 0, asm.Word))
	b.mapLookup(steerRulesMap, fpScratch)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, empty),
		asm.Mov.Reg(rTrie, asm.R0),
	)
}

// notLocal jumps to pass_local when the destination address in the
// destination key is a director address and continues at steer otherwise.
// It rewrites the destination key.
func (b *builder) notLocal(steer string) {
	b.emit(
		asm.StoreImm(asm.RFP, fpDstKey+keyOffKind, kindLocal, asm.Byte),
		asm.StoreImm(asm.RFP, fpDstKey+keyOffProto, 0, asm.Byte),
		asm.StoreImm(asm.RFP, fpDstKey+keyOffPort, 0, asm.Half),
	)
	b.regLookup(rTrie, fpDstKey)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, "pass_local"),
		asm.Ja.Label(steer),
	)
}

// count adds one to counter idx of the packet's receive queue on this CPU:
// slot queue*numCounters+idx, with queues from counterQueues on sharing the
// last row, so a verdict is never left uncounted. R0-R5 are clobbered.
func (b *builder) count(idx int) {
	done := b.uniq("counted")
	row := b.uniq("counter_row")
	b.emit(
		asm.LoadMem(asm.R1, rCtx, bpfasm.MDRxQueueIndex, asm.Word),
		asm.JLT.Imm(asm.R1, counterQueues, row),
		asm.Mov.Imm(asm.R1, counterQueues),
	)
	b.label(row)
	b.emit(
		asm.Mul.Imm(asm.R1, numCounters),
		asm.Add.Imm(asm.R1, int32(idx)),
		asm.StoreMem(asm.RFP, fpScratch, asm.R1, asm.Word),
	)
	b.mapLookup(steerStatsMap, fpScratch)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	)
	b.label(done)
}

// readTag stores the frame's offloaded VLAN tag at fpVLANProto/fpVLANTCI, or
// protocol 0 when it has none. It runs only at the redirect: rules match
// the same whatever the tag, so a frame that passes to the kernel costs
// exactly what it costs in the plain program. A frame whose tag is still in
// its data has none offloaded; one that has both is double-tagged (QinQ),
// the offloaded tag being the outer one. R1-R5 are clobbered.
func (b *builder) readTag(tags tagSource) {
	if !tags.reads() {
		return
	}
	done := b.uniq("tag_read")
	b.emit(asm.StoreImm(asm.RFP, fpVLANProto, 0, asm.Word))
	if tags.meta {
		b.emit(
			asm.LoadMem(asm.R2, rCtx, bpfasm.MDDataMeta, asm.Word),
			asm.LoadMem(asm.R3, rCtx, bpfasm.MDData, asm.Word),
		)
		b.need(asm.R4, asm.R2, asm.R3, 4, done)
		b.emit(
			asm.LoadMem(asm.R4, asm.R2, 0, asm.Word),
			asm.StoreMem(asm.RFP, fpVLANProto, asm.R4, asm.Word),
		)
		b.label(done)
		return
	}
	// int bpf_xdp_metadata_rx_vlan_tag(struct xdp_md *ctx, __be16
	// *vlan_proto, u16 *vlan_tci): 0 with both written, or an error
	// (-ENODATA: no tag; -EOPNOTSUPP: the driver cannot tell).
	b.emit(
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpVLANProto),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, fpVLANTCI),
		asm.Instruction{
			OpCode:   asm.OpCode(asm.JumpClass).SetJumpOp(asm.Call),
			Src:      asm.PseudoKfuncCall,
			Constant: int64(tags.kfunc),
		},
		asm.JEq.Imm(asm.R0, 0, done),
		asm.StoreImm(asm.RFP, fpVLANProto, 0, asm.Word),
	)
	b.label(done)
}

// pushTag puts an offloaded VLAN tag back into a frame about to be
// redirected, in front of its ethertype as it was on the wire, so the worker
// applies its VLAN policy (forwarder/vlan.go) exactly as on AF_PACKET, where
// the tag comes back from the packet's auxiliary data. On an untagged
// frame, after readTag, it costs one stack load and a branch. Should the redirect fail (no socket on
// the queue) the tag comes out again: the frame passes to the kernel as it
// came, tag still offloaded, and the kernel would see two tags otherwise.
func (b *builder) pushTag() {
	const rData, rEnd, rTmp = asm.R2, asm.R3, asm.R4
	b.emit(
		asm.LoadMem(asm.R1, asm.RFP, fpVLANProto, asm.Half),
		asm.JEq.Imm(asm.R1, 0, "redirect_frame"),
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Imm(asm.R2, -4),
		asm.FnXdpAdjustHead.Call(),
		asm.JNE.Imm(asm.R0, 0, "tag_nopush"),
	)
	b.frameBounds(rData, rEnd, rTmp, 18, "tag_nopull")
	// The MAC addresses move four bytes to the front, in 4-byte words from
	// the lowest so none is overwritten before it is read.
	for off := int16(0); off < 12; off += 4 {
		b.emit(
			asm.LoadMem(rTmp, rData, off+4, asm.Word),
			asm.StoreMem(rData, off, rTmp, asm.Word),
		)
	}
	b.emit(
		asm.LoadMem(rTmp, asm.RFP, fpVLANProto, asm.Half),
		asm.StoreMem(rData, 12, rTmp, asm.Half),
		asm.LoadMem(rTmp, asm.RFP, fpVLANTCI, asm.Half),
		asm.HostTo(asm.BE, rTmp, asm.Half),
		asm.StoreMem(rData, 14, rTmp, asm.Half),
	)
	b.count(ctrVLANTag)
	b.redirect("tag_pull")
	// No socket: undo, from the highest word down.
	b.label("tag_pull")
	b.frameBounds(rData, rEnd, rTmp, 18, "tag_nopull")
	for off := int16(8); off >= 0; off -= 4 {
		b.emit(
			asm.LoadMem(rTmp, rData, off, asm.Word),
			asm.StoreMem(rData, off+4, rTmp, asm.Word),
		)
	}
	b.emit(
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Imm(asm.R2, 4),
		asm.FnXdpAdjustHead.Call(),
		asm.Ja.Label("no_socket"),
	)
	// The frame was at least 14 bytes before the push, so these two are
	// unreachable; the verifier wants the bounds checked all the same.
	b.label("tag_nopull")
	b.returnImm(bpfasm.XDPPass)
	b.label("tag_nopush")
	b.count(ctrVLANNoPush)
	b.returnImm(bpfasm.XDPPass)
}

// frameBounds reloads the packet pointers after a helper that moved them
// and jumps to short unless n bytes are in the frame.
func (b *builder) frameBounds(rData, rEnd, rTmp asm.Register, n int32, short string) {
	b.emit(
		asm.LoadMem(rData, rCtx, bpfasm.MDData, asm.Word),
		asm.LoadMem(rEnd, rCtx, bpfasm.MDDataEnd, asm.Word),
	)
	b.need(rTmp, rData, rEnd, n, short)
}
