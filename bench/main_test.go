package bench

import (
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary serve as the bench's child processes, which
// re-execute os.Executable() inside lab namespaces.
func TestMain(m *testing.M) {
	if IsChild(os.Args[1:]) {
		if err := RunChild(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
