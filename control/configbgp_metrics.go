package control

import (
	"github.com/prometheus/client_golang/prometheus"
)

// BGP metrics
//
// BGPMetrics reads the announcer's status at scrape time:
//
//	xvs_bgp_peer_up{peer}                 gauge: 1 while the session is established
//	xvs_bgp_peer_state{peer,state}        gauge: 1 for the session's FSM state, 0 for the others
//	xvs_bgp_peer_prefixes_sent{peer}      gauge: prefixes the peer has from us now
//	xvs_bgp_peer_updates_sent_total{peer} counter: UPDATE messages sent (restarts with the session)
//	xvs_bgp_prefixes_announced            gauge: VIP prefixes announced now (0 while drained)
//	xvs_bgp_prefixes_healthy              gauge: VIP prefixes the services' health wants announced
//	xvs_bgp_drained                       gauge: 1 after xvsadm --drain
type BGPMetrics struct {
	status func() BGPStatus
}

// BGPStates are the session states BGPPeerStatus.State takes.
var BGPStates = []string{"idle", "connect", "active", "opensent", "openconfirm", "established"}

var (
	descBGPUp        = prometheus.NewDesc("xvs_bgp_peer_up", "1 while the BGP session is established.", []string{"peer"}, nil)
	descBGPState     = prometheus.NewDesc("xvs_bgp_peer_state", "1 for the BGP session's state, 0 for the others.", []string{"peer", "state"}, nil)
	descBGPPrefixes  = prometheus.NewDesc("xvs_bgp_peer_prefixes_sent", "Prefixes the BGP peer has from this director now.", []string{"peer"}, nil)
	descBGPUpdates   = prometheus.NewDesc("xvs_bgp_peer_updates_sent_total", "BGP UPDATE messages sent on the session.", []string{"peer"}, nil)
	descBGPAnnounced = prometheus.NewDesc("xvs_bgp_prefixes_announced", "VIP prefixes announced now.", nil, nil)
	descBGPHealthy   = prometheus.NewDesc("xvs_bgp_prefixes_healthy", "VIP prefixes whose services are healthy.", nil, nil)
	descBGPDrained   = prometheus.NewDesc("xvs_bgp_drained", "1 while xvsadm --drain holds every prefix back.", nil, nil)
)

// NewBGPMetrics returns metrics that read the announcer from status.
func NewBGPMetrics(status func() BGPStatus) *BGPMetrics { return &BGPMetrics{status: status} }

// Describe implements prometheus.Collector.
func (m *BGPMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBGPUp, descBGPState, descBGPPrefixes, descBGPUpdates, descBGPAnnounced, descBGPHealthy, descBGPDrained} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *BGPMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range st.Peers {
		peer := p.Address.String()
		up := 0.0
		if p.State == "established" {
			up = 1
		}
		gauge(descBGPUp, up, peer)
		for _, s := range BGPStates {
			v := 0.0
			if p.State == s {
				v = 1
			}
			gauge(descBGPState, v, peer, s)
		}
		gauge(descBGPPrefixes, float64(p.PrefixesSent), peer)
		ch <- prometheus.MustNewConstMetric(descBGPUpdates, prometheus.CounterValue, float64(p.UpdatesSent), peer)
	}
	gauge(descBGPAnnounced, float64(len(st.Announced)))
	gauge(descBGPHealthy, float64(len(st.Healthy)))
	drained := 0.0
	if st.Drained {
		drained = 1
	}
	gauge(descBGPDrained, drained)
}
