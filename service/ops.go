package service

// The operations below are ipvsadm's commands on a Config. Each changes c in
// place and validates the result; callers that must not see a half-applied
// change run them on a Clone and swap only when every one succeeded.

// AddService adds s (ipvsadm -A).
func (c *Config) AddService(s Service) error {
	s.Normalize()
	if c.Find(s.Key()) >= 0 {
		return ErrServiceExists
	}
	if err := s.Validate(); err != nil {
		return err
	}
	c.Services = append(c.Services, s)
	return nil
}

// EditService changes the scheduling and persistence of an existing service,
// keeping its real servers (ipvsadm -E).
func (c *Config) EditService(s Service) error {
	i := c.Find(s.Key())
	if i < 0 {
		return ErrNoService
	}
	s.Reals = c.Services[i].Reals
	if s.Group != "" && len(s.Matches) == 0 {
		s.Matches = c.Services[i].Matches
	}
	s.Normalize()
	if err := s.Validate(); err != nil {
		return err
	}
	c.Services[i] = s
	return nil
}

// DeleteService removes a service and its real servers (ipvsadm -D).
func (c *Config) DeleteService(k Key) error {
	i := c.Find(k)
	if i < 0 {
		return ErrNoService
	}
	c.Services = append(c.Services[:i], c.Services[i+1:]...)
	return nil
}

// Clear removes every service (ipvsadm -C).
func (c *Config) Clear() { c.Services = nil }

// AddReal adds a real server to service k (ipvsadm -a).
func (c *Config) AddReal(k Key, r Real) error {
	i := c.Find(k)
	if i < 0 {
		return ErrServiceUndef
	}
	s := &c.Services[i]
	s.normalizeReal(&r)
	if s.FindReal(r.Key()) >= 0 {
		return ErrDestExists
	}
	if err := s.validateReal(&r); err != nil {
		return err
	}
	s.Reals = append(s.Reals, r)
	return nil
}

// EditReal changes a real server's weight, method and thresholds (ipvsadm -e).
func (c *Config) EditReal(k Key, r Real) error {
	i := c.Find(k)
	if i < 0 {
		return ErrServiceUndef
	}
	s := &c.Services[i]
	s.normalizeReal(&r)
	j := s.FindReal(r.Key())
	if j < 0 {
		return ErrNoDest
	}
	if err := s.validateReal(&r); err != nil {
		return err
	}
	s.Reals[j] = r
	return nil
}

// DeleteReal removes a real server from service k (ipvsadm -d).
func (c *Config) DeleteReal(k Key, rk RealKey) error {
	i := c.Find(k)
	if i < 0 {
		return ErrServiceUndef
	}
	s := &c.Services[i]
	if s.Group == "" && s.Port != 0 && rk.Port == 0 {
		rk.Port = s.Port
	}
	j := s.FindReal(rk)
	if j < 0 {
		return ErrNoDest
	}
	s.Reals = append(s.Reals[:j], s.Reals[j+1:]...)
	return nil
}
