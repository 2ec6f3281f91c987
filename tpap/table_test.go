package tpap

import (
	"testing"

	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordsRoundTrip(t *testing.T) {
	t.Run("txnRecord", func(t *testing.T) { recordtest.TableRoundTrip(t, txns) })
	t.Run("notifRecord", func(t *testing.T) { recordtest.TableRoundTrip(t, notifs) })
}
