package control

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xvs-project/xvs/vrrp"
)

func TestVRRPMetrics(t *testing.T) {
	m := NewVRRPMetrics(func() []vrrp.Status {
		return []vrrp.Status{{Name: "VI_1", State: vrrp.Master, Priority: 90, Sent: 7, Received: 2,
			Discarded: map[string]uint64{"ttl": 3}}}
	})
	want := `
# HELP xvs_vrrp_adverts_discarded_total VRRP advertisements discarded, by reason.
# TYPE xvs_vrrp_adverts_discarded_total counter
xvs_vrrp_adverts_discarded_total{instance="VI_1",reason="ttl"} 3
# HELP xvs_vrrp_priority The priority the VRRP instance advertises now.
# TYPE xvs_vrrp_priority gauge
xvs_vrrp_priority{instance="VI_1"} 90
# HELP xvs_vrrp_state 1 for the VRRP instance's state, 0 for the others.
# TYPE xvs_vrrp_state gauge
xvs_vrrp_state{instance="VI_1",state="BACKUP"} 0
xvs_vrrp_state{instance="VI_1",state="FAULT"} 0
xvs_vrrp_state{instance="VI_1",state="INIT"} 0
xvs_vrrp_state{instance="VI_1",state="MASTER"} 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "xvs_vrrp_state", "xvs_vrrp_priority", "xvs_vrrp_adverts_discarded_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
