package admin

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/service"
)

func tcpSvc(a string, port uint16) service.Service {
	return service.Service{Proto: service.TCP, Addr: addr(a), Port: port}
}

func TestParseCommands(t *testing.T) {
	persist := func(secs, bits int) *service.Persistence {
		return &service.Persistence{Timeout: time.Duration(secs) * time.Second, NetmaskBits: bits}
	}
	withSched := func(s service.Service, sched string) service.Service { s.Scheduler = sched; return s }
	tests := []struct {
		args string
		want Command
	}{
		// The LVS-DR how-to of the seeds, verbatim.
		{"-A -t 192.168.8.200:80 -s rr", Command{Op: OpAddService, HasService: true, Service: withSched(tcpSvc("192.168.8.200", 80), "rr")}},
		{"-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("192.168.8.200", 80), HasReal: true,
			Real: service.Real{Addr: addr("192.168.8.20"), Port: 80, Weight: 1, Method: service.MethodDR}}},
		{"-a -t 192.168.8.200:80 -r 192.168.8.30:80 -g -w 1", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("192.168.8.200", 80), HasReal: true,
			Real: service.Real{Addr: addr("192.168.8.30"), Port: 80, Weight: 1, Method: service.MethodDR}}},
		{"-Ln \u2013stats", Command{Op: OpList, Format: Format{Numeric: true, Stats: true}}},
		{"-S", Command{Op: OpSave}},
		{"-R", Command{Op: OpRestore}},
		// Defaults: wlc, DR, weight 1, -p 300, real port from the service.
		{"-A -t 198.18.0.1:80", Command{Op: OpAddService, HasService: true, Service: withSched(tcpSvc("198.18.0.1", 80), "wlc")}},
		{"-A -t 198.18.0.1:0 -p", Command{Op: OpAddService, HasService: true, Service: service.Service{Proto: service.TCP, Addr: addr("198.18.0.1"), Scheduler: "wlc", Persistence: persist(300, 0)}}},
		{"-A -t 198.18.0.1 -p 600 -M 255.255.255.0 -s sh -b sh-port,sh-fallback", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Proto: service.TCP, Addr: addr("198.18.0.1"), Scheduler: "sh", SchedFlags: []string{"sh-fallback", "sh-port"}, Persistence: persist(600, 24)}}},
		{"-E -t 198.18.0.1:80 -M 255.255.0.0 -p 60", Command{Op: OpEditService, HasService: true, Service: service.Service{Proto: service.TCP, Addr: addr("198.18.0.1"), Port: 80, Scheduler: "wlc", Persistence: persist(60, 16)}}},
		{"-A -u [2001:db8::1]:53 -s rr -o -p 30 -M 64", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Proto: service.UDP, Addr: addr("2001:db8::1"), Port: 53, Scheduler: "rr", OnePacket: true, Persistence: persist(30, 64)}}},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80, Weight: 1, Method: service.MethodDR}}},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2:8080 -g", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80, Weight: 1, Method: service.MethodDR}}},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2:8080 -m -w 0 -x 100 -y 50", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 8080, Weight: 0, Method: service.MethodNAT, UpperThreshold: 100, LowerThreshold: 50}}},
		{"-e -t 198.18.0.1:80 -r 198.18.1.2 -i -w 65535 --tun-type ipip", Command{Op: OpEditReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80, Weight: 65535, Method: service.MethodTUN}}},
		{"-a -t 207.175.44.110:80 -r 192.168.10.5:80 -i --tun-type gue --tun-port 6079", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("207.175.44.110", 80), HasReal: true,
			Real: service.Real{Addr: addr("192.168.10.5"), Port: 80, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGUE, Port: 6079}}}},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gue --tun-port 6080 --tun-remcsum", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGUE, Port: 6080, Csum: service.TunRemCsum}}}},
		{"-e -t 10.0.0.1:80 -r 192.168.11.1:80 -i --tun-type gre --tun-csum", Command{Op: OpEditReal, HasService: true, Service: tcpSvc("10.0.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("192.168.11.1"), Port: 80, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGRE, Csum: service.TunCsum}}}},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gre --tun-nocsum", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGRE}}}},
		{"-d -t 198.18.0.1:80 -r 198.18.1.2", Command{Op: OpDeleteReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80}}},
		{"-D -t 198.18.0.1:http", Command{Op: OpDeleteService, HasService: true, Service: tcpSvc("198.18.0.1", 80)}},
		{"-D -u 198.18.0.1:domain", Command{Op: OpDeleteService, HasService: true, Service: service.Service{Proto: service.UDP, Addr: addr("198.18.0.1"), Port: 53}}},
		{"-C", Command{Op: OpClear}},
		{"--clear", Command{Op: OpClear}},
		{"-Z", Command{Op: OpZero}},
		{"-Z -t 198.18.0.1:80", Command{Op: OpZero, HasService: true, Service: tcpSvc("198.18.0.1", 80)}},
		{"--set-capacity 4194304", Command{Op: OpSetCapacity, Capacity: 4194304}},
		{"--set 900 120 300", Command{Op: OpSetTimeouts, Timeouts: service.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}}},
		{"-L", Command{Op: OpList}},
		{"", Command{Op: OpList}},
		{"-l", Command{Op: OpList}},
		{"-Lnc", Command{Op: OpList, Connections: true, Format: Format{Numeric: true}}},
		{"-L -n --rate --exact --nosort", Command{Op: OpList, Format: Format{Numeric: true, Rate: true, Exact: true, NoSort: true}}},
		{"-L -n --sort --thresholds", Command{Op: OpList, Format: Format{Numeric: true, Thresholds: true}}},
		{"-L --timeout", Command{Op: OpList, ShowTimeouts: true}},
		{"-L --daemon", Command{Op: OpList, Daemon: true}},
		{"-L -c --persistent-conn", Command{Op: OpList, Connections: true, Format: Format{PersistentConn: true}}},
		{"-L -t 198.18.0.1:80 --stats -X", Command{Op: OpList, HasService: true, Service: tcpSvc("198.18.0.1", 80), Format: Format{Stats: true, Exact: true}}},
		{"-S -n", Command{Op: OpSave, Format: Format{Numeric: true}}},
		{"-h", Command{Op: OpHelp}},
		{"-v", Command{Op: OpVersion}},
		// Long forms, '=' values, bundles and attached values.
		{"--add-service --tcp-service=198.18.0.1:80 --scheduler wrr --persistent=120", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Proto: service.TCP, Addr: addr("198.18.0.1"), Port: 80, Scheduler: "wrr", Persistence: persist(120, 0)}}},
		{"--add-server --udp-service 198.18.0.1:53 --real-server 198.18.1.2 --masquerading --weight 7 --u-threshold 9 --l-threshold 3", Command{
			Op: OpAddReal, HasService: true, Service: service.Service{Proto: service.UDP, Addr: addr("198.18.0.1"), Port: 53}, HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 53, Weight: 7, Method: service.MethodNAT, UpperThreshold: 9, LowerThreshold: 3}}},
		{"-At 198.18.0.1:80 -srr", Command{Op: OpAddService, HasService: true, Service: withSched(tcpSvc("198.18.0.1", 80), "rr")}},
		{"-at 198.18.0.1:80 -r198.18.1.2 -mw5", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 80, Weight: 5, Method: service.MethodNAT}}},
		{"--list --numeric --connection", Command{Op: OpList, Connections: true, Format: Format{Numeric: true}}},
		// Service groups.
		{"-A -f web -s wrr -p 600 --match tcp:198.18.0.10/32:80-81 --match udp:198.18.0.0/24", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Group: "web", Scheduler: "wrr", Persistence: persist(600, 0), Matches: []service.Match{
				{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.10/32"), PortLo: 80, PortHi: 81},
				{Proto: service.UDP, Prefix: netip.MustParsePrefix("198.18.0.0/24")},
			}}}},
		{"-A -f 1 -6 -s rr --match tcp:[2001:db8::/64]:443 -p -M 48", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Group: "1", Scheduler: "rr", Persistence: persist(300, 48), Matches: []service.Match{
				{Proto: service.TCP, Prefix: netip.MustParsePrefix("2001:db8::/64"), PortLo: 443, PortHi: 443},
			}}}},
		{"-a -f web -r 198.18.1.2 -w 2", Command{Op: OpAddReal, HasService: true, Service: service.Service{Group: "web"}, HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Weight: 2, Method: service.MethodDR}}},
		// A leading program name is not part of the arguments, but pasted
		// en dashes and hyphen look-alikes are read as ASCII.
		{"\u2212L \u2014numeric", Command{Op: OpList, Format: Format{Numeric: true}}},
		// Netmask before the service, IPv6: read for the service's family.
		{"-A -M 64 -p 10 -t [2001:db8::1]:80", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Proto: service.TCP, Addr: addr("2001:db8::1"), Port: 80, Scheduler: "wlc", Persistence: persist(10, 64)}}},
		// A netmask without persistence is accepted and means nothing.
		// Host names through the resolver.
		{"-A -t www.example.net:https", Command{Op: OpAddService, HasService: true, Service: withSched(tcpSvc("198.18.0.1", 443), "wlc")}},
		{"-A -t [v6.example.net]:http", Command{Op: OpAddService, HasService: true,
			Service: service.Service{Proto: service.TCP, Addr: addr("2001:db8::1"), Port: 80, Scheduler: "wlc"}}},
		{"-a -t 198.18.0.1:80 -r web1.example.net:http-alt -m", Command{Op: OpAddReal, HasService: true, Service: tcpSvc("198.18.0.1", 80), HasReal: true,
			Real: service.Real{Addr: addr("198.18.1.2"), Port: 8080, Weight: 1, Method: service.MethodNAT}}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := Parse(strings.Fields(tt.args), testResolver())
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args   string
		msg    string
		kind   error
		status int
	}{
		{"-t 198.18.0.1:80 -A", "Try `xvsadm -h' or 'xvsadm --help' for more information.", ErrTryHelp, 255},
		{"-n -L", "Try `xvsadm -h' or 'xvsadm --help' for more information.", ErrTryHelp, 255},
		{"list", "Try `xvsadm -h' or 'xvsadm --help' for more information.", ErrTryHelp, 255},
		{"--frobnicate", "Try `xvsadm -h' or 'xvsadm --help' for more information.", ErrTryHelp, 255},
		{"-L --frobnicate", "--frobnicate: unknown option", ErrUnknownOption, 255},
		{"-L -q", "-q: unknown option", ErrUnknownOption, 255},
		{"-A -t", "-t: missing argument", ErrMissingArgument, 255},
		{"-L --stats=yes", "--stats=yes: option does not take an argument", ErrMissingArgument, 255},
		{"-L -A", "invalid option `-A'", ErrInvalidOption, 2},
		{"-A -t 198.18.0.1:80 -t 198.18.0.2:80", "multiple 'service-address' options specified", ErrMultipleOptions, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -g -m", "multiple 'forwarding-method' options specified", ErrMultipleOptions, 2},
		{"-A -t 198.18.0.1:80 -s rr -s wrr", "multiple 'scheduler' options specified", ErrMultipleOptions, 2},
		{"-A -t 198.18.0.1:99999", "illegal virtual server address[:port] specified", ErrIllegalService, 2},
		{"-A -t 80", "illegal virtual server address[:port] specified", ErrIllegalService, 2},
		{"-A -t nosuchhost.invalid:80", "illegal virtual server address[:port] specified", ErrIllegalService, 2},
		{"-A -t 198.18.0.1:nosuchport", "illegal virtual server address[:port] specified", ErrIllegalService, 2},
		{"-A -t [2001:db8::1]80", "illegal virtual server address[:port] specified", ErrIllegalService, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.x", "illegal real server address[:port] specified", ErrIllegalReal, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -w 2147483648", "illegal weight specified", ErrIllegalWeight, 2},
		{"-A -t 198.18.0.1:80 -M 255.255.255.0", "netmask specified for a non-persistent service (add -p)", ErrIllegalNetmask, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -w -1", "illegal weight specified", ErrIllegalWeight, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -w abc", "illegal weight specified", ErrIllegalWeight, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -x -5", "illegal u_threshold specified", ErrIllegalThreshold, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -y 2147483648", "illegal l_threshold specified", ErrIllegalThreshold, 2},
		{"-A -t 198.18.0.1:80 -p 0", "invalid timeout value `0' specified", ErrInvalidTimeout, 2},
		{"-A -t 198.18.0.1:80 -p 2678401", "invalid timeout value `2678401' specified", ErrInvalidTimeout, 2},
		{"-A -t 198.18.0.1:80 -p 1x", "invalid timeout value `1x' specified", ErrInvalidTimeout, 2},
		{"-A -t 198.18.0.1:80 -p 60 -M 255.0.255.0", "illegal virtual server persistent mask specified", ErrIllegalNetmask, 2},
		{"-A -t [2001:db8::1]:80 -p 60 -M 129", "illegal ipv6 netmask specified", ErrIllegalNetmask, 2},
		{"-A -t 198.18.0.1:0", "Zero port specified for non-persistent service", service.ErrZeroPort, 2},
		{"-A -t 198.18.0.1", "Zero port specified for non-persistent service", service.ErrZeroPort, 2},
		{"-A -t 198.18.0.1:80 -o", "One-Packet Scheduling is only for UDP virtual services", service.ErrOnePacketNoUDP, 2},
		{"-A -t 198.18.0.1:80 -b sh-port", "incompatible scheduler flag `sh-port'", ErrSchedFlag, 2},
		{"-A -t 198.18.0.1:80 -s sh -b sh-port,frob", "invalid scheduler flag `frob'", ErrSchedFlag, 2},
		{"-A -t 198.18.0.1:80 --pe sip", "Scheduler or persistence engine not found", service.ErrNoScheduler, 2},
		{"-A", "You need to supply the 'service-address' option for the 'add-service' command", ErrMissingOption, 2},
		{"-a -t 198.18.0.1:80", "You need to supply the 'real-server' option for the 'add-server' command", ErrMissingOption, 2},
		{"-d -t 198.18.0.1:80 -r 198.18.1.2 -w 3", "Illegal 'weight' option with the 'delete-server' command", ErrIllegalOption, 2},
		{"-A -t 198.18.0.1:80 -n", "Illegal 'numeric' option with the 'add-service' command", ErrIllegalOption, 2},
		{"-A -t 198.18.0.1:80 -r 198.18.1.2", "Illegal 'real-server' option with the 'add-service' command", ErrIllegalOption, 2},
		{"-C -t 198.18.0.1:80", "Illegal 'service-address' option with the 'flush' command", ErrIllegalOption, 2},
		{"-S --stats", "Illegal 'stats' option with the 'save' command", ErrIllegalOption, 2},
		{"-L -s rr", "Illegal 'scheduler' option with the 'list' command", ErrIllegalOption, 2},
		{"-L -c -t 198.18.0.1:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command", ErrConflict, 2},
		{"-L -c --timeout", "The option 'timeout' conflicts with the 'connection' option in the 'list' command", ErrConflict, 2},
		{"-L -c --stats", "options conflicts in the list command", ErrConflict, 2},
		{"-L --timeout --persistent-conn", "options conflicts in the list command", ErrConflict, 2},
		{"--set 900 120", "--set option requires 3 timeout values", ErrMissingArgument, 2},
		{"--set-capacity 0", "illegal capacity specified", ErrInvalidOption, 2},
		{"--set 900 120 x", "invalid timeout value `x' specified", ErrInvalidTimeout, 2},
		{"--set 900 120 300 5", "unexpected argument 5", ErrUnexpectedArg, 2},
		{"-L foo", "unexpected argument foo", ErrUnexpectedArg, 2},
		{"-A -f bad/name", "invalid service group `bad/name' specified", ErrInvalidGroup, 2},
		{"-A -t 198.18.0.1:80 -6", "-6 used before -f", ErrInvalidOption, 2},
		{"-A -f web --match sctp:198.18.0.1", "illegal match `sctp:198.18.0.1' specified (protocol must be tcp or udp)", ErrInvalidMatch, 2},
		{"-A -f web --match tcp:198.18.0.1:90-80", "illegal match `tcp:198.18.0.1:90-80' specified (ports must be a port or a range lo-hi)", ErrInvalidMatch, 2},
		{"-A -t 198.18.0.1:80 --match tcp:198.18.0.1", "--match belongs to a service group (-f NAME)", ErrInvalidMatch, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 --match tcp:198.18.0.1", "Illegal 'match' option with the 'add-server' command", ErrIllegalOption, 2},
		{"-a -t 198.18.0.1:80 -r [2001:db8::2]:80 -m", "Different address family is allowed only for tunneling servers", ErrFamily, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -m --tun-type ipip", "Tunnel options conflict with forward method", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type vxlan", "illegal tunnel type specified", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-port 6080", "Illegal 'tun-port' option with the 'ipip' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gue", "You need to supply the 'tun-port' option for the 'gue' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gue --tun-port 6080 --tun-csum --tun-nocsum", "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gre --tun-port 6080", "Illegal 'tun-port' option with the 'gre' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gre --tun-remcsum", "Illegal 'tun-remcsum' option with the 'gre' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-csum", "Illegal 'tun-csum' option with the 'ipip' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gue --tun-port 0", "illegal tunnel port specified", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gue --tun-port 65536", "illegal tunnel port specified", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -i --tun-type gre --tun-csum --tun-nocsum", "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type", ErrTunnel, 2},
		{"-a -t 198.18.0.1:80 -r 198.18.1.2 -g --tun-csum", "Tunnel options conflict with forward method", ErrTunnel, 2},
		{"-L --tun-info --tun-type gue", "Illegal 'tun-type' option with the 'list' command", ErrIllegalOption, 2},
		{"-A --sctp-service 198.18.0.1:80", "SCTP services are not supported by xvs (tcp and udp only)", ErrUnsupported, 2},
		{"--start-daemon primary", "illegal start-daemon parameter specified", ErrInvalidOption, 2},
		{"--start-daemon master --weight 1", "Illegal 'weight' option with the 'start-daemon' command", ErrIllegalOption, 2},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := Parse(strings.Fields(tt.args), testResolver())
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.msg || Message(err) != tt.msg {
				t.Errorf("message %q, want %q", err.Error(), tt.msg)
			}
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			if got := ExitStatus(err); got != tt.status {
				t.Errorf("exit status %d, want %d", got, tt.status)
			}
		})
	}
}

