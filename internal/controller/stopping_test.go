package controller

import (
	"context"
	"testing"
)

func TestStopping(t *testing.T) {
	if stopping(context.Background()) {
		t.Error("a plain context is stopping")
	}
	parent, cancel := context.WithCancel(context.Background())
	ctx := detach(parent)
	if stopping(ctx) {
		t.Error("stopping before the stop")
	}
	cancel()
	if !stopping(ctx) {
		t.Error("not stopping after the stop")
	}
	if ctx.Err() != nil {
		t.Errorf("the detached context was canceled: %v", ctx.Err())
	}
}
