package ledger_test

import (
	"testing"

	"github.com/upisim/upisim/internal/ledger"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestRecordsRoundTrip(t *testing.T) {
	t.Run("Account", func(t *testing.T) { recordtest.TableRoundTrip(t, ledger.Accounts) })
	t.Run("PostingRecord", func(t *testing.T) { recordtest.TableRoundTrip(t, ledger.Postings) })
	t.Run("TxnRecord", func(t *testing.T) { recordtest.TableRoundTrip(t, ledger.Txns) })
}
