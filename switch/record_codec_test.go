package upiswitch

import (
	"testing"

	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordRoundTrip(t *testing.T) { recordtest.RoundTrip[record](t) }
