package bench

// windowCounts starts the scenario's own counts around a trial's measured
// window: the health checks' probes (xvs-nat-checks), the sync master's
// and the bench's backup's datagrams and entries (xvs-nat-sync); nothing
// for the others. The returned func ends them into res, once the window
// is over.
func (d *xvsDirector) windowCounts(scenario string) (func(res *TrialResult) error, error) {
	switch {
	case isChecks(scenario):
		k0, err := d.Checks()
		if err != nil {
			return nil, err
		}
		return func(res *TrialResult) error {
			k1, err := d.Checks()
			if err != nil {
				return err
			}
			k := k1.Sub(k0)
			res.Checks = &k
			return nil
		}, nil
	case isSync(scenario):
		y0, err := d.SyncCounts()
		if err != nil {
			return nil, err
		}
		return func(res *TrialResult) error {
			y1, err := d.SyncCounts()
			if err != nil {
				return err
			}
			y := y1.Sub(y0)
			res.Sync = &y
			// The totals wait for the last flush: after the window, so
			// that the wait costs the measurement nothing.
			tot, err := d.syncCatchUp()
			if err != nil {
				return err
			}
			res.SyncTotals = &tot
			return nil
		}, nil
	}
	return func(*TrialResult) error { return nil }, nil
}
