package console

import (
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/upisim/upisim/internal/cli"
)

// svg layout, in pixels.
const (
	laneW   = 130
	leftW   = 90
	headerH = 40
	rowH    = 34
	labelW  = 520 // at least; wider for a longer label
)

// WriteSVG draws res as `upisim trace` does, as SVG: one lifeline per node
// (in nodes' order, then "⇢ external" for HTTP deliveries; cli.Sequence), one arrow
// per message, at its receipt when it was received, dashed when it was
// sent and not (yet) received, red when refused. Every arrow is a
// <g class="msg" data-i="I"> whose I is the index in res.Messages of the
// record it draws, so a page can show that record's body on click. Every
// text is escaped.
func WriteSVG(w io.Writer, nodes []string, res cli.TraceResult) error {
	lanes, rows := cli.Sequence(nodes, res.Messages)
	x := func(lane int) int { return leftW + lane*laneW + laneW/2 }
	lw := labelW
	for _, r := range rows {
		lw = max(lw, 7*len([]rune(r.Label))+16) // about 7px a character at 12px
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
		if r.Refused {
			color = "#c0392b"
		}
		fmt.Fprintf(&b, `<g class="msg" data-i="%d">`, r.Index)
		fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="transparent"/>`, y-rowH/2, width, rowH)
		at := fmt.Sprintf("%+.1fms", float64(r.At.Microseconds())/1000)
		fmt.Fprintf(&b, `<text x="4" y="%d" fill="#666">%d %s</text>`, y+4, k+1, e(at))
		if r.From >= 0 && r.To >= 0 && r.From != r.To {
			dash := ""
			if r.Dashed {
				dash = ` stroke-dasharray="6,4"`
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s marker-end="url(#arrow)"/>`, x(r.From), y, x(r.To), y, color, dash)
		}
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" fill="%s">%s</text></g>`, textX, y+4, color, e(r.Label))
	}
	b.WriteString(`</svg>`)
	_, err := io.WriteString(w, b.String())
	return err
}
