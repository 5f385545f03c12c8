package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxHeapRatio is scenario 5's target.
const maxHeapRatio = 1.2

// lastAppliedAnnotation is what kubectl apply leaves on an object: the whole
// object as applied, data included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// memorySamples are the manager's memory figures sampled over a window.
type memorySamples struct {
	heapInuse, heapLive, rss []float64
	// gcs is how many garbage collections ran during the window.
	gcs int
	// settled is how long after its start the manager had reconciled every
	// credential and emptied its queue, when sampling began.
	settled time.Duration
}

// scenarioMemory is scenario 5: the manager's heap and RSS, each measured after
// a restart (its caches freshly filled) and once every credential was
// reconciled, without and then with many unrelated Secrets in the cluster.
func (b *bench) scenarioMemory(ctx context.Context) error {
	n := b.o.unrelatedSecrets
	s := b.rep.scenario("5", fmt.Sprintf("manager memory with %d unrelated %d-byte Secrets, half with kubectl's last-applied annotation",
		n, b.o.unrelatedSize))
	b.out.printf("scenario 5: restarting the manager and sampling its memory for %s (without unrelated Secrets)", b.o.memWindow)
	without, err := b.restartAndSample(ctx)
	if err != nil {
		return err
	}
	b.out.printf("  creating %d unrelated Secrets in %d namespaces", n, b.o.unrelatedNamespaces)
	start := time.Now()
	size, err := b.createUnrelatedSecrets(ctx)
	if err != nil {
		return err
	}
	b.out.printf("  created in %s (%s of data and annotations); restarting and sampling again", seconds(time.Since(start)), mib(size))
	with, err := b.restartAndSample(ctx)
	if err != nil {
		return err
	}

	heapRatio := minOf(with.heapInuse) / minOf(without.heapInuse)
	s.info("unrelated Secrets' data and annotations", size, "bytes", mib(size))
	s.info("heap in use without them: min / median", minOf(without.heapInuse), "bytes", minMedian(without))
	s.info("heap in use with them: min / median", minOf(with.heapInuse), "bytes", minMedian(with))
	s.check("heap ratio (minimum heap in use)", heapRatio, "", fmt.Sprintf("%.3f", heapRatio),
		fmt.Sprintf("<= %.1f", maxHeapRatio), heapRatio <= maxHeapRatio)
	medianRatio := median(with.heapInuse) / median(without.heapInuse)
	s.info("heap ratio (median heap in use)", medianRatio, "", fmt.Sprintf("%.3f", medianRatio))
	if len(without.heapLive) > 0 && len(with.heapLive) > 0 {
		liveRatio := median(with.heapLive) / median(without.heapLive)
		s.info("live heap at the last GC (median): without / with", liveRatio, "",
			fmt.Sprintf("%s / %s (ratio %.3f)", mib(median(without.heapLive)), mib(median(with.heapLive)), liveRatio))
	}
	rssRatio := median(with.rss) / median(without.rss)
	s.info("RSS (median): without / with", rssRatio, "",
		fmt.Sprintf("%s / %s (ratio %.3f)", mib(median(without.rss)), mib(median(with.rss)), rssRatio))
	s.info("garbage collections while sampling: without / with", float64(with.gcs), "",
		fmt.Sprintf("%d / %d (%d samples each)", without.gcs, with.gcs, len(with.heapInuse)))
	s.info("start to settled (sampling began): without / with", with.settled.Seconds(), "s",
		fmt.Sprintf("%s / %s", seconds(without.settled), seconds(with.settled)))
	b.out.printf("  heap in use (min) %s -> %s, ratio %.3f; RSS (median) %s -> %s", mib(minOf(without.heapInuse)),
		mib(minOf(with.heapInuse)), heapRatio, mib(median(without.rss)), mib(median(with.rss)))
	return nil
}

