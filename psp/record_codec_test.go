package psp

import (
	"testing"

	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestTxnRecordRoundTrip(t *testing.T) { recordtest.RoundTrip[txnRecord](t) }
