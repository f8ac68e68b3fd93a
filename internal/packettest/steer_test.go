package packettest

import "testing"

// TestSteerRows checks the oracle against the fixture table on both kinds
// of hook.
func TestSteerRows(t *testing.T) {
	for _, r := range SteerRows {
		for _, l2 := range []L2{Tagged, Untagged} {
			if got := Steer(SteerRules, r.Frame(l2), l2); got != r.Want {
				t.Errorf("%s (l2 %d): oracle %s, row %s", r.Name, l2, got, r.Want)
			}
		}
	}
}

// TestSteerUntaggedVLAN: a hook that sees no tags in the data takes a VLAN
// EtherType for a non-IP frame.
func TestSteerUntaggedVLAN(t *testing.T) {
	f := Packet{VLANs: []uint16{7}, Src: client4, Dst: a("198.18.10.1"), Proto: ProtoTCP, Dport: 80}.Frame()
	if got := Steer(SteerRules, f, Tagged); got != SteerService {
		t.Errorf("tagged: %s", got)
	}
	if got := Steer(SteerRules, f, Untagged); got != PassOther {
		t.Errorf("untagged: %s", got)
	}
}
