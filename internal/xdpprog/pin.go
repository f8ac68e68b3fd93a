package xdpprog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultPinDir is where the daemon pins its steering links: one directory
// per interface, holding the pinned XDP link.
const DefaultPinDir = "/sys/fs/bpf/xvs"

// bpffsRoot is the conventional bpffs mount point; PreparePinDir mounts a
// bpffs there when none is.
const bpffsRoot = "/sys/fs/bpf"

// PinPath is the file the steering link of interface ifname is pinned at
// under dir.
func PinPath(dir, ifname string) string { return filepath.Join(dir, ifname, "link") }

// PreparePinDir makes dir a directory on a bpffs. When dir lies under
// /sys/fs/bpf and no bpffs is mounted there, it mounts one (as systemd
// would); when dir exists and is not on a bpffs, it mounts one on dir.
// A bpffs mounted by a process in a mount namespace of its own (`ip netns
// exec` makes one) dies with that namespace, and the pins with it: a
// caller that needs the pins to outlive such a process mounts the bpffs
// outside first.
func PreparePinDir(dir string) error {
	p := filepath.Clean(dir)
	for {
		if _, err := os.Stat(p); err == nil {
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("pin directory %s: no existing parent", dir)
		}
		p = parent
	}
	if !onBPFFS(p) {
		if p != bpffsRoot && p != filepath.Clean(dir) {
			return fmt.Errorf("pin directory %s: %s is not on a bpffs", dir, p)
		}
		if err := unix.Mount("bpf", p, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("pin directory %s: mount bpffs on %s: %w", dir, p, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pin directory: %w", err)
	}
	return nil
}

// onBPFFS reports whether path is on a bpffs.
func onBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && uint32(st.Type) == uint32(unix.BPF_FS_MAGIC)
}

// ClearPins removes the pinned links under dir whose interface keep does
// not want (nil keep: all). A link whose pin goes has no reference left
// once no process holds it, and the kernel detaches its program: this is
// how a daemon clears what a crashed predecessor with another set of
// interfaces (or another backend) left behind. A dir that does not exist
// holds nothing.
func ClearPins(dir string, keep func(ifname string) bool) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pinned links: %w", err)
	}
	var errs []error
	for _, e := range ents {
		// Only the interfaces' directories: a bpffs root also holds the
		// kernel's own files (maps.debug, progs.debug).
		if !e.IsDir() || (keep != nil && keep(e.Name())) {
			continue
		}
		// Unpinned by hand and then closed, the link goes at once; a
		// removed pin file alone frees it an RCU grace period later, and
		// an attach right after would find the interface busy.
		if l, err := link.LoadPinnedLink(PinPath(dir, e.Name()), nil); err == nil {
			_ = l.Unpin()
			_ = l.Close()
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("pinned link of %s: %w", e.Name(), err))
		}
	}
	_ = os.Remove(dir) // gone when nothing else is pinned there
	return errors.Join(errs...)
}

// unpinDir removes the directory of an unpinned link and, when it was the
// last one, the pin directory above it; both only when empty.
func unpinDir(path string) {
	d := filepath.Dir(path)
	if os.Remove(d) == nil {
		_ = os.Remove(filepath.Dir(d))
	}
}

// Pin pins the attached link at path (see PinPath), so the program stays
// on its interface after the process exits, SIGKILL included. Detach and
// Close unpin it again: only a process that dies leaves the pin behind.
// With Hold, the pinned program drops service traffic until a successor
// adopts it (Adopt).
func (s *Steering) Pin(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.link == nil {
		return fmt.Errorf("pin steering: %w", ErrNotAttached)
	}
	if s.pinned == path {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pin steering: %w", err)
	}
	_ = os.Remove(path) // a pin Adopt refused: its link is gone by now
	if err := s.link.Pin(path); err != nil {
		return fmt.Errorf("pin steering: %w", err)
	}
	s.pinned = path
	return nil
}

