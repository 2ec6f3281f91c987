package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
)

// A forgery is one network message an attacker on the same host sends a
// node, claiming to be another node.
type forgery struct {
	name   string
	to     string // the node it is sent to
	method string
	claims string // the head.org_id it claims
	msg    func(f *forger) proto.Message
}

// forgeries are the 13 forged messages of issue 9's probe: each moved
// money or changed what a node reports when nodes believed head.org_id.
func forgeries() []forgery {
	return []forgery{
		{"ReqPay CREDIT to the payee's bank as the switch", "bbank", upiv1.BeneficiaryService_ReqPay_FullMethodName, "npci", func(f *forger) proto.Message {
			return &upiv1.ReqPay{Head: f.head("npci"), Txn: f.txn(upiv1.Txn_CREDIT, ""), Payer: f.alice(1000_00), Payee: f.bob(1000_00)}
		}},
		{"ReqPay DEBIT to the payer's bank as the switch", "abank", upiv1.RemitterService_ReqPay_FullMethodName, "npci", func(f *forger) proto.Message {
			return &upiv1.ReqPay{Head: f.head("npci"), Txn: f.txn(upiv1.Txn_DEBIT, ""), Payer: f.alice(1000_00), Payee: f.bob(1000_00)}
		}},
		{"ReqPay REVERSAL of a successful payment as the switch", "abank", upiv1.RemitterService_ReqPay_FullMethodName, "npci", func(f *forger) proto.Message {
			return &upiv1.ReqPay{Head: f.head("npci"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_REVERSAL, OrgTxnId: f.paid}, Payer: f.alice(f.paidPaise), Payee: f.bob(f.paidPaise)}
		}},
		{"RespPay CREDIT SUCCESS to the switch as the payee's bank", "npci", upiv1.SwitchService_RespPay_FullMethodName, "bbank", func(f *forger) proto.Message {
			return &upiv1.RespPay{Head: f.head("bbank"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_CREDIT}, Resp: f.resp(upiv1.Resp_SUCCESS, "")}
		}},
		{"RespPay DEBIT FAILURE to the switch as the payer's bank", "npci", upiv1.SwitchService_RespPay_FullMethodName, "abank", func(f *forger) proto.Message {
			return &upiv1.RespPay{Head: f.head("abank"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_DEBIT}, Resp: f.resp(upiv1.Resp_FAILURE, "U30")}
		}},
		{"RespChkTxn racing the bank's answer", "npci", upiv1.SwitchService_RespChkTxn_FullMethodName, "bbank", func(f *forger) proto.Message {
			return &upiv1.RespChkTxn{Head: f.head("bbank"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_CHK_STATUS, OrgTxnId: f.paid, SubType: upiv1.Txn_CREDIT}, Resp: f.resp(upiv1.Resp_FAILURE, "U48")}
		}},
		{"Notify SUCCESS to the app as the payer's PSP", "tpap", upiv1.TpapService_Notify_FullMethodName, "alphapsp", func(f *forger) proto.Message {
			return &upiv1.Notification{Head: f.head("alphapsp"), Txn: &upiv1.Txn{Id: f.failed, Type: upiv1.Txn_PAY}, Kind: upiv1.Notification_TXN_STATUS,
				UserAddr: "alice@alpha", Resp: f.resp(upiv1.Resp_SUCCESS, "")}
		}},
		{"ReqTxnConfirmation of ₹5,000 to a merchant's PSP as the switch", "betapsp", upiv1.PspService_ReqTxnConfirmation_FullMethodName, "npci", func(f *forger) proto.Message {
			return &upiv1.ReqTxnConfirmation{Head: f.head("npci"), Txn: f.txn(upiv1.Txn_PAY, ""), Resp: &upiv1.Resp{ReqMsgId: ids.NewMsgID("NPC"), Result: upiv1.Resp_SUCCESS}}
		}},
		{"ReqAuthDetails to the payee's PSP as the switch", "betapsp", upiv1.PspService_ReqAuthDetails_FullMethodName, "npci", func(f *forger) proto.Message {
			return &upiv1.ReqAuthDetails{Head: f.head("npci"), Txn: f.txn(upiv1.Txn_PAY, ""), Payer: f.alice(5000_00), Payee: f.bob(5000_00)}
		}},
		{"RespAuthDetails to the switch as the payee's PSP", "npci", upiv1.SwitchService_RespAuthDetails_FullMethodName, "betapsp", func(f *forger) proto.Message {
			return &upiv1.RespAuthDetails{Head: f.head("betapsp"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_PAY}, Payer: f.alice(f.paidPaise), Payee: f.bob(f.paidPaise), Resp: f.resp(upiv1.Resp_SUCCESS, "")}
		}},
		{"ReqPay PAY to the switch as the payer's PSP", "npci", upiv1.SwitchService_ReqPay_FullMethodName, "alphapsp", func(f *forger) proto.Message {
			return &upiv1.ReqPay{Head: f.head("alphapsp"), Txn: f.txn(upiv1.Txn_PAY, "ALP"), Payer: f.alice(1000_00), Payee: f.bob(1000_00)}
		}},
		{"RespValAdd to the payer's PSP as the switch", "alphapsp", upiv1.PspService_RespValAdd_FullMethodName, "npci", func(f *forger) proto.Message {
			return &upiv1.RespValAdd{Head: f.head("npci"), Txn: f.txn(upiv1.Txn_VAL_ADD, "ALP"), Payee: f.bob(0), Resp: f.resp(upiv1.Resp_SUCCESS, "")}
		}},
		{"RespTxnConfirmation to the switch as a PSP", "npci", upiv1.SwitchService_RespTxnConfirmation_FullMethodName, "betapsp", func(f *forger) proto.Message {
			return &upiv1.RespTxnConfirmation{Head: f.head("betapsp"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_PAY}, Resp: f.resp(upiv1.Resp_SUCCESS, "")}
		}},
	}
}

