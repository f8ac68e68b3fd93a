package control

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xvs-project/xvs/vrrp"
)

// VRRP metrics
//
// VRRPMetrics reads every instance's status at scrape time:
//
//	xvs_vrrp_state{instance,state}                  gauge: 1 for the instance's state (INIT, BACKUP, MASTER, FAULT), 0 for the others
//	xvs_vrrp_priority{instance}                     gauge: the priority advertised now (tracking moves it)
//	xvs_vrrp_adverts_sent_total{instance}           counter
//	xvs_vrrp_adverts_received_total{instance}       counter: accepted adverts
//	xvs_vrrp_adverts_discarded_total{instance,reason} counter: ttl, checksum, auth, other-vrid, ...
type VRRPMetrics struct {
	status func() []vrrp.Status
}

var (
	vrrpStates = []vrrp.State{vrrp.Initialize, vrrp.Backup, vrrp.Master, vrrp.Fault}

	descVRRPState     = prometheus.NewDesc("xvs_vrrp_state", "1 for the VRRP instance's state, 0 for the others.", []string{"instance", "state"}, nil)
	descVRRPPriority  = prometheus.NewDesc("xvs_vrrp_priority", "The priority the VRRP instance advertises now.", []string{"instance"}, nil)
	descVRRPSent      = prometheus.NewDesc("xvs_vrrp_adverts_sent_total", "VRRP advertisements sent.", []string{"instance"}, nil)
	descVRRPReceived  = prometheus.NewDesc("xvs_vrrp_adverts_received_total", "VRRP advertisements accepted.", []string{"instance"}, nil)
	descVRRPDiscarded = prometheus.NewDesc("xvs_vrrp_adverts_discarded_total", "VRRP advertisements discarded, by reason.", []string{"instance", "reason"}, nil)
)

// NewVRRPMetrics returns metrics that read the instances from status (a
// Roles' Status).
func NewVRRPMetrics(status func() []vrrp.Status) *VRRPMetrics { return &VRRPMetrics{status: status} }

// Describe implements prometheus.Collector.
func (m *VRRPMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVRRPState, descVRRPPriority, descVRRPSent, descVRRPReceived, descVRRPDiscarded} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *VRRPMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, st := range m.status() {
		for _, s := range vrrpStates {
			v := 0.0
			if st.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descVRRPState, prometheus.GaugeValue, v, st.Name, s.String())
		}
		ch <- prometheus.MustNewConstMetric(descVRRPPriority, prometheus.GaugeValue, float64(st.Priority), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPSent, prometheus.CounterValue, float64(st.Sent), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPReceived, prometheus.CounterValue, float64(st.Received), st.Name)
		for reason, n := range st.Discarded {
			ch <- prometheus.MustNewConstMetric(descVRRPDiscarded, prometheus.CounterValue, float64(n), st.Name, reason)
		}
	}
}
