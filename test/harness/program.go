package harness

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// QuietLibraryLogs discards what controller-runtime and client-go log (the
// envtest control plane, the clients): the programs on the harness, the soak,
// the bench and the demo, talk to their user themselves.
func QuietLibraryLogs() {
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
}

// InterruptContext returns a context that is done on Ctrl-C (SIGINT) or
// SIGTERM, so that a program stops everything it started before it exits;
// stop restores the signals' default behaviour.
func InterruptContext() (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
