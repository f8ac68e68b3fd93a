package control

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/service"
)

// mhEngine is a fake engine that also describes Maglev tables.
type mhEngine struct {
	*fakeEngine
	tables []MHTable
}

func (e *mhEngine) MaglevTables() []MHTable { return e.tables }

// TestMHRequest: the mh request carries every table through the protocol;
// an engine without tables answers none.
func TestMHRequest(t *testing.T) {
	vip := netip.MustParseAddr("198.18.0.10")
	e := &mhEngine{fakeEngine: newFakeEngine(), tables: []MHTable{{
		Service: service.Key{Proto: service.TCP, Addr: vip, Port: 80}, Size: 4093, Flags: []string{"mh-port"},
		Digest: "0123456789abcdef",
		Reals: []MHShare{
			{Key: service.RealKey{Addr: netip.MustParseAddr("198.18.1.1"), Port: 80}, Weight: 1, Slots: 2047},
			{Key: service.RealKey{Addr: netip.MustParseAddr("198.18.1.2"), Port: 80}, Weight: 1, Slots: 2046},
		},
	}}}
	path, _ := startServer(t, e)
	got, err := dial(t, path).MaglevTables()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e.tables) {
		t.Errorf("round trip: %+v, want %+v", got, e.tables)
	}
	path, _ = startServer(t, newFakeEngine())
	if got, err := dial(t, path).MaglevTables(); err != nil || len(got) != 0 {
		t.Errorf("engine without tables: %+v, %v", got, err)
	}
}

// TestMaglevMetrics: an MHReporter's tables are served as xvs_mh_table_info
// and xvs_mh_slots beside the engine's other metrics.
func TestMaglevMetrics(t *testing.T) {
	e := &mhEngine{fakeEngine: metricsEngine(), tables: []MHTable{{
		Service: service.Key{Proto: service.TCP, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80}, Size: 251,
		Digest: "0123456789abcdef",
		Reals:  []MHShare{{Key: service.RealKey{Addr: netip.MustParseAddr("198.18.1.1"), Port: 80}, Weight: 1, Slots: 251}},
	}}}
	srv := httptest.NewServer(MetricsHandler(e))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`xvs_mh_table_info{digest="0123456789abcdef",service="tcp/198.18.0.10:80",size="251"} 1`,
		`xvs_mh_slots{real="198.18.1.1:80",service="tcp/198.18.0.10:80"} 251`,
		`xvs_service_connections_total{`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
}
