package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	upiv1 "github.com/upisim/upisim/gen/go/upi/v1"
	"github.com/upisim/upisim/internal/ids"
	"github.com/upisim/upisim/internal/node"
)

// TraceMessage is one stored message, as `trace -o json` prints it.
type TraceMessage struct {
	Node      string    `json:"node"`
	API       string    `json:"api"`
	Direction string    `json:"direction"`
	Peer      string    `json:"peer"`
	MsgID     string    `json:"msg_id"`
	TS        time.Time `json:"ts"`
	Summary   string    `json:"summary"`
	// Acked is when the receiver acked the message (OUT only; zero if not
	// yet).
	Acked  time.Time `json:"acked,omitzero"`
	AckErr string    `json:"ack_err,omitempty"`
	// Note says what the fault layer did to the message (a rule's drop,
	// delay, duplicate, decline, ignore), or that it is a repeat answered
	// from the receiver's inbox.
	Note string `json:"note,omitempty"`
	// TxnID is the message's txn id when it is not the one traced: the
	// payee look-up (ReqValAdd) a delegated payment starts with, whose id
	// is ids.LookupTxnID of the payment's.
	TxnID string `json:"txn_id,omitempty"`
}

// TraceResult is every message of a transaction on every node, in time
// order.
type TraceResult struct {
	TxnID    string         `json:"txn_id"`
	Messages []TraceMessage `json:"messages"`
}

// TraceOptions are the options of `upisim trace`.
type TraceOptions struct {
	DataDir string
	TxnID   string
	Output  Output
}

// Trace collects a transaction's messages from every node and prints them
// as one sequence diagram.
func Trace(ctx context.Context, w io.Writer, o TraceOptions) (TraceResult, error) {
	if o.TxnID == "" {
		return TraceResult{}, errors.New("missing transaction id")
	}
	c, err := Connect(o.DataDir)
	if err != nil {
		return TraceResult{}, err
	}
	defer c.Close()
	res, err := CollectTrace(ctx, c, o.TxnID)
	if err != nil {
		return res, err
	}
	if len(res.Messages) == 0 {
		return res, fmt.Errorf("no node has messages for transaction %s", o.TxnID)
	}
	return res, o.Output.print(w, res, func(w io.Writer) error {
		var names []string
		for _, n := range c.Dir.Nodes {
			names = append(names, n.Name)
		}
		if err := drawSequence(w, names, res.Messages); err != nil {
			return err
		}
		return printPruned(w, res.Messages)
	})
}

// printPruned says, below the diagram, which nodes dropped messages of the
// transaction under retention (`--retain`), so a diagram that lacks them
// is not taken for the whole story.
func printPruned(w io.Writer, msgs []TraceMessage) error {
	for _, m := range msgs {
		if m.API == node.PrunedAPI {
			if _, err := fmt.Fprintf(w, "%s: %s\n", m.Node, m.Note); err != nil {
				return err
			}
		}
	}
	return nil
}

