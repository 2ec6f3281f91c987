package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/audit"
)

const txnA = "ALP0000000000000000000000000000000A"

// TestAuditResultPrint checks how `upisim audit` prints a result (the
// audit that finds it is internal/audit's TestAuditResultJSON).
func TestAuditResultPrint(t *testing.T) {
	r := AuditResult{
		TotalPaise: 20000, OpeningTotalPaise: 20000, Transactions: 1,
		Violations: []audit.Violation{{Kind: audit.ViolationDisagreement, TxnID: txnA, Node: "bbank",
			Detail: "PAY of ₹5.00 from alice@alpha to bob@beta is SUCCESS at the switch, but beneficiary bbank has no credit posted (no record)"}},
	}
	require.Len(t, r.Violations, 1)

	var text bytes.Buffer
	require.NoError(t, printAudit(&text, r))
	out := text.String()
	for _, want := range []string{"ok            no", "transactions  1", "non_terminal  0", "violations    1", "DISAGREEMENT", txnA, "beneficiary bbank has no credit posted (no record)"} {
		assert.Contains(t, out, want)
	}

	var js bytes.Buffer
	require.NoError(t, printJSON(&js, r))
	var back map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	for _, k := range []string{"ok", "total_paise", "transactions", "non_terminal", "violations"} {
		assert.Contains(t, back, k)
	}
	v := back["violations"].([]any)[0].(map[string]any)
	assert.Equal(t, "DISAGREEMENT", v["kind"])
	assert.Equal(t, txnA, v["txn_id"])
}

func TestAuditCleanPrintsEmptyViolations(t *testing.T) {
	r := AuditResult{OK: true, Violations: []audit.Violation{}}
	var js bytes.Buffer
	require.NoError(t, printJSON(&js, r))
	assert.Contains(t, js.String(), `"violations": []`)
	assert.True(t, r.OK)
}
