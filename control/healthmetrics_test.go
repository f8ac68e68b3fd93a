package control

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xvs-project/xvs/health"
)

func TestHealthMetrics(t *testing.T) {
	st := []health.CheckStatus{
		{Service: "web", Real: "198.18.1.2:80", Kind: health.KindHTTP, RealAlive: true, Up: true, LastOK: true},
		{Service: "web", Real: "198.18.1.3:80", Kind: health.KindHTTP, LastReason: "HTTP status 503"},
		{Service: "web", Real: "198.18.1.3:80", Kind: health.KindTCP, Up: true, LastOK: true},
	}
	m := NewHealthMetrics(func() []health.CheckStatus { return st })
	m.Observe(st[0], 2*time.Millisecond)
	m.Observe(st[1], 3*time.Millisecond)
	m.Observe(st[1], 4*time.Millisecond)
	want := `
# HELP xvs_health_check_failures_total Failed health probes by reason.
# TYPE xvs_health_check_failures_total counter
xvs_health_check_failures_total{kind="HTTP_GET",real="198.18.1.3:80",reason="HTTP status 503",service="web"} 2
# HELP xvs_real_server_up 1 while the real server passes all its health checks, 0 while it is failed.
# TYPE xvs_real_server_up gauge
xvs_real_server_up{real="198.18.1.2:80",service="web"} 1
xvs_real_server_up{real="198.18.1.3:80",service="web"} 0
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "xvs_real_server_up", "xvs_health_check_failures_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m, "xvs_health_check_duration_seconds"); n != 1 {
		t.Errorf("%d duration series, want 1 (HTTP_GET)", n)
	}
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
