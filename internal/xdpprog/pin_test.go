package xdpprog

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/internal/bpfasm"
	"github.com/xvs-project/xvs/internal/packettest"
)

// TestSteerHold: a holding program drops what it would steer when the
// queue has no socket, and still passes everything else (ARP, ND, the
// director's own traffic).
func TestSteerHold(t *testing.T) {
	needRoot(t)
	s, err := newSteering(2, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Update(testConfig); err != nil {
		t.Fatal(err)
	}
	steered := 0
	for _, tc := range steerCases {
		ret, err := s.prog.Run(&ebpf.RunOptions{Data: tc.Frame(packettest.Tagged), Repeat: 1})
		if err != nil {
			t.Fatal(err)
		}
		want := uint32(bpfasm.XDPPass)
		if tc.Want[:5] == "steer" {
			want = bpfasm.XDPDrop
			steered++
		}
		if ret != want {
			t.Errorf("%s (%s): returned %d, want %d", tc.Name, tc.Want, ret, want)
		}
	}
	if steered == 0 {
		t.Fatal("no steered case: the test proves nothing")
	}
	c, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c["steer_nosocket"] != uint64(steered) {
		t.Errorf("steer_nosocket %d, want %d", c["steer_nosocket"], steered)
	}
}

// bpffsDir mounts a bpffs of its own on a temporary directory.
func bpffsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "bpf", "bpf", dir).CombinedOutput(); err != nil {
		t.Skipf("mount bpffs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// progOnVB is the ID of the XDP program on vb, 0 for none.
func (tp *topo) progOnVB(t *testing.T) uint32 {
	t.Helper()
	var id uint32
	if err := inNS(tp.b, func() error {
		l, err := netlink.LinkByIndex(tp.vb)
		if err == nil && l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached {
			id = l.Attrs().Xdp.ProgId
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func progID(t *testing.T, p *ebpf.Program) uint32 {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return uint32(id)
}

// crash drops s's hold on its link the way a dying process does: the file
// descriptor closes, the pin stays.
func crash(s *Steering) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.link.Close()
	s.link, s.pinned = nil, ""
}

// TestNetnsSteerPinAdopt: a pinned link outlives its Steering; a successor
// adopts it, keeps the predecessor's program until its own rules are in,
// then swaps its program in; Close unpins and detaches; a pin of another
// mode is refused and removed.
func TestNetnsSteerPinAdopt(t *testing.T) {
	tp := newTopo(t)
	dir := bpffsDir(t)
	path := PinPath(dir, "vb")
	s1, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s1.Close() })
	if err := inNS(tp.b, func() error { return s1.Attach(tp.vb, ModeNative) }); err != nil {
		t.Fatal(err)
	}
	if err := s1.Pin(path); err != nil {
		t.Fatal(err)
	}
	crash(s1)
	if got, want := tp.progOnVB(t), progID(t, s1.prog); got != want {
		t.Fatalf("after the crash program %d is attached, want the pinned %d", got, want)
	}

	s2, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	var ok bool
	if err := inNS(tp.b, func() (err error) { ok, err = s2.Adopt(path, tp.vb, ModeAuto); return }); err != nil || !ok {
		t.Fatalf("Adopt: %v %v", ok, err)
	}
	if s2.Mode() != ModeNative || !s2.Adopted() {
		t.Errorf("adopted: mode %v, pending %v", s2.Mode(), s2.Adopted())
	}
	if got, want := tp.progOnVB(t), progID(t, s1.prog); got != want {
		t.Fatalf("before the first Update program %d is attached, want the predecessor's %d", got, want)
	}
	if err := s2.Update(testConfig); err != nil {
		t.Fatal(err)
	}
	if got, want := tp.progOnVB(t), progID(t, s2.prog); got != want {
		t.Fatalf("after Update program %d is attached, want the successor's %d", got, want)
	}
	if s2.Adopted() {
		t.Error("still pending after Update")
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if id := tp.progOnVB(t); id != 0 {
		t.Fatalf("program %d attached after Close", id)
	}
	if _, err := os.Stat(filepath.Join(dir, "vb")); !os.IsNotExist(err) {
		t.Errorf("pin directory left after Close: %v", err)
	}

	// A pin in generic mode, a successor that wants native: refused,
	// removed, detached.
	s3, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	if err := inNS(tp.b, func() error { return s3.Attach(tp.vb, ModeGeneric) }); err != nil {
		t.Fatal(err)
	}
	if err := s3.Pin(path); err != nil {
		t.Fatal(err)
	}
	crash(s3)
	s4, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s4.Close() })
	if err := inNS(tp.b, func() (err error) { ok, err = s4.Adopt(path, tp.vb, ModeNative); return }); err != nil || ok {
		t.Fatalf("Adopt of a generic pin in native mode: %v %v", ok, err)
	}
	if id := tp.progOnVB(t); id != 0 {
		t.Fatalf("refused pin's program %d still attached", id)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("refused pin left: %v", err)
	}
}

// TestNetnsClearPins: ClearPins removes the pins of interfaces not kept,
// and their programs go with them.
func TestNetnsClearPins(t *testing.T) {
	tp := newTopo(t)
	dir := bpffsDir(t)
	s, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := inNS(tp.b, func() error { return s.Attach(tp.vb, ModeNative) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(PinPath(dir, "vb")); err != nil {
		t.Fatal(err)
	}
	crash(s)
	if err := ClearPins(dir, func(n string) bool { return n == "vb" }); err != nil {
		t.Fatal(err)
	}
	if tp.progOnVB(t) == 0 {
		t.Fatal("a kept pin was removed")
	}
	if err := ClearPins(dir, nil); err != nil {
		t.Fatal(err)
	}
	if id := tp.progOnVB(t); id != 0 {
		t.Fatalf("program %d attached after ClearPins", id)
	}
	if err := ClearPins(filepath.Join(dir, "absent"), nil); err != nil {
		t.Errorf("absent directory: %v", err)
	}
}

// TestNetnsSteerRelease: Release leaves a pinned link attached (its
// program keeps holding the interface for a successor) and frees the
// Steering; an unpinned Steering's Release detaches, as Close does.
func TestNetnsSteerRelease(t *testing.T) {
	tp := newTopo(t)
	dir := bpffsDir(t)
	path := PinPath(dir, "vb")
	s1, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := inNS(tp.b, func() error { return s1.Attach(tp.vb, ModeNative) }); err != nil {
		t.Fatal(err)
	}
	if err := s1.Pin(path); err != nil {
		t.Fatal(err)
	}
	want := progID(t, s1.prog)
	if err := s1.Release(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Release(); err != nil {
		t.Errorf("a second Release: %v", err)
	}
	if got := tp.progOnVB(t); got != want {
		t.Fatalf("after Release program %d is attached, want the pinned %d", got, want)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("pin gone after Release: %v", err)
	}
	s2, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := inNS(tp.b, func() (err error) { ok, err = s2.Adopt(path, tp.vb, ModeAuto); return }); err != nil || !ok {
		t.Fatalf("Adopt after Release: %v %v", ok, err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	s3, err := newSteering(1, tagSource{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := inNS(tp.b, func() error { return s3.Attach(tp.vb, ModeNative) }); err != nil {
		t.Fatal(err)
	}
	if err := s3.Release(); err != nil {
		t.Fatal(err)
	}
	if id := tp.progOnVB(t); id != 0 {
		t.Fatalf("program %d attached after an unpinned Release", id)
	}
}
