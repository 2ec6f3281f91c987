package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
)

// linkLoad links carol@beta to alice@alpha (partial), over and over, while
// a crash test kills nodes: each round creates the link, waits for the
// invite, accepts it, waits for LINKED, removes it and waits for DELINKED.
// Calls that fail while a node is down are tried again; a link is left to
// the next round once its wait runs out, and the checks afterwards find
// every link settled and both PSPs agreeing.
type linkLoad struct {
	t       *testing.T
	tp      upiv1.TpapAppServiceClient
	mu      sync.Mutex
	ids     []string
	linked  int // rounds that saw LINKED
	stopped chan struct{}
	done    chan struct{}
}

func startLinks(t *testing.T, data, tpapAddr string) *linkLoad {
	conn, err := grpc.NewClient(tpapAddr, appCreds(t, data), fastReconnect)
	require.NoError(t, err)
	l := &linkLoad{t: t, tp: upiv1.NewTpapAppServiceClient(conn), stopped: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	t.Cleanup(func() { l.stop(); conn.Close() })
	return l
}

const linkPrimary, linkSecondary = "alice@alpha", "carol@beta"

// retry waits, up to within, for f to succeed: it calls f again each
// tick while a node is down or the link is not yet where f wants it. A
// round that has begun runs to its end even once the load is told to
// stop, so that no link is left waiting for an answer the load would have
// given.
func (l *linkLoad) retry(within time.Duration, f func(ctx context.Context) error) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// status waits until the link's status (as PSP(P) sees it) is one of want.
func (l *linkLoad) status(id string, within time.Duration, want ...upiv1.CircleLink_Status) bool {
	return l.retry(within, func(ctx context.Context) error {
		r, err := l.tp.GetCircleLink(ctx, &upiv1.GetCircleLinkRequest{LinkId: id})
		if err != nil {
			return err
		}
		for _, w := range want {
			if r.GetLink().GetStatus() == w {
				return nil
			}
		}
		return context.DeadlineExceeded
	})
}

func (l *linkLoad) run() {
	defer close(l.done)
	for {
		select {
		case <-l.stopped:
			return
		default:
		}
		var id string
		if !l.retry(20*time.Second, func(ctx context.Context) error {
			r, err := l.tp.CreateCircleLink(ctx, &upiv1.CreateCircleLinkRequest{PrimaryVpa: linkPrimary, SecondaryVpa: linkSecondary, Mode: upiv1.Delegate_PARTIAL})
			if err == nil {
				id = r.GetLink().GetLinkId()
			}
			return err
		}) {
			continue
		}
		l.mu.Lock()
		l.ids = append(l.ids, id)
		l.mu.Unlock()
		invited := l.retry(20*time.Second, func(ctx context.Context) error {
			r, err := l.tp.ListCircleInvites(ctx, &upiv1.ListCircleInvitesRequest{Vpa: linkSecondary})
			if err != nil {
				return err
			}
			for _, lk := range r.GetLinks() {
				if lk.GetLinkId() == id {
					return nil
				}
			}
			return context.DeadlineExceeded
		})
		if !invited {
			// Refused by the switch (CS while an earlier link settles) or
			// not yet there: wait for it to end before the next round.
			l.status(id, 20*time.Second, upiv1.CircleLink_FAILED, upiv1.CircleLink_DECLINED, upiv1.CircleLink_EXPIRED, upiv1.CircleLink_LINKED)
			l.remove(id)
			continue
		}
		l.retry(20*time.Second, func(ctx context.Context) error {
			_, err := l.tp.AcceptCircleLink(ctx, &upiv1.AcceptCircleLinkRequest{LinkId: id})
			return err
		})
		if l.status(id, 20*time.Second, upiv1.CircleLink_LINKED) {
			l.mu.Lock()
			l.linked++
			l.mu.Unlock()
		}
		l.remove(id)
	}
}

// remove removes a LINKED link and waits for DELINKED; a link in another
// state is left as it is.
func (l *linkLoad) remove(id string) {
	if !l.status(id, time.Second, upiv1.CircleLink_LINKED) {
		return
	}
	l.retry(20*time.Second, func(ctx context.Context) error {
		_, err := l.tp.RemoveCircleLink(ctx, &upiv1.RemoveCircleLinkRequest{LinkId: id})
		return err
	})
	l.status(id, 20*time.Second, upiv1.CircleLink_DELINKED)
}

func (l *linkLoad) stop() {
	select {
	case <-l.stopped:
	default:
		close(l.stopped)
	}
	<-l.done
}

// checkLinks stops the load and checks that every link it made has
// settled (nothing LINK_PENDING at PSP(P) once the network is quiet) and
// that PSP(S) says the same of each (the audit checks it across every
// node too).
func (l *linkLoad) checkLinks(t *testing.T) {
	t.Helper()
	l.stop()
	l.mu.Lock()
	ids, linked := append([]string(nil), l.ids...), l.linked
	l.mu.Unlock()
	t.Logf("links: %d made, %d seen LINKED", len(ids), linked)
	require.NotEmpty(t, ids, "the link load made no link")
	for _, id := range ids {
		var last *upiv1.CircleLink
		require.Eventually(t, func() bool {
			r, err := l.tp.GetCircleLink(context.Background(), &upiv1.GetCircleLinkRequest{LinkId: id})
			if err != nil {
				return false
			}
			last = r.GetLink()
			return last.GetStatus() != upiv1.CircleLink_LINK_PENDING
		}, time.Minute, 50*time.Millisecond, "link %s settles", id)
		// PSP(S)'s record, where it has one, comes to say the same.
		var seen upiv1.CircleLink_Status
		assert.Eventually(t, func() bool {
			secondary, err := l.tp.ListCircleLinks(context.Background(), &upiv1.ListCircleLinksRequest{Vpa: linkSecondary})
			if err != nil {
				return false
			}
			for _, s := range secondary.GetLinks() {
				if s.GetLinkId() == id {
					seen = s.GetStatus()
					return seen == last.GetStatus()
				}
			}
			return true // none: a link PSP(S) never heard of (refused by the switch)
		}, time.Minute, 50*time.Millisecond, "link %s: PSP(P) says %s, PSP(S) %s", id, last.GetStatus(), seen)
	}
}
