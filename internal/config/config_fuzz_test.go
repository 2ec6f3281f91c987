package config_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
)

// FuzzParse: Parse never panics; a network it returns is valid, and
// Marshal writes a file that Parse reads back to the same network (and
// that Marshal writes again byte for byte).
func FuzzParse(f *testing.F) {
	f.Add(config.DefaultYAML())
	def := config.Default()
	def.AssignAddrs(7000)
	if b, err := def.Marshal(); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"name: x\n",
		"nodes:\n  - {name: app, role: tpap}\n  - {name: gpsp, role: psp, handles: [Gamma]}\n  - {name: sw, role: switch}\n  - {name: cbank, role: bank, ifsc: cbnk0000001}\nusers:\n  - {vpa: dan@gamma, name: Dan, bank: cbank, account: 1, balance: 100, pin: 123456}\n",
		"timeouts: {debit: 2s, collect_expiry_max: 500ms}\n",
		"limits: {per_txn: \"0.01\"}\n",
		"heartbeat: 0s\n",
		"nodes: [{name: a, role: bank, ifsc: ABNK0000001, grpc_addr: \"127.0.0.1:1\", http_addr: \"127.0.0.1:2\", prefix: ABC}]\n",
		"unknown_field: 1\n",
		"nodes: {name: a}\n",
		"&a [*a]",
		"nodes:\n  - {name: sw, role: switch}\n  - {name: b, role: bank, ifsc: ABNK0000001}\nrules:\n  - {name: r, node: b, on: send, match: {api: RespPay, type: CREDIT, vpa: a@b, peer: sw, min_amount: \"1.00\", max_amount: \"9.99\"}, delay: 1s, fail_sends: 2, lose_acks: 1, duplicate: true}\n  - {match: {api: ReqPay}, decline: U16}\n  - {match: {api: ReqChkTxn}, ignore: true}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := config.Parse(data)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		require.NoError(t, n.Validate(), "Parse returned an invalid network")
		out, err := n.Marshal()
		require.NoError(t, err)
		back, err := config.Parse(out)
		require.NoError(t, err, "Parse(Marshal(n)) fails; Marshal wrote:\n%s", out)
		assert.Equal(t, n, back, "Marshal/Parse round trip; Marshal wrote:\n%s", out)
		again, err := back.Marshal()
		require.NoError(t, err)
		assert.True(t, bytes.Equal(out, again), "Marshal is not stable:\n%s\n---\n%s", out, again)
	})
}
