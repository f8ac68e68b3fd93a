package admin_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/xvs-project/xvs/admin"
	"github.com/xvs-project/xvs/service"
)

// A how-to's commands, applied to a configuration in memory and saved.
func Example() {
	cfg := &service.Config{}
	for _, line := range []string{
		"-A -t 192.168.8.200:80 -s rr",
		"-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1",
		"-a -t 192.168.8.200:80 -r 192.168.8.30:80 -g -w 1",
	} {
		cmd, err := admin.Parse(strings.Fields(line), nil)
		if err != nil {
			fmt.Println(admin.Message(err))
			return
		}
		if err := admin.Apply(cmd, cfg); err != nil {
			fmt.Println(admin.Message(err))
			return
		}
	}
	admin.Save(os.Stdout, cfg, true, nil)
	// Output:
	// -A -t 192.168.8.200:80 -s rr
	// -a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1
	// -a -t 192.168.8.200:80 -r 192.168.8.30:80 -g -w 1
}

func ExampleParse_error() {
	_, err := admin.Parse(strings.Fields("-a -t 192.168.8.200:80 -r 192.168.8.20 -w 2147483648"), nil)
	fmt.Println(admin.Message(err), admin.ExitStatus(err))
	// Output: illegal weight specified 2
}

func ExampleList() {
	cfg := &service.Config{}
	cmd, _ := admin.Parse(strings.Fields("-A -u [2001:db8::53]:53 -s sh -b sh-port -o"), nil)
	admin.Apply(cmd, cfg)
	admin.List(os.Stdout, &admin.Table{Config: cfg}, admin.Format{Numeric: true}, nil)
	// Output:
	// IP Virtual Server version 1.2.1 (size=0)
	// Prot LocalAddress:Port Scheduler Flags
	//   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
	// UDP  [2001:db8::53]:53 sh (sh-port) ops
}