// Adopt takes over the steering link a predecessor pinned at path, instead
// of Attach: when the pin is an XDP link on ifindex attached in mode (any
// mode for ModeAuto), the link becomes s's, still running the
// predecessor's program with its rules and maps, and the next Update, once
// s's rules are in place and its sockets registered, swaps s's program in
// atomically (no packet sees neither). It reports false, with the pin
// removed and its program detached, when the pin is of another interface
// or mode, and false with nothing done when there is no pin.
func (s *Steering) Adopt(path string, ifindex int, mode Mode) (bool, error) {
	if _, err := mode.tries(); err != nil {
		return false, err
	}
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		// Not a link (or unreadable): no use to anyone.
		return false, errors.Join(fmt.Errorf("adopt steering: %w", err), os.Remove(path))
	}
	m, ok := adoptable(l, ifindex)
	if !ok || (mode != ModeAuto && mode != m) {
		return false, errors.Join(l.Unpin(), l.Close())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.link != nil {
		l.Close() // the pin stays: it is not s's
		if s.closed {
			return false, ErrClosed
		}
		return false, ErrAttached
	}
	s.link, s.mode, s.pinned, s.adopted = l, m, path, true
	return true, nil
}

// adoptable reports the mode of l when it is an XDP link attached to
// ifindex.
func adoptable(l link.Link, ifindex int) (Mode, bool) {
	info, err := l.Info()
	if err != nil || info.Type != link.XDPType {
		return 0, false
	}
	x := info.XDP()
	if x == nil || int(x.Ifindex) != ifindex {
		return 0, false
	}
	// The program the kernel reports on ifindex must be the link's: an
	// interface index names another device in another namespace.
	_, m, _, ok, id, err := attachedProgramID(ifindex)
	if err != nil || !ok || id != uint32(info.Program) {
		return 0, false
	}
	return m, true
}

// replaceLocked puts s's program on an adopted link: the device-bound one
// in native mode where it loaded, else the plain one.
func (s *Steering) replaceLocked() error {
	if s.mode == ModeNative && s.tagProg != nil {
		err := s.link.Update(s.tagProg)
		if err == nil {
			s.tags, s.tagErr, s.adopted = true, nil, false
			return nil
		}
		s.tagErr = fmt.Errorf("replace with the device-bound steering program: %w", err)
	}
	if err := s.link.Update(s.prog); err != nil {
		return fmt.Errorf("replace the adopted program: %w", err)
	}
	s.tags, s.adopted = false, false
	if s.mode == ModeGeneric && s.tagProg != nil {
		s.tagErr = ErrGenericTags
	}
	return nil
}

// Adopted reports whether s runs on a link it adopted and has not yet
// replaced the predecessor's program on (see Adopt).
func (s *Steering) Adopted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adopted
}

// attachedProgramID is attachedProgram with the program's ID.
func attachedProgramID(ifindex int) (name string, mode Mode, flags int, ok bool, id uint32, err error) {
	name, mode, flags, ok, err = attachedProgram(ifindex)
	if err != nil || !ok {
		return name, mode, flags, ok, 0, err
	}
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return "", 0, 0, false, 0, fmt.Errorf("link %d: %w", ifindex, err)
	}
	if x := l.Attrs().Xdp; x != nil {
		id = x.ProgId
	}
	return name, mode, flags, ok, id, nil
}

// NetnsDir is the directory under dir for the calling thread's network
// namespace: interface names (and indexes) repeat across namespaces, and
// daemons in different namespaces may share one bpffs or state directory.
// It is named by the namespace's cookie, which the kernel never reuses
// while it runs (an inode number, the fallback before Linux 5.14, it
// does), so a namespace made after another died never finds its files.
func NetnsDir(dir string) (string, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("network namespace: %w", err)
	}
	cookie, cerr := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	unix.Close(fd)
	if cerr == nil {
		return filepath.Join(dir, "netns-"+strconv.FormatUint(cookie, 10)), nil
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", fmt.Errorf("network namespace: %w", err)
	}
	return filepath.Join(dir, "net"+strconv.FormatUint(st.Ino, 10)), nil
}