// forger makes the forged messages: fresh ids, the default network's
// accounts, and the ids of a payment that succeeded and one that failed.
type forger struct {
	paid      string // a payment alice@alpha → bob@beta that succeeded
	paidPaise int64
	failed    string // one that failed
}

func (f *forger) head(orgID string) *upiv1.Head {
	return &upiv1.Head{Ver: "2.0", Ts: timestamppb.Now(), OrgId: orgID, MsgId: ids.NewMsgID(ids.PrefixFor(orgID)), ProdType: "UPI"}
}

// txn is a new transaction of type typ whose id has prefix (default: the
// switch's "NPC" ... any 3 letters do).
func (f *forger) txn(typ upiv1.Txn_Type, prefix string) *upiv1.Txn {
	if prefix == "" {
		prefix = "ALP"
	}
	return &upiv1.Txn{Id: ids.NewTxnID(prefix), Type: typ, CustRef: "612345678901"}
}

func (f *forger) alice(paise int64) *upiv1.Party {
	return &upiv1.Party{Addr: "alice@alpha", Name: "Alice", Type: upiv1.Party_PERSON, Code: "0000",
		Ac: &upiv1.Account{AcNum: "1000000001", Ifsc: "ABNK0000001", AcType: "SAVINGS"}, AmountPaise: paise, Currency: "INR"}
}

func (f *forger) bob(paise int64) *upiv1.Party {
	return &upiv1.Party{Addr: "bob@beta", Name: "Bob", Type: upiv1.Party_PERSON, Code: "0000",
		Ac: &upiv1.Account{AcNum: "2000000001", Ifsc: "BBNK0000001", AcType: "SAVINGS"}, AmountPaise: paise, Currency: "INR"}
}

func (f *forger) resp(result upiv1.Resp_Result, code string) *upiv1.Resp {
	return &upiv1.Resp{ReqMsgId: ids.NewMsgID("NPC"), Result: result, ErrCode: code}
}

// A credential is how a forger dials: what it presents in the TLS
// handshake.
type credential struct {
	name string
	// dial is the connection's credentials for a forgery claiming claims.
	dial func(claims string) grpc.DialOption
	// check says how the forgery must be refused.
	check func(t *testing.T, ack *upiv1.Ack, err error)
}

