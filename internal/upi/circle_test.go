package upi

import (
	"testing"
	"time"
)

func TestCircleLimitsCheck(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, circleIST)
	l := CircleLimits{PerTxn: 500_000, Monthly: 1_500_000, CoolingLimit: 500_000, Cooling: 24 * time.Hour, LinkedAt: now.AddDate(0, 0, -10)}
	uses := []CircleUse{{1_000_000, now.AddDate(0, 0, -2)}, {900_000, time.Date(2026, 2, 28, 23, 0, 0, 0, circleIST)}}
	cases := []struct {
		name   string
		l      CircleLimits
		amount int64
		want   string
	}{
		{"within", l, 500_000, ""},
		{"per txn", l, 500_001, "Z8"},
		{"month", l, 500_000 + 1, "Z8"},
		{"month full", CircleLimits{Monthly: 1_400_000}, 400_001, "QH"},
		{"month boundary: last month's use not counted", CircleLimits{Monthly: 1_400_000}, 400_000, ""},
		{"rolling counts last month's", CircleLimits{Monthly: 1_400_000, Rolling: true}, 1, "QH"},
		{"cooling", CircleLimits{CoolingLimit: 500_000, Cooling: 24 * time.Hour, LinkedAt: now.Add(-time.Hour)}, 500_001, "FP"},
		{"cooling counts uses since linking", CircleLimits{CoolingLimit: 1_100_000, Cooling: 96 * time.Hour, LinkedAt: now.AddDate(0, 0, -3)}, 100_001, "FP"},
		{"after cooling", CircleLimits{CoolingLimit: 500_000, Cooling: 24 * time.Hour, LinkedAt: now.Add(-25 * time.Hour)}, 500_001, ""},
	}
	for _, c := range cases {
		if got := c.l.Check(uses, c.amount, now); got != c.want {
			t.Errorf("%s: Check(%d) = %q, want %q", c.name, c.amount, got, c.want)
		}
	}
	if got := l.Used(uses, now); got != 1_000_000 {
		t.Errorf("Used = %d, want 1000000", got)
	}
}
