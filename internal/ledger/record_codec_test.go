package ledger

import (
	"testing"

	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordsRoundTrip(t *testing.T) {
	t.Run("Account", recordtest.RoundTrip[Account])
	t.Run("PostingRecord", recordtest.RoundTrip[PostingRecord])
	t.Run("TxnRecord", recordtest.RoundTrip[TxnRecord])
}