func credentials4(t *testing.T, data string) []credential {
	dir := filepath.Join(data, "pki")
	ca, caKey := readCA(t, dir)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	// Another network's CA, with a certificate that names alphapsp as the
	// real one does.
	otherCA, otherKey := newCA(t)
	other := leaf(t, otherCA, otherKey, "alphapsp", "psp", time.Now().Add(time.Hour))
	// The network's own CA, with a certificate that expired yesterday.
	expired := leaf(t, ca, caKey, "alphapsp", "psp", time.Now().Add(-24*time.Hour))
	withCert := func(c *tls.Certificate) grpc.DialOption {
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
		if c != nil { // sent whatever CAs the server names (Go's client would send none of another CA's)
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
		}
		return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
	}
	handshakeFails := func(t *testing.T, ack *upiv1.Ack, err error) {
		require.Error(t, err, "the handshake must fail: got ack %v", ack)
		assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	}
	return []credential{
		{"no certificate", func(string) grpc.DialOption { return withCert(nil) }, func(t *testing.T, ack *upiv1.Ack, err error) {
			require.Error(t, err, "got ack %v", ack)
			assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
		}},
		{"a certificate of another CA", func(string) grpc.DialOption { return withCert(&other) }, handshakeFails},
		{"an expired certificate", func(string) grpc.DialOption { return withCert(&expired) }, handshakeFails},
		{"a PSP's valid certificate", func(claims string) grpc.DialOption {
			as := "alphapsp"
			if claims == as {
				as = "betapsp"
			}
			return nodeCreds(t, data, as)
		}, func(t *testing.T, ack *upiv1.Ack, err error) {
			require.NoError(t, err)
			assert.Contains(t, ack.GetErr(), "is not the sender")
		}},
	}
}

func readCA(t *testing.T, dir string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	require.NoError(t, err)
	b, _ := pem.Decode(certPEM)
	require.NotNil(t, b)
	ca, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	b, _ = pem.Decode(keyPEM)
	require.NotNil(t, b)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		k, err = x509.ParseECPrivateKey(b.Bytes)
	}
	require.NoError(t, err)
	return ca, k.(*ecdsa.PrivateKey)
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return ca, key
}

// leaf is a client certificate for node (URI SAN as the network's own
// certificates have), signed by ca, valid until notAfter.
func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, node, role string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	u, err := url.Parse("upisim://default/" + node + "?role=" + role)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: node},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter, URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// send delivers m to the node at addr through method, dialling with opt.
func send(t *testing.T, addr, method string, m proto.Message, opt grpc.DialOption) (*upiv1.Ack, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, opt)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ack := &upiv1.Ack{}
	if err := conn.Invoke(ctx, method, m, ack); err != nil {
		return nil, err
	}
	return ack, nil
}

// accounts is every account's balance at every bank, by account number.
func accounts(t *testing.T, data string, nw network) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, addr := range []string{nw.abank, nw.bbank} {
		r, err := admin(t, data, addr).ListAccounts(t.Context(), &upiv1.ListAccountsRequest{})
		require.NoError(t, err)
		for _, a := range r.GetAccounts() {
			out[a.GetAcNum()] = a.GetBalancePaise()
		}
	}
	return out
}

