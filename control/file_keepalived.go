package control

import "fmt"

// parseKeepalivedFile reads keepalived.conf.
func parseKeepalivedFile(path string, data []byte) (*File, error) {
	return nil, fmt.Errorf("%s: keepalived format: not yet", path)
}
