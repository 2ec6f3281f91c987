package node

import "sync"

// waiters lets API calls wait for a handler to change something (a long
// poll) without polling the store.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

func (w *waiters) watch(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[string]map[chan struct{}]struct{})
	}
	if w.m[key] == nil {
		w.m[key] = make(map[chan struct{}]struct{})
	}
	w.m[key][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		if set, ok := w.m[key]; ok {
			if _, ok := set[ch]; ok {
				delete(set, ch)
				if len(set) == 0 {
					delete(w.m, key)
				}
			}
		}
		w.mu.Unlock()
	}
}

func (w *waiters) notify(key string) {
	w.mu.Lock()
	set := w.m[key]
	delete(w.m, key)
	w.mu.Unlock()
	for ch := range set {
		close(ch)
	}
}