// restartAndSample restarts the manager, waits until it has reconciled every
// credential once and its queue is empty (its caches are synced by then: the
// controller starts only after them), and samples its memory every
// mem-interval for mem-window.
func (b *bench) restartAndSample(ctx context.Context) (memorySamples, error) {
	if _, err := b.stopManager(); err != nil {
		return memorySamples{}, err
	}
	mgr, err := b.startManager(ctx)
	if err != nil {
		return memorySamples{}, err
	}
	settledAt, err := mgr.waitSettled(ctx, b.totalCRs(), b.o.readyTimeout)
	if err != nil {
		return memorySamples{}, err
	}
	ms := memorySamples{settled: settledAt.Sub(mgr.startedAt)}
	firstGCs := -1.0
	tick := time.NewTicker(b.o.memInterval)
	defer tick.Stop()
	for end := time.Now().Add(b.o.memWindow); time.Now().Before(end); {
		m, err := mgr.scrape(ctx)
		if err != nil {
			return ms, err
		}
		rss, err := mgr.rssBytes()
		if err != nil {
			return ms, err
		}
		heap, ok := m.value("go_memstats_heap_inuse_bytes")
		if !ok {
			return ms, fmt.Errorf("the manager exposes no go_memstats_heap_inuse_bytes")
		}
		ms.heapInuse = append(ms.heapInuse, heap)
		ms.rss = append(ms.rss, rss)
		if live, ok := m.value("go_gc_heap_live_bytes"); ok {
			ms.heapLive = append(ms.heapLive, live)
		}
		if gcs, ok := m.value("go_gc_duration_seconds_count"); ok {
			if firstGCs < 0 {
				firstGCs = gcs
			}
			ms.gcs = int(gcs - firstGCs)
		}
		select {
		case <-ctx.Done():
			return ms, ctx.Err()
		case <-tick.C:
		}
	}
	return ms, nil
}

// createUnrelatedSecrets creates the unrelated Secrets, spread over the
// unrelated namespaces, and returns the bytes of their data and annotations.
func (b *bench) createUnrelatedSecrets(ctx context.Context) (float64, error) {
	var size atomic.Int64
	err := b.parallel(ctx, b.o.unrelatedSecrets, func(ctx context.Context, i int) error {
		ns := fmt.Sprintf("%s%d", nsUnrelatedPrefix, i%b.o.unrelatedNamespaces)
		secret, err := unrelatedSecret(ns, fmt.Sprintf("unrelated-%05d", i), b.o.unrelatedSize, i%2 == 0)
		if err != nil {
			return err
		}
		size.Add(int64(b.o.unrelatedSize + len(secret.Annotations[lastAppliedAnnotation])))
		if err := b.c.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating Secret %s/%s: %w", ns, secret.Name, err)
		}
		return nil
	})
	return float64(size.Load()), err
}

// unrelatedSecret returns a Secret of size random bytes that no credential
// uses. With applied, it carries the last-applied-configuration annotation as
// kubectl apply leaves it: the whole Secret as JSON, data included, with sorted
// keys, an empty annotations map and a trailing newline.
func unrelatedSecret(ns, name string, size int, applied bool) (*corev1.Secret, error) {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"payload": data},
	}
	if !applied {
		return s, nil
	}
	config, err := json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"type":       "Opaque",
		"data":       map[string]string{"payload": base64.StdEncoding.EncodeToString(data)},
		"metadata":   map[string]any{"annotations": map[string]string{}, "name": name, "namespace": ns},
	})
	if err != nil {
		return nil, err
	}
	s.Annotations = map[string]string{lastAppliedAnnotation: string(config) + "\n"}
	return s, nil
}

func minMedian(ms memorySamples) string {
	return fmt.Sprintf("%s / %s", mib(minOf(ms.heapInuse)), mib(median(ms.heapInuse)))
}

// minOf returns the smallest value (0 for none).
func minOf(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	return slices.Min(values)
}

// median returns the median (0 for none).
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(values))
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return (sorted[mid-1] + sorted[mid]) / 2
}
