package tpap

import (
	"testing"

	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordsRoundTrip(t *testing.T) {
	t.Run("txnRecord", recordtest.RoundTrip[txnRecord])
	t.Run("notifRecord", recordtest.RoundTrip[notifRecord])
}