func TestParseMatchRoundTrip(t *testing.T) {
	for _, s := range []string{
		"tcp:198.18.0.10/32:80-81", "tcp:198.18.0.0/24", "udp:198.18.0.1/32:53",
		"tcp:[2001:db8::/64]:443", "udp:2001:db8::1/128", "tcp:[2001:db8::/48]:1000-2000",
	} {
		m, err := ParseMatch(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		back, err := ParseMatch(FormatMatch(m))
		if err != nil || back != m {
			t.Errorf("%s -> %s -> %+v, %v", s, FormatMatch(m), back, err)
		}
	}
	// Host bits are masked, a bare address is a host prefix, * is every port.
	m, err := ParseMatch("tcp:198.18.0.77/24:*")
	if err != nil || m.Prefix != netip.MustParsePrefix("198.18.0.0/24") || m.PortLo != 0 || m.PortHi != 0 {
		t.Errorf("got %+v, %v", m, err)
	}
	if m, _ := ParseMatch("udp:198.18.0.7"); m.Prefix != netip.MustParsePrefix("198.18.0.7/32") {
		t.Errorf("bare address gave %v", m.Prefix)
	}
}

func TestLegalTable(t *testing.T) {
	for op, row := range legal {
		if len(row) != int(numOpts) {
			t.Errorf("%s: %d columns, want %d", op, len(row), numOpts)
		}
		if strings.Trim(row, "+x1 ") != "" {
			t.Errorf("%s: stray characters in %q", op, row)
		}
	}
}

func TestServiceTable(t *testing.T) {
	st, err := ParseServices(strings.NewReader(`
# comment
http		80/tcp		www		# WorldWideWeb HTTP
http		80/udp
webcache	8080/tcp	http-alt
http-alt	8080/tcp
sctp-thing	9/sctp
broken
`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := st.LookupPort(service.TCP, "www"); !ok || p != 80 {
		t.Errorf("www: %d %v", p, ok)
	}
	if n, ok := st.PortName(service.TCP, 8080); !ok || n != "webcache" {
		t.Errorf("8080: %q (the first entry wins)", n)
	}
	if _, ok := st.PortName(service.UDP, 8080); ok {
		t.Error("8080/udp resolved")
	}
	var none *ServiceTable
	if _, ok := none.LookupPort(service.TCP, "http"); ok {
		t.Error("nil table resolved a name")
	}
}
