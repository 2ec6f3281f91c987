package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

// hexRun finds what could be a PIN block (or the old HMAC blocks).
var hexRun = regexp.MustCompile(`[0-9a-fA-F]{64,}`)

// blocksIn counts the PIN blocks of txnIDs found in data.
func blocksIn(data []byte, txnIDs []string) int {
	n := 0
	for _, m := range hexRun.FindAll(data, -1) {
		for i := 0; i+66 <= len(m); i += 2 {
			for _, id := range txnIDs {
				if _, err := pin.OpenBlock(string(m[i:i+66]), id); err == nil {
					n++
				}
			}
		}
	}
	return n
}

// After seeding and payments (right and wrong PINs), a bank's file holds
// no PIN (`strings abank.db` showed {"pin":"1234"}) and no PIN block, and
// no node's inbox or trace holds a credential.
func TestPINsAtRest(t *testing.T) {
	n := up(t, nil)
	var txns []string
	for _, p := range []struct{ from, to, pin, code string }{
		{"alice@alpha", "bob@beta", "1234", ""},
		{"bob@beta", "alice@alpha", "1234", ""},
		{"alice@alpha", "bob@beta", "9999", "ZM"},
		{"alice@alpha", "chai@beta", "1234", ""},
	} {
		r := n.pay(p.from, p.to, "1.00", p.pin)
		assert.Equal(t, p.code, r.ErrCode, "%s → %s", p.from, p.to)
		txns = append(txns, r.TxnID)
	}
	// The trace shows the credentials as redacted.
	var redacted int
	for _, m := range n.trace(txns[0]) {
		if strings.Contains(m.Summary, "creds redacted") {
			redacted++
		}
	}
	assert.GreaterOrEqual(t, redacted, 4, "PSP→npci ReqPay (out, in), npci→abank DEBIT (out, in)")
	waitQuiet(t, n)
	n.stop()

	for _, bank := range []string{"abank", "bbank"} {
		raw, err := os.ReadFile(filepath.Join(n.dir, bank+".db"))
		require.NoError(t, err)
		assert.NotContains(t, string(raw), `"pin":"`, "%s.db keeps no plaintext PIN", bank)
		assert.NotContains(t, string(raw), `"pin":"1234"`, bank)
		// Customers are binary records (remitter.Customers): pin is field
		// 2, so a plaintext PIN 1234 would be the bytes 0x12 0x04 "1234".
		assert.NotContains(t, string(raw), "\x12\x041234", "%s.db keeps no plaintext PIN", bank)
		assert.Contains(t, string(raw), "$argon2id$v=19$", "%s.db keeps the hashes", bank)
		db, err := store.Open(filepath.Join(n.dir, bank+".db"), store.Options{Buckets: store.RoleBuckets(config.RoleBank)})
		require.NoError(t, err)
		var custs int
		require.NoError(t, db.View(func(tx *store.Tx) error {
			return remitter.ScanCustomers(tx, func(ac string, c *remitter.Customer) (bool, error) {
				custs++
				assert.Empty(t, c.GetPin(), "%s: account %s keeps no plaintext PIN", bank, ac)
				assert.True(t, strings.HasPrefix(c.GetPinHash(), "$argon2id$v=19$"), "%s: account %s keeps its hash", bank, ac)
				return true, nil
			})
		}))
		require.NoError(t, db.Close())
		assert.NotZero(t, custs, bank)
		assert.Zero(t, blocksIn(raw, txns), "%s.db holds no PIN block", bank)
	}
	for _, nd := range n.cfg.Nodes {
		db, err := store.Open(filepath.Join(n.dir, nd.Name+".db"), store.Options{})
		require.NoError(t, err)
		var raw []byte
		require.NoError(t, db.View(func(tx *store.Tx) error {
			for _, b := range []store.Bucket{store.Inbox, store.Trace, store.TraceByTxn, store.TraceAcks, store.Outbox} {
				if err := tx.Scan(b, nil, func(k, v []byte) (bool, error) {
					raw = append(append(raw, k...), v...)
					return true, nil
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		require.NoError(t, db.Close())
		assert.Zero(t, blocksIn(raw, txns), "%s: inbox, trace and outbox hold no PIN block", nd.Name)
		assert.NotContains(t, string(raw), `"pin"`, nd.Name)
	}
	// The PSPs' keys are private to their owner.
	for _, psp := range []string{"alphapsp", "betapsp"} {
		st, err := os.Stat(filepath.Join(n.dir, psp+".key"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), psp)
	}
	n.start() // for the end-of-test checks
}

// Three wrong PINs lock the PIN: the fourth try, with the right PIN, is
// declined Z6 and the app sees Z6 as the payment's err_code.
func TestPINLockout(t *testing.T) {
	n := up(t, nil)
	before := n.balance("alice@alpha")
	for i := range 3 {
		assert.Equal(t, "ZM", n.pay("alice@alpha", "bob@beta", "1.00", "9999").ErrCode, "wrong PIN %d", i+1)
	}
	r := n.pay("alice@alpha", "bob@beta", "1.00", "1234")
	assert.Equal(t, "FAILURE", r.Status)
	assert.Equal(t, "Z6", r.ErrCode, "locked: the right PIN is declined too")
	assert.Equal(t, before, n.balance("alice@alpha"))
	// Bob's PIN is his own.
	assert.Empty(t, n.pay("bob@beta", "alice@alpha", "1.00", "1234").ErrCode)

	// The lock survives a restart.
	n.restart()
	assert.Equal(t, "Z6", n.pay("alice@alpha", "bob@beta", "1.00", "1234").ErrCode)
}

// A right PIN resets the count: wrong, wrong, right, wrong, wrong is not
// a lock.
func TestPINRightResetsTries(t *testing.T) {
	n := up(t, func(c *config.Network) { c.PIN.MaxTries = 3 })
	for _, p := range []struct{ pin, code string }{
		{"9999", "ZM"}, {"9999", "ZM"}, {"1234", ""}, {"9999", "ZM"}, {"9999", "ZM"}, {"1234", ""},
	} {
		assert.Equal(t, p.code, n.pay("alice@alpha", "bob@beta", "1.00", p.pin).ErrCode, "PIN %s", p.pin)
	}
}

// A burst of wrong PINs over REST meets the limit: of 30 concurrent wrong
// tries, exactly max_tries are answered ZM and every other Z6, and the
// right PIN is then declined Z6 as well.
func TestPINBurstOverREST(t *testing.T) {
	n := up(t, nil)
	tp, ok := n.c.Dir.Node("tpap")
	require.True(t, ok)
	base := "http://" + tp.HTTPAddr
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // no idle connection outlives the test
	pay := func(pinValue string) string {
		body := fmt.Sprintf(`{"payer_vpa":"alice@alpha","payee_vpa":"bob@beta","amount_paise":100,"pin":%q}`, pinValue)
		resp, err := hc.Post(base+"/v1/payments", "application/json", strings.NewReader(body))
		if !assert.NoError(t, err) {
			return ""
		}
		var created struct {
			TxnID string `json:"txn_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, resp.StatusCode) {
			return ""
		}
		resp, err = hc.Get(base + "/v1/payments/" + created.TxnID + "?wait_ms=20000")
		if !assert.NoError(t, err) {
			return ""
		}
		defer resp.Body.Close()
		var got struct {
			Status  string `json:"status"`
			ErrCode string `json:"err_code"`
		}
		assert.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		assert.Equal(t, "FAILURE", got.Status)
		return got.ErrCode
	}
	const burst = 30
	codes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := pay(fmt.Sprintf("%04d", 5000+i))
			mu.Lock()
			codes[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("%d wrong PINs over REST in %v: %v", burst, time.Since(start), codes)
	assert.Equal(t, map[string]int{"ZM": n.cfg.PIN.MaxTries, "Z6": burst - n.cfg.PIN.MaxTries}, codes)
	assert.Equal(t, "Z6", pay("1234"), "then the right PIN is declined too")
}
