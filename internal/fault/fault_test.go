package fault

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

func credit(payer, payee string, amount int64) *upiv1.ReqPay {
	return &upiv1.ReqPay{
		Txn:   &upiv1.Txn{Type: upiv1.Txn_CREDIT},
		Payer: &upiv1.Party{Addr: payer, AmountPaise: amount},
		Payee: &upiv1.Party{Addr: payee, AmountPaise: amount},
	}
}

func TestMatch(t *testing.T) {
	m := credit("alice@alpha", "Bob@Beta", 15000)
	resp := &upiv1.RespPay{
		Txn:  &upiv1.Txn{Type: upiv1.Txn_DEBIT},
		Resp: &upiv1.Resp{Refs: []*upiv1.Ref{{Type: "PAYER", Addr: "alice@alpha", SettAmountPaise: 500}}},
	}
	for _, tt := range []struct {
		name  string
		match Match
		api   string
		msg   Message
		want  bool
	}{
		{"zero matches all", Match{}, "ReqPay", m, true},
		{"api, any case", Match{API: "reqpay"}, "ReqPay", m, true},
		{"other api", Match{API: "RespPay"}, "ReqPay", m, false},
		{"type", Match{Type: "CREDIT"}, "ReqPay", m, true},
		{"other type", Match{Type: "DEBIT"}, "ReqPay", m, false},
		{"payee, any case", Match{Payee: "bob@beta"}, "ReqPay", m, true},
		{"payer is not payee", Match{Payee: "alice@alpha"}, "ReqPay", m, false},
		{"vpa as payer", Match{VPA: "alice@alpha"}, "ReqPay", m, true},
		{"vpa as payee", Match{VPA: "bob@beta"}, "ReqPay", m, true},
		{"vpa of a ref", Match{VPA: "alice@alpha"}, "RespPay", resp, true},
		{"vpa nowhere", Match{VPA: "carol@beta"}, "RespPay", resp, false},
		{"peer", Match{Peer: "NPCI"}, "ReqPay", m, true},
		{"other peer", Match{Peer: "abank"}, "ReqPay", m, false},
		{"amount in range", Match{MinAmount: 15000, MaxAmount: 15000}, "ReqPay", m, true},
		{"below min", Match{MinAmount: 15001}, "ReqPay", m, false},
		{"above max", Match{MaxAmount: 14999}, "ReqPay", m, false},
		{"a ref's settled amount", Match{MaxAmount: 500}, "RespPay", resp, true},
		{"no amount never matches a bound", Match{MinAmount: 1}, "ReqHbt", &upiv1.ReqHbt{Txn: &upiv1.Txn{}}, false},
		{"every field must match", Match{API: "ReqPay", Type: "CREDIT", Payee: "bob@beta", Payer: "carol@beta"}, "ReqPay", m, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.match.Matches(tt.api, "npci", tt.msg))
		})
	}
}

func TestSet(t *testing.T) {
	rules := []Rule{
		{Name: "slow", Match: Match{API: "ReqPay"}, Fault: Fault{Delay: time.Second}},
		{Name: "fail", Node: "bbank", Match: Match{Type: "CREDIT"}, Decline: "U31"},
		{Name: "lost", Node: "bbank", Match: Match{Type: "CREDIT"}, Ignore: true},
		{Name: "twice", Node: "BBANK", Match: Match{Type: "CREDIT"}, Fault: Fault{Duplicate: true, Delay: 2 * time.Second}},
		{Name: "out", On: OnSend, Match: Match{API: "RespPay"}, Fault: Fault{LoseAcks: 1}},
		{Name: "out2", Node: "bbank", On: OnSend, Match: Match{API: "RespPay"}, Fault: Fault{FailSends: 2}},
	}
	assert.Nil(t, For(rules[1:4], "abank"), "no rule acts at abank")
	var none *Set
	assert.True(t, none.OnReceive("ReqPay", "npci", credit("a@b", "c@d", 1)).IsZero())
	assert.True(t, none.OnSend("RespPay", "npci", &upiv1.RespPay{}).IsZero())

	b := For(rules, "bbank")
	a := b.OnReceive("ReqPay", "npci", credit("a@b", "c@d", 1))
	assert.Equal(t, Action{
		Rule: "slow, fail, lost, twice", Decline: "U31",
		Fault: Fault{Delay: 2 * time.Second, Duplicate: true, Rule: "slow, twice"},
	}, a, "the first decline or ignore, every fault merged")
	assert.Equal(t, "declined with U31; its answer delayed 2s, sent twice (rule slow, fail, lost, twice)", a.Note())

	f := b.OnSend("RespPay", "npci", &upiv1.RespPay{Txn: &upiv1.Txn{}})
	assert.Equal(t, Fault{LoseAcks: 1, FailSends: 2, Rule: "out, out2"}, f)
	assert.Equal(t, "first 2 send(s) fail, first 1 ack(s) lost (rule out, out2)", f.String())

	abank := For(rules, "abank")
	assert.Equal(t, Fault{Delay: time.Second, Rule: "slow"}, abank.OnReceive("ReqPay", "npci", credit("a@b", "c@d", 1)).Fault)
	assert.True(t, abank.OnReceive("RespPay", "npci", &upiv1.RespPay{Txn: &upiv1.Txn{}}).IsZero())
}

func TestFaultString(t *testing.T) {
	assert.Empty(t, Fault{}.String())
	assert.Equal(t, "dropped: never sent (rule deemed)", Fault{Drop: true, Delay: time.Second, Rule: "deemed"}.String())
	assert.Equal(t, "delayed 20s", Fault{Delay: 20 * time.Second}.String())
	assert.Equal(t, "ignored: never processed, never answered (rule lost)", Action{Rule: "lost", Ignore: true}.Note())
	assert.Empty(t, Action{}.Note())
}
