package control

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Sync daemon metrics
//
// SyncMetrics reads the sync daemons' status at scrape time (pass
// SyncDaemons.Status). Counts are since the daemon started, across every
// sync daemon that ran; role is master or backup.
//
//	xvs_sync_daemon_running{role}                 gauge: 1 while a daemon of the role runs
//	xvs_sync_messages_sent_total                  datagrams the master sent
//	xvs_sync_messages_lost_total                  datagrams the master's socket refused
//	xvs_sync_dump_requests_total                  dump requests the master heard
//	xvs_sync_peer_messages_total                  another master's datagrams a followed master heard
//	xvs_sync_peer_conns_total                     their entries (installed as a backup's)
//	xvs_sync_handovers_total                      masters that yielded and sent their table in a last dump
//	xvs_sync_messages_received_total              datagrams the backup read
//	xvs_sync_messages_dropped_total{reason}       datagrams dropped whole, by decode error
//	xvs_sync_messages_ignored_total               datagrams of another sync ID
//	xvs_sync_conns_sent_total{kind}               conn | template entries handed to the master
//	xvs_sync_conns_unsent_total                   entries handed over while no master ran
//	xvs_sync_send_errors_total                    entries the master's writers refused
//	xvs_sync_conns_received_total                 entries the backup decoded
//	xvs_sync_conns_skipped_total                  entries skipped alone (unknown option, protocol)
//	xvs_sync_conns_installed_total{result}        new | updated
//	xvs_sync_conns_refused_total{reason}          entries the engine refused, by reason
//	xvs_sync_dumps_total                          full-table dumps written
//	xvs_sync_dump_entries_total                   their entries
//	xvs_sync_last_dump_timestamp_seconds          when the last dump finished (0: none)
type SyncMetrics struct {
	status func() SyncStatus
}

// NewSyncMetrics returns metrics that read status at every scrape.
func NewSyncMetrics(status func() SyncStatus) *SyncMetrics { return &SyncMetrics{status: status} }

func syncDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("xvs_sync_"+name, help, labels, nil)
}

var (
	descSyncRunning   = syncDesc("daemon_running", "1 while a sync daemon of the role runs.", "role")
	descSyncSent      = syncDesc("messages_sent_total", "Sync datagrams the master sent.")
	descSyncLost      = syncDesc("messages_lost_total", "Sync datagrams the master's socket refused.")
	descSyncRequests  = syncDesc("dump_requests_total", "Full-table dump requests the master heard.")
	descSyncPeerMsgs  = syncDesc("peer_messages_total", "Another master's sync datagrams a followed master heard (a split brain healing).")
	descSyncPeerConns = syncDesc("peer_conns_total", "Entries of another master's datagrams a followed master heard.")
	descSyncHandOvers = syncDesc("handovers_total", "Masters that yielded to another and sent their own connections in a last dump.")
	descSyncReceived  = syncDesc("messages_received_total", "Sync datagrams the backup read.")
	descSyncDropped   = syncDesc("messages_dropped_total", "Sync datagrams the backup dropped whole, by decode error.", "reason")
	descSyncIgnored   = syncDesc("messages_ignored_total", "Sync datagrams of another sync ID.")
	descSyncConnsSent = syncDesc("conns_sent_total", "Entries the packet path handed to the master, by kind.", "kind")
	descSyncUnsent    = syncDesc("conns_unsent_total", "Entries the packet path handed over while no master ran.")
	descSyncSendErrs  = syncDesc("send_errors_total", "Entries the master's writers refused.")
	descSyncConnsRx   = syncDesc("conns_received_total", "Entries the backup decoded.")
	descSyncSkipped   = syncDesc("conns_skipped_total", "Entries the backup skipped alone.")
	descSyncInstalled = syncDesc("conns_installed_total", "Entries the engine installed, new or updating one.", "result")
	descSyncRefused   = syncDesc("conns_refused_total", "Entries the engine refused, by reason.", "reason")
	descSyncDumps     = syncDesc("dumps_total", "Full-table dumps written.")
	descSyncDumpConns = syncDesc("dump_entries_total", "Entries of the full-table dumps.")
	descSyncLastDump  = syncDesc("last_dump_timestamp_seconds", "When the last full-table dump finished, 0 for none.")
)

// Describe implements prometheus.Collector.
func (m *SyncMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSyncRunning, descSyncSent, descSyncLost, descSyncRequests,
		descSyncPeerMsgs, descSyncPeerConns, descSyncHandOvers, descSyncReceived,
		descSyncDropped, descSyncIgnored, descSyncConnsSent, descSyncUnsent, descSyncSendErrs, descSyncConnsRx,
		descSyncSkipped, descSyncInstalled, descSyncRefused, descSyncDumps, descSyncDumpConns, descSyncLastDump} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *SyncMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.status()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	count := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	for _, r := range []SyncRole{SyncMaster, SyncBackup} {
		up := 0.0
		for _, d := range st.Daemons {
			if d.Role == r {
				up = 1
			}
		}
		gauge(descSyncRunning, up, string(r))
	}
	e := st.Engine
	count(descSyncSent, st.Master.Sent)
	count(descSyncLost, st.Master.Lost)
	count(descSyncRequests, st.Master.Requests)
	count(descSyncPeerMsgs, st.Master.PeerMessages)
	count(descSyncPeerConns, st.Master.PeerConns)
	count(descSyncHandOvers, st.HandOvers)
	count(descSyncReceived, st.Backup.Received)
	for i, n := range st.Backup.DroppedBy {
		count(descSyncDropped, n, SyncDecodeReason(i))
	}
	count(descSyncIgnored, st.Backup.Ignored)
	count(descSyncConnsSent, e.ConnsSent, "conn")
	count(descSyncConnsSent, e.TemplatesSent, "template")
	count(descSyncUnsent, st.Unsent)
	count(descSyncSendErrs, e.SendErrors)
	count(descSyncConnsRx, st.Backup.Conns)
	count(descSyncSkipped, st.Backup.Skipped)
	count(descSyncInstalled, e.Installed, "new")
	count(descSyncInstalled, e.Updated, "updated")
	for reason, n := range e.Refused {
		count(descSyncRefused, n, reason)
	}
	count(descSyncDumps, e.Dumps)
	count(descSyncDumpConns, e.DumpEntries)
	last := 0.0
	if !e.LastDump.IsZero() {
		last = float64(e.LastDump.UnixNano()) / 1e9
	}
	gauge(descSyncLastDump, last)
}
