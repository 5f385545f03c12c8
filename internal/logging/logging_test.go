package logging

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

func TestCappedDropsHighVerbosity(t *testing.T) {
	var buf bytes.Buffer
	l := Capped(zap.New(zap.WriteTo(&buf), zap.Level(zapcore.Level(-20))))
	l.V(1).Info("own detail")
	l.V(MaxVerbosity).Info("at the cap")
	l.V(MaxVerbosity + 1).Info("request URL")
	l.WithName("client").WithValues("k", "v").V(8).Info("Request Body", "body", "c2VjcmV0")
	if l.V(8).Enabled() {
		t.Error("V(8) is enabled")
	}
	out := buf.String()
	for _, want := range []string{"own detail", "at the cap"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing: the cap dropped too much", want)
		}
	}
	for _, unwanted := range []string{"request URL", "Request Body", "c2VjcmV0"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("%q was logged above the cap", unwanted)
		}
	}
}
