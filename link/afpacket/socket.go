package afpacket

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

const (
	ethPAll = 0x0003 // ETH_P_ALL

	// rxReserve is PACKET_RESERVE: extra bytes the kernel leaves in front
	// of every received frame. With it the headroom in front of the
	// Ethernet header is rxReserve plus the 82 bytes the TPACKET_V3 frame
	// header and sockaddr_ll take (the worker may overwrite those: they
	// are read before the frame is handed out), so at least 146 bytes,
	// enough for an IPv6 tunnel header and a VLAN tag.
	rxReserve = 64
	// MinHeadroom is the headroom guaranteed in front of a received
	// frame (Frame.Off), VLAN tag reinsertion already deducted.
	MinHeadroom = rxReserve + 82 - 4
)

// The backend's headroom must cover what the engine relies on (a compile
// error otherwise).
const _ = uint(MinHeadroom - link.MinHeadroom)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func packetSocket() (int, error) {
	// Protocol 0: the socket receives nothing until bind names one, so no
	// packet reaches it before its filter and ring are in place.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("packet socket: %w", err)
	}
	return fd, nil
}

func setInt(fd, opt, v int, what string) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, opt, v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// attachFilter installs f as the socket filter; it replaces the previous
// one atomically.
func attachFilter(fd int, f Filter) error {
	if len(f) == 0 {
		return fmt.Errorf("attach filter: empty program: %w", ErrInvalidRule)
	}
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		if err == unix.ENOMEM {
			// The converted program did not fit the socket's option
			// memory (net.core.optmem_max).
			return fmt.Errorf("attach filter of %d instructions: %w: %w", len(f), ErrTooManyRules, err)
		}
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

func bindPacket(fd, ifindex int, proto uint16) error {
	sa := unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return fmt.Errorf("bind to ifindex %d: %w", ifindex, err)
	}
	return nil
}

// joinFanout adds the socket to fanout group id with hash balancing
// (PACKET_FANOUT_HASH, no defragmentation). With id 0, the kernel picks an
// id not used in the network namespace (PACKET_FANOUT_FLAG_UNIQUEID) and
// joinFanout returns it for the other sockets of the group.
//
// A fanout group receives through its own hook, so the sockets'
// PACKET_IGNORE_OUTGOING does not apply to it: the group needs
// PACKET_FANOUT_FLAG_IGNORE_OUTGOING (Linux 4.20) to skip outgoing frames.
// The socket filter rejects them too.
func joinFanout(fd int, id uint16) (uint16, error) {
	v := int(id) | (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING)<<16
	if id == 0 {
		v |= unix.PACKET_FANOUT_FLAG_UNIQUEID << 16
	}
	err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, v)
	if err == unix.EINVAL {
		// A kernel without the flag: the filter alone keeps outgoing
		// frames out.
		err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, v&^(unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING<<16))
	}
	if err != nil {
		return 0, fmt.Errorf("join fanout group %d: %w", id, err)
	}
	if id != 0 {
		return id, nil
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return 0, fmt.Errorf("read fanout group: %w", err)
	}
	return uint16(got), nil
}

func mmapRing(fd, size int) ([]byte, error) {
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap ring of %d bytes: %w", size, err)
	}
	return mem, nil
}

// u32At returns a pointer to the 32-bit word at off of a ring, for the
// status words the kernel and the worker hand each other with atomics.
func u32At(mem []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&mem[off]))
}
