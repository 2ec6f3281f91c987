package console

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/upisim/upisim/internal/cli"
)

// externalLane is the lifeline of everything outside the network (the URL
// of a merchant's webhook), as `upisim trace` draws it.
const externalLane = "external"

// svg layout, in pixels.
const (
	laneW   = 130
	leftW   = 90
	headerH = 40
	rowH    = 34
	labelW  = 520 // at least; wider for a longer label
)

// WriteSVG draws res as `upisim trace` does, as SVG: one lifeline per node
// (in nodes' order, then an "external" one for HTTP deliveries), one arrow
// per message, at its receipt when it was received, dashed when it was
// sent and not (yet) received, red when refused. Every arrow is a
// <g class="msg" data-i="I"> whose I is the index in res.Messages of the
// record it draws, so a page can show that record's body on click. Every
// text is escaped.
func WriteSVG(w io.Writer, nodes []string, res cli.TraceResult) error {
	msgs := res.Messages
	col := map[string]int{}
	lanes := append([]string(nil), nodes...)
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
	type row struct {
		i                        int
		from, to                 int
		dashed, refused, partial bool
		label, at                string
	}
	var rows []row
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
		fi, ok1 := col[from]
		ti, ok2 := col[to]
		label := cli.MessageLabel(m, external, dashed, sentNote)
		rows = append(rows, row{i: i, from: fi, to: ti, dashed: dashed, refused: m.AckErr != "", partial: !ok1 || !ok2,
			label: label, at: fmt.Sprintf("%+.1fms", float64(m.TS.Sub(t0).Microseconds())/1000)})
	}
	x := func(lane int) int { return leftW + lane*laneW + laneW/2 }
	lw := labelW
	for _, r := range rows {
		lw = max(lw, 7*len([]rune(r.label))+16) // about 7px a character at 12px
	}
	width := leftW + len(lanes)*laneW + lw
	height := headerH + (len(rows)+1)*rowH
	e := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="trace" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, width, height, width, height)
	fmt.Fprintf(&b, `<title>%s</title>`, e("transaction "+res.TxnID))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>`)
	for i, n := range lanes {
		fmt.Fprintf(&b, `<g class="lane"><text class="node" x="%d" y="24" text-anchor="middle" font-weight="bold">%s</text>`, x(i), e(n))
		fmt.Fprintf(&b, `<line x1="%d" y1="32" x2="%d" y2="%d" stroke="#bbb" stroke-width="1"/></g>`, x(i), x(i), height-8)
	}
	textX := leftW + len(lanes)*laneW + 8
	for k, r := range rows {
		y := headerH + (k+1)*rowH
		color := "#1f5fbf"
		if r.refused {
			color = "#c0392b"
		}
		fmt.Fprintf(&b, `<g class="msg" data-i="%d">`, r.i)
		fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="transparent"/>`, y-rowH/2, width, rowH)
		fmt.Fprintf(&b, `<text x="4" y="%d" fill="#666">%d %s</text>`, y+4, k+1, e(r.at))
		if !r.partial && r.from != r.to {
			dash := ""
			if r.dashed {
				dash = ` stroke-dasharray="6,4"`
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s marker-end="url(#arrow)"/>`, x(r.from), y, x(r.to), y, color, dash)
		}
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" fill="%s">%s</text></g>`, textX, y+4, color, e(r.label))
	}
	b.WriteString(`</svg>`)
	_, err := io.WriteString(w, b.String())
	return err
}

// isExternal reports whether a trace record's peer is outside the network
// (a URL), as internal/cli's trace does.
func isExternal(peer string) bool { return strings.Contains(peer, "://") }
