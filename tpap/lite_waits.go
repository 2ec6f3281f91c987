package tpap

import "sync"

// callWaits hands a Lite call's answer to the app call waiting for it
// (waitCall): the device as the step that decided the call committed it,
// so that the waiter need not read it again. A POS's device holds every
// record it has received, and a sync read it once more on its way out.
//
// Only a call expected (expect, before it is sent) is handed a device: an
// answer nobody waits for leaves nothing behind.
type callWaits struct {
	mu sync.Mutex
	// txn id → the device once its call is decided (nil until then).
	m map[string]*liteDevice
}

// expect registers call txnID before it is sent; stop forgets it.
func (w *callWaits) expect(txnID string) (stop func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*liteDevice{}
	}
	w.m[txnID] = nil
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.m, txnID)
	}
}

// expecting reports whether call txnID is expected.
func (w *callWaits) expecting(txnID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.m[txnID]
	return ok
}

// deliver hands d, as its step committed it with call txnID decided, to
// the call's waiter, if one expects it. d must not change afterwards.
func (w *callWaits) deliver(txnID string, d *liteDevice) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.m[txnID]; ok {
		w.m[txnID] = d
	}
}

// delivered is the device handed for call txnID, nil when none is.
func (w *callWaits) delivered(txnID string) *liteDevice {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[txnID]
}
