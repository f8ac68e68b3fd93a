package control

import (
	"net/netip"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Maglev metrics, served when the engine is an MHReporter (see Metrics for
// the labels):
//
//	xvs_mh_table_info{service,digest,size}  gauge, always 1
//	xvs_mh_slots{service,real}              gauge
//
// so a dashboard can compare the digests of the directors behind one ECMP
// router (count by (service) (count by (service, digest) (...)) > 1) and see
// each real server's share of the table.
var (
	descMHInfo  = prometheus.NewDesc("xvs_mh_table_info", "The mh service's Maglev table: its digest and size (1).", []string{"service", "digest", "size"}, nil)
	descMHSlots = prometheus.NewDesc("xvs_mh_slots", "Slots of the mh service's Maglev table owned by the real server.", realLabels, nil)
)

// maglevCollector exports an MHReporter's tables.
type maglevCollector struct{ mr MHReporter }

// Describe implements prometheus.Collector.
func (maglevCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descMHInfo
	ch <- descMHSlots
}

// Collect implements prometheus.Collector.
func (c maglevCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.mr.MaglevTables() {
		svc := ServiceLabel(t.Service)
		ch <- prometheus.MustNewConstMetric(descMHInfo, prometheus.GaugeValue, 1, svc, t.Digest, strconv.Itoa(t.Size))
		for _, r := range t.Reals {
			real := netip.AddrPortFrom(r.Key.Addr, r.Key.Port).String()
			ch <- prometheus.MustNewConstMetric(descMHSlots, prometheus.GaugeValue, float64(r.Slots), svc, real)
		}
	}
}