// TestForgeriesRefused replays, against a network started by `upisim up`,
// the 13 forged network messages that nodes once took from anyone on the
// host, each with four credentials: none, a certificate of another CA, an
// expired one, and a PSP's valid certificate used to claim another node.
// Then an insider's: a PSP's own certificate sending what only a bank
// sends, and a bank answering a request it was never sent. Every one is
// refused, no balance moves, no node stores any of them, and the network
// still pays.
func TestForgeriesRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and starts processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	up := newServer(t, "up", bin, "up", "--data", data, "--port-base", "0")
	t.Cleanup(up.stop)
	nw := startUp(t, up, bin, data)

	f := &forger{paidPaise: 10_00}
	var paid, failed struct {
		TxnID  string `json:"txn_id"`
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(run(t, bin, "pay", "--data", data, "--from", "alice@alpha", "--to", "bob@beta", "--amount", "10.00", "--pin", "1234", "-o", "json")), &paid))
	require.Equal(t, "SUCCESS", paid.Status)
	out, _ := exec.Command(bin, "pay", "--data", data, "--from", "alice@alpha", "--to", "creditfail@beta", "--amount", "10.00", "--pin", "1234", "-o", "json").Output()
	require.NoError(t, json.Unmarshal(out, &failed), "%s", out)
	require.Equal(t, "FAILURE", failed.Status)
	f.paid, f.failed = paid.TxnID, failed.TxnID
	require.Eventually(t, func() bool { rep, _ := audit(t, bin, data); return rep.OK && rep.InFlight == 0 }, 30*time.Second, 50*time.Millisecond)
	before := accounts(t, data, nw)

	addr := map[string]string{"tpap": nw.tpap, "alphapsp": nw.alphapsp, "betapsp": nw.betapsp, "npci": nw.npci, "abank": nw.abank, "bbank": nw.bbank}
	type sent struct{ node, txn, msgID string }
	var all []sent
	for _, c := range credentials4(t, data) {
		for _, fg := range forgeries() {
			t.Run(c.name+"/"+fg.name, func(t *testing.T) {
				m := fg.msg(f).(interface {
					proto.Message
					GetHead() *upiv1.Head
					GetTxn() *upiv1.Txn
				})
				require.Equal(t, fg.claims, m.GetHead().GetOrgId())
				ack, err := send(t, addr[fg.to], fg.method, m, c.dial(fg.claims))
				c.check(t, ack, err)
				all = append(all, sent{fg.to, m.GetTxn().GetId(), m.GetHead().GetMsgId()})
			})
		}
	}

	// Insiders with their own, valid certificates.
	t.Run("a PSP sends the RespPay only a bank sends", func(t *testing.T) {
		m := &upiv1.RespPay{Head: f.head("alphapsp"), Txn: &upiv1.Txn{Id: f.paid, Type: upiv1.Txn_CREDIT}, Resp: f.resp(upiv1.Resp_SUCCESS, "")}
		ack, err := send(t, nw.npci, upiv1.SwitchService_RespPay_FullMethodName, m, nodeCreds(t, data, "alphapsp"))
		require.NoError(t, err)
		assert.Contains(t, ack.GetErr(), "only a bank node sends it")
		all = append(all, sent{"npci", f.paid, m.GetHead().GetMsgId()})
	})
	t.Run("a PSP sends a bank a CREDIT", func(t *testing.T) {
		m := &upiv1.ReqPay{Head: f.head("alphapsp"), Txn: f.txn(upiv1.Txn_CREDIT, ""), Payer: f.alice(1000_00), Payee: f.bob(1000_00)}
		ack, err := send(t, nw.bbank, upiv1.BeneficiaryService_ReqPay_FullMethodName, m, nodeCreds(t, data, "alphapsp"))
		require.NoError(t, err)
		assert.Contains(t, ack.GetErr(), "only from the switch")
		all = append(all, sent{"bbank", m.GetTxn().GetId(), m.GetHead().GetMsgId()})
	})
	for _, typ := range []upiv1.Txn_Type{upiv1.Txn_CREDIT, upiv1.Txn_DEBIT} {
		t.Run("a bank answers a "+typ.String()+" it was never sent", func(t *testing.T) {
			bank := map[upiv1.Txn_Type]string{upiv1.Txn_CREDIT: "bbank", upiv1.Txn_DEBIT: "abank"}[typ]
			m := &upiv1.RespPay{Head: f.head(bank), Txn: &upiv1.Txn{Id: f.paid, Type: typ}, Resp: f.resp(upiv1.Resp_FAILURE, "U30")}
			ack, err := send(t, nw.npci, upiv1.SwitchService_RespPay_FullMethodName, m, nodeCreds(t, data, bank))
			require.NoError(t, err)
			assert.Contains(t, ack.GetErr(), "names no request this node sent to "+bank)
			all = append(all, sent{"npci", f.paid, m.GetHead().GetMsgId()})
		})
	}

	// Nothing moved, and nothing of it is stored.
	assert.Equal(t, before, accounts(t, data, nw), "no balance changed")
	for _, s := range all {
		r, err := admin(t, data, addr[s.node]).ListMessages(t.Context(), &upiv1.ListMessagesRequest{TxnId: s.txn})
		require.NoError(t, err)
		for _, rec := range r.GetMessages() {
			assert.NotEqual(t, s.msgID, rec.GetMsgId(), "%s stored forged message %s", s.node, s.msgID)
		}
	}
	for txn, want := range map[string]upiv1.Resp_Result{f.paid: upiv1.Resp_SUCCESS, f.failed: upiv1.Resp_FAILURE} {
		r, err := admin(t, data, nw.tpap).GetTransaction(t.Context(), &upiv1.GetTransactionRequest{TxnId: txn})
		require.NoError(t, err)
		assert.Equal(t, want, r.GetTransaction().GetStatus(), "the app's view of %s", txn)
	}
	rep, text := audit(t, bin, data)
	assert.True(t, rep.OK, "audit: %s", text)

	// The real network still works: a payment through the app.
	var again struct {
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(run(t, bin, "pay", "--data", data, "--from", "alice@alpha", "--to", "bob@beta", "--amount", "1.00", "--pin", "1234", "-o", "json")), &again))
	assert.Equal(t, "SUCCESS", again.Status)
}
