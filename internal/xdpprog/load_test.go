package xdpprog

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// TestVerifierAcceptsDeviceBound loads the device-bound steering program
// (bpf_xdp_metadata_rx_vlan_tag) on a veth; a rejection fails with the
// verifier's log. The kernel binds XDP programs only to devices with XDP,
// so not to lo.
func TestVerifierAcceptsDeviceBound(t *testing.T) {
	tp := newTopo(t)
	id, err := rxVLANKfunc()
	if err != nil {
		t.Fatalf("kernel 6.8 or later has bpf_xdp_metadata_rx_vlan_tag: %v", err)
	}
	spec, err := steeringSpec(4, tagSource{kfunc: id}, false)
	if err != nil {
		t.Fatal(err)
	}
	ps := spec.Programs[steerProgName]
	ps.Ifindex, ps.Flags = uint32(tp.vb), unix.BPF_F_XDP_DEV_BOUND_ONLY
	if err := inNS(tp.b, func() error {
		coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
			Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
		})
		if err != nil {
			return err
		}
		defer coll.Close()
		t.Logf("%d instructions; %s", len(ps.Instructions), coll.Programs[steerProgName].VerifierLog)
		return nil
	}); err != nil {
		if ve := (*ebpf.VerifierError)(nil); errors.As(err, &ve) {
			t.Fatalf("verifier rejected: %+v", ve)
		}
		t.Fatal(err)
	}
}

// needRoot skips tests that load BPF programs or build namespaces.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs into the kernel (CAP_BPF, CAP_NET_ADMIN)")
	}
}

// TestVerifierAccepts loads every program variant with verifier statistics
// and logs them; a rejection fails with the verifier's own log.
func TestVerifierAccepts(t *testing.T) {
	needRoot(t)
	steer, err := steeringSpec(4, tagSource{}, false)
	if err != nil {
		t.Fatal(err)
	}
	steerMeta, err := steeringSpec(4, tagSource{meta: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	decap := func(checkLocal bool, guePorts []uint16) *ebpf.CollectionSpec {
		insns, err := decapInsns(checkLocal, guePorts)
		if err != nil {
			t.Fatal(err)
		}
		return &ebpf.CollectionSpec{
			Maps: map[string]*ebpf.MapSpec{
				decapLocalMap: {Name: decapLocalMap, Type: ebpf.Hash, KeySize: 16, ValueSize: 1, MaxEntries: 1},
			},
			Programs: map[string]*ebpf.ProgramSpec{
				decapProgName: {Name: decapProgName, Type: ebpf.XDP, Instructions: insns, License: programLicense},
			},
		}
	}
	for _, tc := range []struct {
		name string
		spec *ebpf.CollectionSpec
		prog string
	}{
		{"steer", steer, steerProgName},
		{"steer_meta_tags", steerMeta, steerProgName},
		{"decap_local", decap(true, nil), decapProgName},
		{"decap_any", decap(false, nil), decapProgName},
		{"decap_local_gue", decap(true, []uint16{6080}), decapProgName},
		{"decap_any_gue_max", decap(false, make([]uint16, MaxGUEPorts)), decapProgName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coll, err := ebpf.NewCollectionWithOptions(tc.spec, ebpf.CollectionOptions{
				Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
			})
			if ve := (*ebpf.VerifierError)(nil); errors.As(err, &ve) {
				t.Fatalf("verifier rejected %s: %+v", tc.name, ve)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer coll.Close()
			p := coll.Programs[tc.prog]
			info, err := p.Info()
			if err != nil {
				t.Fatal(err)
			}
			if info.Name != tc.prog {
				t.Errorf("kernel name %q, want %q", info.Name, tc.prog)
			}
			t.Logf("%d instructions; %s", len(tc.spec.Programs[tc.prog].Instructions), p.VerifierLog)
		})
	}
}

// TestBuilderLabels checks that aliased labels resolve and that a dangling
// label is an error.
func TestBuilderLabels(t *testing.T) {
	b := newBuilder()
	b.emit(asm.Ja.Label("second"))
	b.label("first")
	b.label("second")
	b.returnImm(bpfasm.XDPPass)
	insns, err := b.program()
	if err != nil {
		t.Fatal(err)
	}
	if got := insns[0].Reference(); got != "first" {
		t.Errorf("alias reference = %q, want first", got)
	}
	if _, err := insns.SymbolOffsets(); err != nil {
		t.Error(err)
	}
	b.label("dangling")
	if _, err := b.program(); err == nil {
		t.Error("dangling label accepted")
	}
}
