package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
)

// NewLogger is the logger of --log-level and --log-format (text or json)
// of up and node, writing to w. A key given once (node, role: by
// logger.With) is not written again by a line that repeats it: each line
// has every key at most once, as a JSON log reader needs.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch format {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(uniqueKeys{h: h}), nil
}

// uniqueKeys is a handler that drops an attribute whose key an earlier
// one (of With, or of the same line) already gave: the first one stays.
// Keys inside a group are left as they are.
type uniqueKeys struct {
	h       slog.Handler
	keys    []string // given by With, outside any group
	grouped bool     // WithGroup was called: later keys are in a group
}

func (u uniqueKeys) Enabled(ctx context.Context, l slog.Level) bool { return u.h.Enabled(ctx, l) }

func (u uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	if u.grouped {
		return u.h.Handle(ctx, r)
	}
	seen := slices.Clone(u.keys)
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		if slices.Contains(seen, a.Key) {
			dup = true
			return false
		}
		seen = append(seen, a.Key)
		return true
	})
	if !dup {
		return u.h.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	seen = slices.Clone(u.keys)
	r.Attrs(func(a slog.Attr) bool {
		if !slices.Contains(seen, a.Key) {
			seen = append(seen, a.Key)
			out.AddAttrs(a)
		}
		return true
	})
	return u.h.Handle(ctx, out)
}

func (u uniqueKeys) WithAttrs(as []slog.Attr) slog.Handler {
	if u.grouped {
		return uniqueKeys{h: u.h.WithAttrs(as), keys: u.keys, grouped: true}
	}
	keys := slices.Clone(u.keys)
	var keep []slog.Attr
	for _, a := range as {
		if !slices.Contains(keys, a.Key) {
			keys = append(keys, a.Key)
			keep = append(keep, a)
		}
	}
	return uniqueKeys{h: u.h.WithAttrs(keep), keys: keys}
}

func (u uniqueKeys) WithGroup(name string) slog.Handler {
	return uniqueKeys{h: u.h.WithGroup(name), keys: u.keys, grouped: true}
}
