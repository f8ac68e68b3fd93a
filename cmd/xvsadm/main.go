// Command xvsadm administers a running xvs daemon with ipvsadm's syntax and
// prints ipvsadm's formats: replace "ipvsadm" by "xvsadm" in a command, a
// script or a how-to and it works. The language lives in package admin; this
// program only connects to the daemon's control socket (/run/xvs/xvs.sock, or
// $XVS_SOCKET) and prints what admin produces.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/xvs-project/xvs/admin"
	"github.com/xvs-project/xvs/control"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is xvsadm without the process: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	names := newResolver()
	cmd, err := admin.Parse(args, names)
	if err != nil {
		fmt.Fprintln(stderr, admin.Message(err))
		return admin.ExitStatus(err)
	}
	var backend admin.Backend
	if cmd.NeedsBackend() {
		c, err := control.Dial(control.SocketPath())
		if err != nil {
			if errors.Is(err, control.ErrPermission) {
				fmt.Fprintln(stderr, control.ErrPermission)
			} else {
				fmt.Fprintln(stderr, "xvsadm: "+err.Error())
			}
			return 1
		}
		defer c.Close()
		backend = c
	}
	if err := admin.Run(cmd, backend, admin.Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Resolver: names}); err != nil {
		fmt.Fprintln(stderr, admin.Message(err))
		return admin.ExitStatus(err)
	}
	return 0
}
