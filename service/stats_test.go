package service

import (
	"errors"
	"testing"
	"time"
)

func TestTimeoutsValidate(t *testing.T) {
	if err := (Timeouts{}).Validate(); err != nil {
		t.Errorf("zero timeouts: %v", err)
	}
	if err := (Timeouts{TCP: time.Second, UDP: time.Minute}).Validate(); err != nil {
		t.Errorf("positive timeouts: %v", err)
	}
	for _, to := range []Timeouts{{TCP: -1}, {TCPFin: -time.Second}, {UDP: -1}} {
		if err := to.Validate(); !errors.Is(err, ErrNegativeTimeout) {
			t.Errorf("%+v: %v", to, err)
		}
	}
}
