package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An HTTP delivery is drawn as an arrow to the external lane, with its URL
// and its answer; one not answered yet is dashed; a network message as
// before.
func TestDrawSequenceExternal(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	msgs := []TraceMessage{
		{Node: "bpsp", API: "RespPay", Direction: "OUT", Peer: "npci", MsgID: "m1", TS: t0},
		{Node: "npci", API: "RespPay", Direction: "IN", Peer: "bpsp", MsgID: "m1", TS: t0.Add(time.Millisecond)},
		{Node: "bpsp", API: "POST", Direction: "OUT", Peer: "http://127.0.0.1:9000/hook", MsgID: "m2",
			TS: t0.Add(2 * time.Millisecond), Summary: "16 bytes application/json", Acked: t0.Add(3 * time.Millisecond),
			Note: "answered HTTP 200 OK"},
		{Node: "bpsp", API: "POST", Direction: "OUT", Peer: "http://127.0.0.1:9000/hook", MsgID: "m3",
			TS: t0.Add(4 * time.Millisecond), Summary: "2 bytes"},
		{Node: "bpsp", API: "POST", Direction: "OUT", Peer: "http://127.0.0.1:9000/hook", MsgID: "m4",
			TS: t0.Add(5 * time.Millisecond), Summary: "2 bytes", Acked: t0.Add(6 * time.Millisecond),
			AckErr: "HTTP 400 Bad Request: bad signature"},
	}
	var b strings.Builder
	require.NoError(t, drawSequence(&b, []string{"npci", "bpsp"}, msgs))
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	require.Len(t, lines, 5, b.String())
	assert.Contains(t, lines[0], "⇢ external")
	assert.Contains(t, lines[1], "◀──")
	assert.NotContains(t, lines[1], "▶")
	assert.Contains(t, lines[2], "──▶│  POST http://127.0.0.1:9000/hook 16 bytes application/json  [answered HTTP 200 OK]")
	assert.Contains(t, lines[3], "┄▶│  POST http://127.0.0.1:9000/hook 2 bytes  (not answered yet)")
	assert.Contains(t, lines[4], "──▶│  POST http://127.0.0.1:9000/hook 2 bytes  REFUSED: HTTP 400 Bad Request: bad signature")
	t.Log("\n" + b.String())
}
