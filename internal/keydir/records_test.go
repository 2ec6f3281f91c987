package keydir_test

import (
	"testing"

	recordsv1 "github.com/upisim/upisim/gen/go/upisim/records/v1"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/internal/store/recordtest"
)

func TestCachedKeyRoundTrip(t *testing.T) {
	recordtest.TableRoundTrip(t, store.NewTable[recordsv1.CachedNodeKey](store.KeyDir))
}
