package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The default network's Lite profiles apply by date, and a pinned one
// whatever the date; the offline cap is never above a profile's per_txn.
func TestLiteProfilesByDate(t *testing.T) {
	n := Default()
	day := func(s string) time.Time { d, err := time.Parse(time.DateOnly, s); require.NoError(t, err); return d }
	cases := []struct {
		at                   string
		perTxn, bal, offline int64
	}{
		{"2022-09-01", 200_00, 2000_00, 200_00},
		{"2023-08-23", 200_00, 2000_00, 200_00},
		{"2023-08-24", 500_00, 2000_00, 500_00},
		{"2026-12-02", 1000_00, 5000_00, 500_00},
		{"2020-01-01", 200_00, 2000_00, 200_00}, // before every profile: the first
	}
	for _, c := range cases {
		l := n.Lite.At(day(c.at))
		assert.Equal(t, c.perTxn, l.PerTxn, c.at)
		assert.Equal(t, c.bal, l.Balance, c.at)
		assert.Equal(t, c.offline, l.OfflinePerTxn, c.at)
	}
	assert.Equal(t, 10, n.Lite.OfflineCount)
	assert.Equal(t, 96*time.Hour, n.Lite.SyncDeadline)

	pinned, err := Parse([]byte(liteNodes + "lite: {profile: \"2022-03-01\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(200_00), pinned.Lite.At(day("2026-12-02")).PerTxn, "a pinned profile whatever the date")
	raw, err := pinned.Marshal()
	require.NoError(t, err)
	back, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, pinned.Lite, back.Lite, "Marshal keeps the section")
}

const liteNodes = `nodes:
  - {name: tpap, role: tpap}
  - {name: psp, role: psp, handles: [p]}
  - {name: npci, role: switch}
  - {name: bank, role: bank, ifsc: BANK0000001}
`

// A network file's lite section is checked: profiles in date order, a
// payment limit within the balance, a pinned profile that exists.
func TestLiteValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`lite: {profiles: [{from: "2024-01-01", per_txn: "600.00", balance: "500.00"}]}`, "above the balance"},
		{`lite: {profiles: [{from: "2024-01-01", per_txn: "1.00", balance: "5.00"}, {from: "2023-01-01", per_txn: "1.00", balance: "5.00"}]}`, "not after"},
		{`lite: {profile: "1999-01-01"}`, "no profile has that from date"},
		{`lite: {profiles: [{from: "soon", per_txn: "1.00", balance: "5.00"}]}`, "is not a date"},
		{`lite: {offline_count: 0}`, "offline_count must be above zero"},
	} {
		_, err := Parse([]byte(liteNodes + c.yaml + "\n"))
		require.Error(t, err, c.yaml)
		assert.Contains(t, err.Error(), c.want, c.yaml)
	}
}

// lite.recon_every defaults to a day, is kept by Marshal, and is refused
// when it is not a duration or shorter than a minute.
func TestLiteReconEvery(t *testing.T) {
	assert.Equal(t, 24*time.Hour, Default().Lite.ReconEvery)
	n, err := Parse([]byte(liteNodes + "lite: {recon_every: 6h}\n"))
	require.NoError(t, err)
	assert.Equal(t, 6*time.Hour, n.Lite.ReconEvery)
	raw, err := n.Marshal()
	require.NoError(t, err)
	back, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, 6*time.Hour, back.Lite.ReconEvery)
	for _, c := range []struct{ yaml, want string }{
		{"lite: {recon_every: daily}\n", "lite.recon_every: invalid duration"},
		{"lite: {recon_every: 30s}\n", "lite.recon_every must be at least 1m"},
	} {
		_, err := Parse([]byte(liteNodes + c.yaml))
		require.Error(t, err, c.yaml)
		assert.Contains(t, err.Error(), c.want, c.yaml)
	}
}
