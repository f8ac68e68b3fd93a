package forwarder

import (
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
)

// VLAN is an 802.1Q VLAN the director serves on one of its interfaces.
//
// A served interface is often a trunk: it carries frames of every VLAN on
// the switch port, and the VIP may well appear on VLANs the director is not
// on. Serving those would answer for networks the operator never gave the
// director, so a tagged frame is served only when its VLAN is listed here
// for the interface it arrived on; any other tagged frame is dropped and
// counted (DropVLAN). Untagged frames are always served. Frames with two
// tags (QinQ) are never served: the kernel hands them only to a stacked VLAN
// device, which xvs does not model.
//
// The tag is often not in the frame as received: drivers with
// rx-vlan-offload, and veth for tags its peer sent offloaded, keep it as
// metadata. AF_PACKET hands it over as packet auxiliary data; on AF_XDP the
// steering program puts it back into the frame where the driver lets XDP
// read it (xdpprog.NewSteeringFor: native mode, Linux 6.8). Where it cannot,
// afxdp.Open logs that VLAN filtering is unavailable on the interface, and a
// frame whose tag was offloaded there is served as untagged.
//
// A served tagged frame loses its tag before it is rewritten: where it goes
// next, and with which tag, is the next hop's business. A next hop reached
// through a VLAN device (Ifindex) leaves by Parent tagged with ID; any other
// leaves untagged on its own interface.
type VLAN struct {
	// Parent is the served interface the VLAN's tagged frames arrive on and
	// leave by.
	Parent int
	// ID is the VLAN ID, 1..4094.
	ID uint16
	// Ifindex is the director's VLAN device for this VLAN (eth0.10), or 0
	// for a VLAN set explicitly without one. A route through the device
	// must be known to the Router for traffic to leave on the VLAN (with
	// NewNetlinkRouter: list the device among its interfaces).
	Ifindex int
}

// vlanTable is the compiled form of a []VLAN that workers read without
// locks: the VLAN IDs allowed per ingress interface, and the tag to push per
// VLAN device. Both lists are a handful of entries, so a scan beats a map.
type vlanTable struct {
	in   []vlanIn
	out  []vlanOut
	list []VLAN // as given, for VLANs()
}

type vlanIn struct {
	parent int
	ids    [4096 / 64]uint64 // bit set of allowed VLAN IDs
}

type vlanOut struct {
	ifindex, parent int
	id              uint16
}

// maxVLANID is the largest usable VLAN ID (4095 is reserved).
const maxVLANID = 4094

func compileVLANs(vs []VLAN) (*vlanTable, error) {
	t := &vlanTable{list: slices.Clone(vs)}
	for _, v := range vs {
		if v.ID == 0 || v.ID > maxVLANID {
			return nil, fmt.Errorf("vlan %d: VLAN ID must be 1..%d", v.ID, maxVLANID)
		}
		if v.Parent <= 0 {
			return nil, fmt.Errorf("vlan %d: no parent interface", v.ID)
		}
		i := slices.IndexFunc(t.in, func(e vlanIn) bool { return e.parent == v.Parent })
		if i < 0 {
			t.in = append(t.in, vlanIn{parent: v.Parent})
			i = len(t.in) - 1
		}
		t.in[i].ids[v.ID/64] |= 1 << (v.ID % 64)
		if v.Ifindex > 0 && !slices.ContainsFunc(t.out, func(o vlanOut) bool { return o.ifindex == v.Ifindex }) {
			t.out = append(t.out, vlanOut{ifindex: v.Ifindex, parent: v.Parent, id: v.ID})
		}
	}
	return t, nil
}

// allowed reports whether frames tagged id are served on interface ifindex.
func (t *vlanTable) allowed(ifindex int, id uint16) bool {
	for i := range t.in {
		if t.in[i].parent == ifindex {
			return t.in[i].ids[id/64&63]&(1<<(id%64)) != 0
		}
	}
	return false
}

// egress returns the served interface and tag for a next hop on interface
// ifindex; ok is false when ifindex is not a VLAN device (no tag).
func (t *vlanTable) egress(ifindex int) (parent int, id uint16, ok bool) {
	for i := range t.out {
		if t.out[i].ifindex == ifindex {
			return t.out[i].parent, t.out[i].id, true
		}
	}
	return 0, 0, false
}

// SetVLANs replaces the VLANs the engine serves (see VLAN); workers see the
// change from their next frame. On error nothing changes.
func (e *Engine) SetVLANs(vs []VLAN) error {
	t, err := compileVLANs(vs)
	if err != nil {
		return err
	}
	e.vlans.Store(t)
	return nil
}

// VLANs returns the VLANs the engine serves.
func (e *Engine) VLANs() []VLAN { return slices.Clone(e.vlans.Load().list) }

// LearnVLANs returns the 802.1Q VLAN devices whose parent is one of the
// given interfaces, as the kernel has them now: the VLANs the director is on.
// 802.1ad (S-tag) devices are left out, as are devices stacked on another
// VLAN device (see VLAN on QinQ).
func LearnVLANs(parents []int) ([]VLAN, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var vs []VLAN
	for _, l := range links {
		v, ok := l.(*netlink.Vlan)
		if !ok || !slices.Contains(parents, v.Attrs().ParentIndex) {
			continue
		}
		if v.VlanProtocol != netlink.VLAN_PROTOCOL_UNKNOWN && v.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q {
			continue
		}
		vs = append(vs, VLAN{Parent: v.Attrs().ParentIndex, ID: uint16(v.VlanId), Ifindex: v.Attrs().Index})
	}
	return vs, nil
}