// CollectTrace asks every node of the network for its records of txnID,
// and of its payee look-up when it is a delegated payment, and merges them
// by time (a send before its receipt when the clock ties).
func CollectTrace(ctx context.Context, c *Client, txnID string) (TraceResult, error) {
	res := TraceResult{TxnID: txnID, Messages: []TraceMessage{}}
	txnIDs := []string{txnID}
	if l := ids.LookupTxnID(txnID); l != txnID {
		txnIDs = append(txnIDs, l)
	}
	per := make([][]TraceMessage, len(c.Dir.Nodes))
	g, gctx := errgroup.WithContext(ctx)
	for i, nd := range c.Dir.Nodes {
		g.Go(func() error {
			a, err := c.Admin(nd.Name)
			if err != nil {
				return err
			}
			for _, id := range txnIDs {
				r, err := a.ListMessages(gctx, &upiv1.ListMessagesRequest{TxnId: id})
				if err != nil {
					if status.Code(err) == codes.Unavailable {
						return fmt.Errorf("node %s is not reachable at %s", nd.Name, nd.GRPCAddr)
					}
					return fmt.Errorf("node %s: %w", nd.Name, rpcError(err))
				}
				for _, m := range r.GetMessages() {
					tm := TraceMessage{
						Node: m.GetNode(), API: m.GetApi(), Direction: m.GetDirection().String(), Peer: m.GetPeer(),
						MsgID: m.GetMsgId(), TS: m.GetTs().AsTime(), Summary: m.GetSummary(), AckErr: m.GetAckErr(),
						Note: m.GetNote(),
					}
					if id != txnID {
						tm.TxnID = id
					}
					if m.GetAcked() != nil {
						tm.Acked = m.GetAcked().AsTime()
					}
					per[i] = append(per[i], tm)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	for _, p := range per {
		res.Messages = append(res.Messages, p...)
	}
	sort.SliceStable(res.Messages, func(i, j int) bool {
		a, b := res.Messages[i], res.Messages[j]
		if !a.TS.Equal(b.TS) {
			return a.TS.Before(b.TS)
		}
		return a.Direction == "OUT" && b.Direction == "IN"
	})
	return res, nil
}

// externalLane is the lifeline, right of the nodes', of everything outside
// the network: the URLs of HTTP deliveries (a merchant's webhook).
const externalLane = "⇢ external"

// isExternal reports whether a trace record's peer is outside the network:
// a URL (an HTTP delivery, node.Ctx.Post), never a node name.
func isExternal(peer string) bool { return strings.Contains(peer, "://") }

// SequenceRow is one arrow of a transaction's sequence diagram: message
// Msgs[Index], from lane From to lane To (-1: a peer with no lane), at At
// after the first one drawn, with its label (MessageLabel).
type SequenceRow struct {
	Index           int
	From, To        int
	Dashed, Refused bool
	Label           string
	At              time.Duration
}

// Sequence lays out a transaction's diagram, the one `upisim trace` draws
// and the console's SVG: the lanes (nodes, then "⇢ external" when there
// is an HTTP delivery) and one row per message. A message both sent and
// received is drawn at its receipt; one sent and not (yet) received is
// dashed; a refused one is marked; the notes of the fault layer (the
// sender's and the receiver's) follow in its label. An HTTP delivery goes
// to the external lane, labelled with its URL: solid once answered,
// dashed while not.
func Sequence(nodes []string, msgs []TraceMessage) (lanes []string, rows []SequenceRow) {
	lanes = append([]string(nil), nodes...)
	col := map[string]int{}
	for i, n := range lanes {
		col[n] = i
	}
	for _, m := range msgs {
		if m.Direction == "OUT" && isExternal(m.Peer) {
			col[externalLane] = len(lanes)
			lanes = append(lanes, externalLane)
			break
		}
	}
	received := map[string]bool{}
	sentNote := map[string]string{}
	for _, m := range msgs {
		switch m.Direction {
		case "IN":
			received[m.Peer+"\x00"+m.MsgID] = true
		case "OUT":
			if m.Note != "" {
				sentNote[m.Node+"\x00"+m.MsgID] = m.Note
			}
		}
	}
	lane := func(n string) int {
		if i, ok := col[n]; ok {
			return i
		}
		return -1
	}
	var t0 time.Time
	for i, m := range msgs {
		var from, to string
		dashed, external := false, false
		switch m.Direction {
		case "IN":
			from, to = m.Peer, m.Node
		case "OUT":
			if received[m.Node+"\x00"+m.MsgID] {
				continue // drawn at its receipt
			}
			from, to, dashed = m.Node, m.Peer, true
			if external = isExternal(m.Peer); external {
				to, dashed = externalLane, m.Acked.IsZero()
			}
		default:
			continue
		}
		if t0.IsZero() {
			t0 = m.TS
		}
		rows = append(rows, SequenceRow{Index: i, From: lane(from), To: lane(to), Dashed: dashed, Refused: m.AckErr != "",
			Label: messageLabel(m, external, dashed, sentNote), At: m.TS.Sub(t0)})
	}
	return lanes, rows
}

// drawSequence draws Sequence's diagram as text, one line per row between
// the lanes' lifelines.
func drawSequence(w io.Writer, nodes []string, msgs []TraceMessage) error {
	const colW = 12
	lanes, rows := Sequence(nodes, msgs)
	var hdr strings.Builder
	hdr.WriteString(strings.Repeat(" ", 14))
	for _, n := range lanes {
		hdr.WriteString(center(n, colW))
	}
	fmt.Fprintln(w, strings.TrimRight(hdr.String(), " "))
	for k, r := range rows {
		line := []rune(strings.Repeat(" ", colW*len(lanes)))
		for i := range lanes {
			line[i*colW+colW/2] = '│'
		}
		if fi, ti := r.From, r.To; fi >= 0 && ti >= 0 && fi != ti {
			lo, hi := min(fi, ti), max(fi, ti)
			a, b := lo*colW+colW/2, hi*colW+colW/2
			for x := a + 1; x < b; x++ {
				if r.Dashed {
					line[x] = '┄'
				} else {
					line[x] = '─'
				}
			}
			if ti > fi {
				line[b-1] = '▶'
			} else {
				line[a+1] = '◀'
			}
		}
		fmt.Fprintf(w, "%3d %+8.1fms %s  %s\n", k+1, float64(r.At.Microseconds())/1000, strings.TrimRight(string(line), " "), r.Label)
	}
	return nil
}

// center centres s in w columns (one per rune), cutting it short if need be.
func center(s string, w int) string {
	r := []rune(s)
	if len(r) >= w {
		return string(r[:w-1]) + " "
	}
	left := (w - len(r)) / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", w-len(r)-left)
}

// messageLabel is what a sequence diagram writes beside message m (the
// text one of `upisim trace` and the console's SVG): its API, the peer of
// an external call, its summary, whether it is still unanswered or
// unreceived (dashed), a refusal, and the notes of both sides (sentNote:
// the sender's note by peer and msg id).
func messageLabel(m TraceMessage, external, dashed bool, sentNote map[string]string) string {
	label := m.API
	if external {
		label += " " + m.Peer
	}
	if m.Summary != "" {
		label += " " + m.Summary
	}
	var notes []string
	if m.Direction == "IN" {
		if n := sentNote[m.Peer+"\x00"+m.MsgID]; n != "" {
			notes = append(notes, n)
		}
	}
	if m.Note != "" {
		notes = append(notes, m.Note)
	}
	switch {
	case dashed && external:
		label += "  (not answered yet)"
	case dashed && m.Note == "":
		label += "  (not received yet)"
	}
	if m.AckErr != "" {
		label += "  REFUSED: " + m.AckErr
	}
	if len(notes) > 0 {
		label += "  [" + strings.Join(notes, "; ") + "]"
	}
	return label
}
