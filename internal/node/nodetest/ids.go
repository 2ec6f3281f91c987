package nodetest

import "github.com/upisim/upisim/internal/ids"

func newID(prefix string) string { return ids.NewMsgID(prefix) }
