// Notifications to the TPAP app.

package psp

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/upi"
)

// notifyStatus tells user's app the transaction's status (TXN_STATUS).
func (p *PSP) notifyStatus(c *node.Ctx, r *txnRecord, user string, resp *upiv1.Resp) error {
	return p.notifyStatusLite(c, r, user, resp, nil)
}

// notifyStatusLite is notifyStatus with a Lite payment's lite_info (the
// RespPay's: the ARPC and the LRN's balance).
func (p *PSP) notifyStatusLite(c *node.Ctx, r *txnRecord, user string, resp *upiv1.Resp, l *upiv1.LiteInfo) error {
	out := &upiv1.Resp{Result: upiv1.Resp_Result(upiv1.Resp_Result_value[r.Status]), ErrCode: r.ErrCode}
	if resp != nil {
		out.Refs = resp.GetRefs()
	}
	return p.notifyApp(c, &upiv1.Notification{
		Txn:      &upiv1.Txn{Id: r.Id, Type: upiv1.Txn_Type(upiv1.Txn_Type_value[r.Type]), CustRef: r.Rrn, Note: r.Note},
		Kind:     upiv1.Notification_TXN_STATUS,
		UserAddr: user,
		Payer:    &upiv1.Party{Addr: r.PayerVpa, Name: r.PayerName, AmountPaise: r.AmountPaise, Currency: "INR"},
		Payee:    &upiv1.Party{Addr: r.PayeeVpa, Name: r.PayeeName, AmountPaise: r.AmountPaise, Currency: "INR"},
		Resp:     out,
		LiteInfo: l,
	})
}

// echoesBadField checks, by node.CheckLimits' rules, the fields of a
// notification that echo a PSP's record (the note, the names, the amount):
// the rest come from messages that passed those rules on arrival. It
// spares a full CheckLimits walk of every notification.
func echoesBadField(n *upiv1.Notification) error {
	for _, f := range []struct {
		field string
		full  protoreflect.FullName
		value string
	}{
		{"txn.note", "upi.v1.Txn.note", n.GetTxn().GetNote()},
		{"payer.name", "upi.v1.Party.name", n.GetPayer().GetName()},
		{"payee.name", "upi.v1.Party.name", n.GetPayee().GetName()},
	} {
		if err := node.CheckText(f.field, f.full, f.value); err != nil {
			return err
		}
	}
	if err := upi.CheckAmount("payer.amount_paise", n.GetPayer().GetAmountPaise()); err != nil {
		return err
	}
	return upi.CheckAmount("payee.amount_paise", n.GetPayee().GetAmountPaise())
}

// notifyApp sends n to the TPAP node, if the network has one.
//
// A notification the TPAP would refuse (node.CheckLimits: a record made
// before the app APIs checked notes and amounts can echo one the switch
// refused) would leave the app waiting for an outcome that never comes. So
// such a notification goes without what it echoes: the transaction id,
// type and RRN, the parties' addresses and the outcome are what the app
// needs, and it has the rest in its own record.
func (p *PSP) notifyApp(c *node.Ctx, n *upiv1.Notification) error {
	if p.tpapName == "" {
		return nil
	}
	if err := echoesBadField(n); err != nil {
		p.log.Warn("notification cut to what the app needs", "txn", n.GetTxn().GetId(), "reason", err)
		n = &upiv1.Notification{
			Txn:      &upiv1.Txn{Id: n.GetTxn().GetId(), Type: n.GetTxn().GetType(), CustRef: n.GetTxn().GetCustRef()},
			Kind:     n.GetKind(),
			UserAddr: n.GetUserAddr(),
			Payer:    &upiv1.Party{Addr: n.GetPayer().GetAddr()},
			Payee:    &upiv1.Party{Addr: n.GetPayee().GetAddr()},
			Resp:     &upiv1.Resp{Result: n.GetResp().GetResult(), ErrCode: n.GetResp().GetErrCode()},
			Lite:     n.GetLite(),
			LiteInfo: n.GetLiteInfo(),
		}
	}
	return c.Send(p.tpapName, upiv1.TpapService_Notify_FullMethodName, n)
}
