// Package logging makes the operator's logger safe at any verbosity.
package logging

import "github.com/go-logr/logr"

// MaxVerbosity is the highest V-level ever written. client-go logs the URLs of its
// requests at V(6), their headers at V(7) and the bodies of requests and answers
// at V(8) and above: for a Secret, its data (base64) — the very token and
// accesskey the operator protects. Capping below 6 keeps `--zap-log-level=10`
// (or any other setting) from ever printing them. The operator's own detail is at V(1).
const MaxVerbosity = 5

// Capped returns l with every V-level above MaxVerbosity disabled.
func Capped(l logr.Logger) logr.Logger {
	if l.GetSink() == nil {
		return l
	}
	return logr.New(cappedSink{l.GetSink()})
}

type cappedSink struct{ logr.LogSink }

func (s cappedSink) Enabled(level int) bool {
	return level <= MaxVerbosity && s.LogSink.Enabled(level)
}

func (s cappedSink) Info(level int, msg string, kv ...any) {
	if level <= MaxVerbosity {
		s.LogSink.Info(level, msg, kv...)
	}
}

func (s cappedSink) WithValues(kv ...any) logr.LogSink {
	return cappedSink{s.LogSink.WithValues(kv...)}
}

func (s cappedSink) WithName(name string) logr.LogSink {
	return cappedSink{s.LogSink.WithName(name)}
}

// WithCallDepth keeps caller information right when the sink supports it.
func (s cappedSink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return cappedSink{d.WithCallDepth(depth)}
	}
	return s
}
