package admin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/control"
)

// warnBackend answers every successful apply with a warning, as the daemon
// does for a real server it has no route to.
type warnBackend struct{ *fakeBackend }

func (b warnBackend) ApplyWarn(changes []control.Change) ([]string, error) {
	if err := b.Apply(changes); err != nil {
		return nil, err
	}
	return []string{"real server 198.18.2.2:80 of service TCP 198.18.0.10:80: no route"}, nil
}

// TestWarningsPrinted: a change the daemon warns about is made, the command
// succeeds, and the warning goes to stderr, not stdout; -R prints it too.
func TestWarningsPrinted(t *testing.T) {
	b := warnBackend{newFakeBackend()}
	for _, args := range [][]string{
		{"-A", "-t", "198.18.0.10:80", "-s", "rr"},
		{"-a", "-t", "198.18.0.10:80", "-r", "198.18.2.2:80", "-m"},
	} {
		var out, errb bytes.Buffer
		cmd, err := Parse(args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := Run(cmd, b, Env{Stdout: &out, Stderr: &errb}); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if out.Len() != 0 || !strings.HasPrefix(errb.String(), "Warning: real server 198.18.2.2:80") {
			t.Errorf("%v: stdout %q stderr %q", args, out.String(), errb.String())
		}
	}
	if n := len(b.cfg.Services); n != 1 || len(b.cfg.Services[0].Reals) != 1 {
		t.Fatalf("the changes were not made: %+v", b.cfg)
	}
	var errb bytes.Buffer
	cmd, _ := Parse([]string{"-R"}, nil)
	in := strings.NewReader("-A -t 198.18.0.11:80 -s rr\n-a -t 198.18.0.11:80 -r 198.18.2.2:80 -m\n")
	if err := Run(cmd, b, Env{Stdin: in, Stdout: &bytes.Buffer{}, Stderr: &errb}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(errb.String(), "Warning: ") != 1 {
		t.Errorf("-R stderr %q", errb.String())
	}
}
