package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
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
	"github.com/upisim/upisim/internal/keys"
	"github.com/upisim/upisim/internal/pin"
	"github.com/upisim/upisim/internal/store"
	"github.com/upisim/upisim/remitter"
)

// hexRun finds what could be an old v1 PIN block (hex of 33 bytes).
var hexRun = regexp.MustCompile(`[0-9a-fA-F]{66,}`)

// openV1 opens a PIN block of version 1, the keyless obfuscation that
// pin.Seal replaced (kept here only to prove none is left anywhere).
func openV1(block, txnID string) bool {
	b, err := hex.DecodeString(block)
	if err != nil || len(b) != 33 || b[0] != 0x01 {
		return false
	}
	sum := func(parts ...[]byte) []byte {
		h := sha256.New()
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	nonce := b[1:17]
	pad := sum([]byte("upisim pin block v1 pad\x00"), []byte(txnID), []byte{0}, nonce)
	field := make([]byte, 8)
	for i := range field {
		field[i] = b[17+i] ^ pad[i]
	}
	chk := sum([]byte("upisim pin block v1 check\x00"), []byte(txnID), []byte{0}, nonce, field)
	return bytes.Equal(chk[:8], b[25:])
}

// v1BlocksIn counts the v1 PIN blocks of txnIDs found in data.
func v1BlocksIn(data []byte, txnIDs []string) int {
	n := 0
	for _, m := range hexRun.FindAll(data, -1) {
		for i := 0; i+66 <= len(m); i += 2 {
			for _, id := range txnIDs {
				if openV1(string(m[i:i+66]), id) {
					n++
				}
			}
		}
	}
	return n
}

// plainPIN reports where pinValue occurs in data other than inside a run
// of hex digits (transaction and message ids, digests) or of decimal
// digits (RRNs, times): a PIN as a string in JSON, a proto field, a log
// line, a plaintext block.
func plainPIN(data []byte, pinValue string) []int {
	isHex := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	var at []int
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte(pinValue))
		if i < 0 {
			return at
		}
		i += off
		j := i + len(pinValue)
		if (i == 0 || !isHex(data[i-1])) && (j == len(data) || !isHex(data[j])) {
			at = append(at, i)
		}
		off = i + 1
	}
}

// testPIN is every user's PIN in TestPINsAtRest: six digits, so that a
// chance occurrence in a file is all but impossible.
const testPIN = "739251"

// After seeding and payments (right and wrong PINs, pay and collect),
// no file of the data folder but the network file the PINs came from
// holds a PIN (`strings abank.db` once showed {"pin":"1234"}) or an old v1
// PIN block; banks keep peppered hashes; no .db holds a private key; and
// the traces show the credentials redacted.
func TestPINsAtRest(t *testing.T) {
	n := up(t, func(c *config.Network) {
		for i := range c.Users {
			c.Users[i].PIN = testPIN
		}
	})
	var txns []string
	for _, p := range []struct{ from, to, pin, code string }{
		{"alice@alpha", "bob@beta", testPIN, ""},
		{"bob@beta", "alice@alpha", testPIN, ""},
		{"alice@alpha", "bob@beta", "999999", "ZM"},
		{"alice@alpha", "chai@beta", testPIN, ""},
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

	// Every file of the data folder, the certificates' and network.json
	// included.
	var scanned int
	require.NoError(t, filepath.WalkDir(n.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		name, _ := filepath.Rel(n.dir, path)
		scanned++
		assert.Empty(t, plainPIN(raw, testPIN), "%s holds the PIN in plaintext", name)
		assert.Empty(t, plainPIN(raw, "999999"), "%s holds the wrong PIN in plaintext", name)
		assert.Zero(t, v1BlocksIn(raw, txns), "%s holds a v1 PIN block", name)
		assert.NotContains(t, string(raw), `"pin":"`, name)
		return nil
	}))
	assert.Greater(t, scanned, len(n.cfg.Nodes), "every node's .db and .keys at least")

	for _, nd := range n.cfg.Nodes {
		st, err := os.Stat(keys.Path(n.dir, nd.Name))
		require.NoError(t, err, "%s has its key file", nd.Name)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), nd.Name)
		k, err := keys.Load(keys.Path(n.dir, nd.Name))
		require.NoError(t, err)
		raw, err := os.ReadFile(filepath.Join(n.dir, nd.Name+".db"))
		require.NoError(t, err)
		for what, secret := range map[string][]byte{
			"ed25519 seed": k.Sign.Seed(), "X25519 key": k.HPKE.Bytes(), "pepper": k.Pepper, "secret": k.Secret,
		} {
			assert.False(t, bytes.Contains(raw, secret), "%s.db holds its %s", nd.Name, what)
		}
		_, err = os.Stat(filepath.Join(n.dir, nd.Name+".key"))
		assert.ErrorIs(t, err, os.ErrNotExist, "%s: one key file, not two", nd.Name)
	}

	for _, bank := range []string{"abank", "bbank"} {
		db, err := store.Open(filepath.Join(n.dir, bank+".db"), store.Options{Buckets: store.RoleBuckets(config.RoleBank)})
		require.NoError(t, err)
		var custs int
		require.NoError(t, db.View(func(tx *store.Tx) error {
			return remitter.ScanCustomers(tx, func(ac string, c *remitter.Customer) (bool, error) {
				custs++
				assert.Empty(t, c.GetPin(), "%s: account %s keeps no plaintext PIN", bank, ac)
				assert.True(t, pin.Peppered(c.GetPinHash()), "%s: account %s keeps a peppered hash: %s", bank, ac, c.GetPinHash())
				return true, nil
			})
		}))
		require.NoError(t, db.Close())
		assert.NotZero(t, custs, bank)
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

// A bank with a new encryption key (its key file given a new X25519 key
// and signing key; the pepper of its PIN hashes kept, or no PIN would
// verify) answers U14 to a block sealed to its old key, which the TPAP
// still had from the list it cached; that answer makes the TPAP take a
// new list, and the next payment is sealed to the new key and goes
// through.
func TestBankWithNewKeys(t *testing.T) {
	n := up(t, nil)
	require.Equal(t, "SUCCESS", n.pay("alice@alpha", "bob@beta", "1.00", "1234").Status)
	alice := n.balance("alice@alpha")

	require.NoError(t, n.nw.Stop("abank"))
	path := keys.Path(n.dir, "abank")
	old, err := keys.Load(path)
	require.NoError(t, err)
	renewed, err := keys.Generate("abank", time.Now())
	require.NoError(t, err)
	renewed.Pepper, renewed.Secret = old.Pepper, old.Secret
	require.NoError(t, os.Remove(path))
	require.NoError(t, keys.Save(path, renewed))
	require.NoError(t, n.nw.Start("abank"))
	waitQuiet(t, n) // abank's ReqRegKeys reached the switch

	stale := n.pay("alice@alpha", "bob@beta", "1.00", "1234")
	assert.Equal(t, "FAILURE", stale.Status)
	assert.Equal(t, "U14", stale.ErrCode, "sealed to the key abank no longer has")
	assert.Equal(t, alice, n.balance("alice@alpha"), "nothing debited")

	again := n.pay("alice@alpha", "bob@beta", "1.00", "1234")
	assert.Equal(t, "SUCCESS", again.Status, "err code %s", again.ErrCode)
	assert.Equal(t, alice-100, n.balance("alice@alpha"))
}
