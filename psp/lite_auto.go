package psp

// UPI Lite auto top-up at the payer's PSP (docs/FLOWS.md, "Auto top-up
// (Lite mandate)"): it passes the device's Lite mandate on. InitiatePay
// purpose 71 is a top-up with the PIN and lite{umn, auto_threshold_paise,
// auto_amount_paise}; purpose 42 with lite.umn and no cred is a top-up
// under the mandate. DisableLite with umn revokes the LRN's mandate
// (ReqChkTxn LITE_SYNC purpose 71); its answer comes back as a
// LITE_STATUS notification of purpose 71.

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/lite"
	"github.com/upisim/upisim/internal/node"
)

// liteRevoke is the kind of a liteRequest revoking a Lite mandate.
const liteRevoke = "REVOKE"

// maxUMN is the longest UMN a Lite mandate may have.
const maxUMN = 35

// chkPurpose is txn.purpose of r's ReqChkTxn LITE_SYNC: 71 for a
// revocation, 50 for a zero-balance disable.
func chkPurpose(r *liteRequest) string {
	if r.Kind == liteRevoke {
		return lite.PurposeAutoTopUpSetup
	}
	return lite.PurposeZeroDisable
}

// checkLiteMandate checks a top-up's cred and mandate part: a 41 or 71
// needs the PIN; a 42 the PIN, or lite.umn and no cred (under the
// mandate); a 71 its UMN, threshold and amount.
func checkLiteMandate(purpose string, l *upiv1.LiteInfo, cred *upiv1.Cred) error {
	umn := l.GetUmn()
	if len(umn) > maxUMN {
		return invalid("lite.umn: at most %d characters, got %d", maxUMN, len(umn))
	}
	switch {
	case purpose == lite.PurposeTopUp && umn != "" && cred != nil:
		return invalid("cred: a top-up under Lite mandate %s takes no PIN", umn)
	case purpose == lite.PurposeTopUp && umn != "":
		return nil
	case purpose == lite.PurposeAutoTopUpSetup && (umn == "" || l.GetAutoThresholdPaise() <= 0 || l.GetAutoAmountPaise() <= 0):
		return invalid("lite: a Lite mandate's set-up (71) needs umn, auto_threshold_paise > 0 and auto_amount_paise > 0")
	case purpose != lite.PurposeAutoTopUpSetup && (umn != "" || l.GetAutoThresholdPaise() != 0 || l.GetAutoAmountPaise() != 0):
		return invalid("lite: purpose %s takes no Lite mandate's set-up (that is purpose 71)", purpose)
	}
	return checkCred(cred)
}

// revokeLiteMandate is DisableLite with umn: ReqChkTxn LITE_SYNC purpose
// 71 naming the LRN's mandate.
func (p *PSP) revokeLiteMandate(req *upiv1.DisableLiteRequest) (*upiv1.DisableLiteResponse, error) {
	user, err := checkVPA("user_vpa", req.GetUserVpa())
	if err != nil {
		return nil, err
	}
	if err := checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	if err := checkLRN("lrn", req.GetLrn()); err != nil {
		return nil, err
	}
	if len(req.GetUmn()) > maxUMN {
		return nil, invalid("umn: at most %d characters, got %d", maxUMN, len(req.GetUmn()))
	}
	txnID, err := p.checkTxnID(req.GetTxnId())
	if err != nil {
		return nil, err
	}
	fp := fingerprint(liteRevoke, user, req.GetDeviceId(), req.GetLrn(), req.GetUmn())
	r := &liteRequest{TxnId: txnID, Kind: liteRevoke, UserVpa: user, DeviceId: req.GetDeviceId(), Lrn: req.GetLrn(), Fingerprint: fp}
	err = p.sendLite(r, "user", func(c *node.Ctx, _ *vpaRecord) (string, node.Message) {
		return upiv1.SwitchService_ReqChkTxn_FullMethodName, &upiv1.ReqChkTxn{
			Txn: &upiv1.Txn{Id: txnID, Type: upiv1.Txn_CHK_STATUS, SubType: upiv1.Txn_LITE_SYNC,
				Purpose: lite.PurposeAutoTopUpSetup, Ts: timestamppb.New(c.Now())},
			Lite: &upiv1.LiteInfo{Lrn: req.GetLrn(), DeviceId: req.GetDeviceId(), Umn: req.GetUmn()},
		}
	})
	if err != nil {
		return nil, err
	}
	return &upiv1.DisableLiteResponse{TxnId: txnID}, nil
}
