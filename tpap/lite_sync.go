// UPI Lite's sync at the TPAP (docs/FLOWS.md, UPI Lite, Sync): a device
// coming online (SetLiteOnline) or asked to (SyncLite) sends every record
// no sync answered final, with its balance, as one PspAppService.SyncLite
// batch; the PSP's LITE_SYNC notification answers it record by record and
// re-bases the wallet. A merchant's device first reports each record that
// names an order to its merchant backend (POST /upi-attempts).

package tpap

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
	"github.com/upisim/upisim/internal/store"
)

// SetLiteOnline takes a device offline (no sync) or online (it syncs).
// Going online is one step with the sync's own (syncDevice): the device is
// read once for both.
func (x *TPAP) SetLiteOnline(ctx context.Context, r *upiv1.SetLiteOnlineRequest) (*upiv1.LiteSyncResult, error) {
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	if err := validDeviceID(r.GetDeviceId()); err != nil {
		return nil, err
	}
	if r.GetOnline() {
		return x.syncDevice(ctx, r.GetDeviceId(), deadline, true)
	}
	var d *liteDevice
	err = x.n.Update(func(c *node.Ctx) error {
		var err error
		if d, err = getDevice(c.Tx, r.GetDeviceId()); err != nil {
			return err
		}
		d.Offline, d.Updated = true, store.Nanos(c.Now())
		return liteDevices.Put(c.Tx, d.DeviceId, d)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &upiv1.LiteSyncResult{Status: upiv1.Resp_SUCCESS, Wallet: x.wallet(d)}, nil
}

// SyncLite syncs an online device now.
func (x *TPAP) SyncLite(ctx context.Context, r *upiv1.TpapAppServiceSyncLiteRequest) (*upiv1.LiteSyncResult, error) {
	deadline, err := deadlineOf(r.GetWaitMs())
	if err != nil {
		return nil, err
	}
	d, err := x.loadDevice(r.GetDeviceId())
	if err != nil {
		return nil, err
	}
	if d.GetOffline() {
		return nil, status.Errorf(codes.FailedPrecondition, "device %s is offline (LO): set it online to sync", d.GetDeviceId())
	}
	return x.syncDevice(ctx, r.GetDeviceId(), deadline, false)
}

// attempt is the body of a merchant device's POST /upi-attempts.
type attempt struct {
	OrderID        string `json:"order_id"`
	DeviceID       string `json:"device_id"`
	Method         string `json:"method"`
	DeclaredAmount int64  `json:"declared_amount_cents"`
	PayerVPA       string `json:"payer_vpa"`
	UTR            string `json:"utr"`
}

// attemptsURL is the merchant API's /upi-attempts on psp's REST port.
func (x *TPAP) attemptsURL(psp *config.Node) (string, error) {
	if psp.HTTPAddr == "" {
		return "", fmt.Errorf("PSP %s has no http_addr", psp.Name)
	}
	// A node's REST port is plain HTTP on loopback whether or not its gRPC
	// port has mutual TLS (ARCHITECTURE.md, Invariants).
	return "http://" + psp.HTTPAddr + "/upi-attempts", nil
}

// reportAttempts queues, in the step, the merchant device d's reports of
// its RECEIVED records naming an order, and marks them reported.
func (x *TPAP) reportAttempts(c *node.Ctx, d *liteDevice) error {
	m := x.merchantOf(d.GetVpa())
	if m == nil || m.APIKey == "" {
		return nil
	}
	psp, ok := x.cfg.Network.PSPForVPA(m.VPA)
	if !ok {
		return nil
	}
	for _, r := range d.GetUnsynced() {
		rec := r.GetRecord()
		if r.GetDirection() != dirReceived || rec.GetOrderId() == "" || r.GetReported() {
			continue
		}
		url, err := x.attemptsURL(psp)
		if err != nil {
			x.log.Warn("cannot report a Lite record to the merchant", "device", d.GetDeviceId(), "err", err)
			return nil
		}
		body, err := json.Marshal(attempt{OrderID: rec.GetOrderId(), DeviceID: d.GetDeviceId(), Method: "upi_lite",
			DeclaredAmount: rec.GetAmountPaise(), PayerVPA: rec.GetPayerAddr(), UTR: rec.GetProvisionalUtr()})
		if err != nil {
			return err
		}
		txn := r.GetTxnId()
		if !ids.ValidID(txn) {
			txn = ids.NewTxnID(x.n.Prefix())
		}
		if err := c.Post(url, map[string]string{
			"Authorization":   "Bearer " + m.APIKey,
			"Idempotency-Key": rec.GetProvisionalUtr(),
			"Content-Type":    "application/json",
		}, body, txn); err != nil {
			return err
		}
		r.Reported = true
	}
	return nil
}

// syncDevice sends device id's unsynced records and balance as one batch
// and waits, until deadline, for the answer; online first sets the device
// online, in the same step (and even when no PSP can take the batch). The
// device is read once for it: a POS's holds every record it has received.
func (x *TPAP) syncDevice(ctx context.Context, id string, deadline time.Time, online bool) (*upiv1.LiteSyncResult, error) {
	if err := x.n.Acquire(); err != nil {
		return nil, err
	}
	var (
		d      *liteDevice
		psp    *config.Node
		cl     upiv1.PspAppServiceClient
		pspErr error
		req    *upiv1.SyncLiteRequest
	)
	err := x.n.Update(func(c *node.Ctx) error {
		var err error
		if d, err = getDevice(c.Tx, id); err != nil {
			return err
		}
		now := store.Nanos(c.Now())
		if online {
			d.Offline, d.Updated = false, now
		}
		if psp, cl, pspErr = x.litePSP(d.GetVpa()); pspErr != nil {
			if !online {
				return pspErr
			}
			return liteDevices.Put(c.Tx, id, d)
		}
		if err := x.reportAttempts(c, d); err != nil {
			return err
		}
		if d.GetLrn() != "" || len(d.GetUnsynced()) > 0 {
			req = &upiv1.SyncLiteRequest{TxnId: ids.NewTxnID(psp.Prefix), UserVpa: d.GetVpa(), DeviceId: id, Lrn: d.GetLrn(),
				DeviceBalancePaise: d.GetBalancePaise()}
			for i, r := range d.GetUnsynced() {
				if i == node.MaxLiteBatch {
					break // the rest go with the next sync
				}
				req.Records = append(req.Records, r.GetRecord())
			}
			d.Pending = append(d.Pending, &litePending{TxnId: req.TxnId, Kind: kindSync, Created: now})
		}
		d.Updated = now
		return liteDevices.Put(c.Tx, id, d)
	})
	if err == nil {
		err = pspErr
	}
	if err != nil {
		x.n.Release()
		return nil, storeErr(err)
	}
	if req == nil {
		x.n.Release()
		return &upiv1.LiteSyncResult{Status: upiv1.Resp_SUCCESS, Wallet: x.wallet(d)}, nil
	}
	txnID := req.TxnId
	// Nothing decides the call before the PSP has it.
	defer x.waits.expect(txnID)()
	_, err = callPSP(ctx, psp.Name, func(ctx context.Context) (*upiv1.SyncLiteResponse, error) {
		return cl.SyncLite(ctx, req)
	})
	x.n.Release()
	if err != nil {
		x.undoCall(id, txnID, false)
		return nil, err
	}
	d, p, err := x.waitCall(ctx, id, txnID, deadline)
	if err != nil {
		return nil, err
	}
	out := &upiv1.LiteSyncResult{TxnId: txnID, Status: upiv1.Resp_PENDING, Wallet: x.wallet(d)}
	if p != nil && p.GetDone() {
		out.Status, out.Synced = upiv1.Resp_SUCCESS, p.GetResults()
	}
	return out, nil
}

// applySync applies a sync batch's answer to its device: each record
// answered SUCCESS or FAILURE moves to synced, PENDING ones stay; the
// wallet is re-based on the device's LRN balance less its SENT records
// still unsynced, unless one of them was answered PENDING or the balance is
// no newer than the one the wallet was last re-based on (then only a
// FAILURE record's money comes back, and a later sync re-bases it).
func applySync(d *liteDevice, p *litePending, ans *upiv1.RespLiteSync, now int64) {
	type key struct {
		lrn     string
		counter uint64
	}
	results := map[key]*upiv1.LiteRecordResult{}
	for _, r := range ans.GetResults() {
		results[key{r.GetLrn(), r.GetCounter()}] = r
	}
	keep := d.Unsynced[:0]
	var failedBack int64
	// A SENT record answered PENDING may be debited at the bank already
	// (another batch is posting it): the answer's balance may or may not
	// include it, so it cannot re-base the wallet.
	ambiguous := false
	for _, r := range d.Unsynced {
		res, ok := results[key{r.GetRecord().GetLrn(), r.GetRecord().GetCounter()}]
		if !ok || (res.GetResult() != upiv1.Resp_SUCCESS && res.GetResult() != upiv1.Resp_FAILURE) {
			if ok && r.GetDirection() == dirSent {
				ambiguous = true
			}
			keep = append(keep, r)
			continue
		}
		r.Status, r.Utr, r.ErrCode = res.GetResult().String(), res.GetUtr(), res.GetErrCode()
		if r.GetDirection() == dirSent && res.GetResult() == upiv1.Resp_FAILURE {
			failedBack += r.GetRecord().GetAmountPaise()
		}
		d.Synced = append(d.Synced, r)
	}
	d.Unsynced = keep
	if n := len(d.Synced); n > maxSynced {
		d.Synced = d.Synced[n-maxSynced:]
	}
	var sentUnsynced int64
	sentLeft := false
	for _, r := range d.Unsynced {
		if r.GetDirection() == dirSent {
			sentUnsynced += r.GetRecord().GetAmountPaise()
			sentLeft = true
		}
	}
	rebased := false
	for _, b := range ans.GetBalances() {
		if d.GetLrn() != "" && b.GetLrn() == d.GetLrn() {
			if b.GetVersion() <= d.GetRebaseVersion() {
				// Older than the balance the wallet stands on: a sync
				// answered before another and delivered after it (a
				// retried notification after a crash). Its balance may
				// lack records the newer answer already moved to synced.
				continue
			}
			d.ReportedBalancePaise, d.ReportedAt = b.GetBalancePaise(), now
			if ambiguous {
				continue
			}
			d.BalancePaise = b.GetBalancePaise() - sentUnsynced
			d.RebaseVersion = b.GetVersion()
			d.Untrusted, d.UntrustedReason = false, ""
			rebased = true
		}
	}
	if !rebased {
		// No balance to re-base on: a failed record's money is back.
		d.BalancePaise += failedBack
	}
	if !sentLeft {
		d.OfflineSinceSync = 0
	}
	d.LastSync = now
	p.Results = ans.GetResults()
}

// findPendingOf is findPending with a hint: the device the notification
// names (a sync answer's, a Lite payment's), read by its key, when it holds
// the call; else every device is searched. Scanning every device (and
// every record it holds) for each answer made a sync's cost grow with the
// number of devices.
func findPendingOf(tx *store.Tx, deviceID, txnID string) (*liteDevice, *litePending, error) {
	if deviceID != "" {
		d, ok, err := liteDevices.Get(tx, deviceID)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			if p := pendingOf(d, txnID); p != nil {
				return d, p, nil
			}
		}
	}
	return findPending(tx, txnID)
}

// pendingHint is the device a Lite notification is likely the call of:
// the one it names, or for a payee's LITE_SYNC confirmation (which names
// none) the receiving device of its first record, the POS that sent the
// batch when it synced its own.
func pendingHint(m *upiv1.Notification) string {
	if id := m.GetLiteInfo().GetDeviceId(); id != "" {
		return id
	}
	if m.GetKind() == upiv1.Notification_LITE_SYNC {
		if rs := m.GetLite().GetResults(); len(rs) > 0 {
			return rs[0].GetPayeeDeviceId()
		}
	}
	return ""
}
