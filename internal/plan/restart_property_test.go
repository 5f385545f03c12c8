package plan

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The property test of DecideRestarts drives it the way the controller does
// (decide, patch, decide again with the outcomes) against simulated workloads,
// over random histories of credential changes, reconciles with nothing changed
// (operator restarts among them: DecideRestarts has no memory), time passing
// (with the reconciles the plan's wake times bring), kubectl rollout restarts,
// workloads deleted and created again (with no reconcile: the operator does not
// watch them), and periods in which patches are refused or conflict (except the
// patch of a target first seen by the reconcile that writes a credential: one
// that fails is recorded without a restart at its next look, as the README
// says). It checks after every reconcile:
//   - no restart without a credential change, and none on a first sighting;
//   - at most one restart by the operator per minInterval per workload;
//   - the status of the rest of the CR (Ready) is left as it was;
//   - a wake time is never in the past, and there is one while a target fails
//     or waits for a restart;
//
// and at the end of each history, once faults stop and the wake times are
// followed: no workload's pods run with an older credential than the last.
//
//	go test ./internal/plan -run TestDecideRestartsProperties -seed 7 -histories 2000

// restartSimTarget is a simulated workload.
type restartSimTarget struct {
	spec         v1alpha1.RolloutRestartTarget
	exists       bool
	restartedFor string
	restartedAt  time.Time
	// ourRestarts are the operator's restarts of this incarnation, with the hash each was for.
	ourRestarts []time.Time
	ourHashes   []string
	// podsHash is the credential its pods read when they started ("" none:
	// they wait for the Secret, and start with what it holds once it exists).
	podsHash string
}

// stale reports whether its pods run with an older credential than hash.
func (t *restartSimTarget) stale(hash string) bool {
	return t.exists && t.podsHash != "" && t.podsHash != hash
}

type restartSim struct {
	r       *rand.Rand
	now     time.Time
	cr      *v1alpha1.VoipbinCredential
	hash    string
	hashes  int
	targets []*restartSimTarget
	wake    time.Time
	// forbid refuses patches while set; conflicts is how many of the next
	// patches conflict.
	forbid     bool
	conflicts  int
	journal    []string
	violations []string
}

func newRestartSim(seed, history uint64) *restartSim {
	r := rand.New(rand.NewPCG(seed, history^0x5eed))
	intervals := []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute}
	s := &restartSim{r: r, now: t0, cr: restartCR(time.Minute)}
	s.cr.Spec.RolloutRestartTargets = nil
	kinds := []v1alpha1.RolloutRestartKind{v1alpha1.RolloutRestartDeployment, v1alpha1.RolloutRestartStatefulSet}
	for i := range 1 + r.IntN(3) {
		spec := v1alpha1.RolloutRestartTarget{Kind: kinds[i%2], Name: fmt.Sprintf("w%d", i),
			MinInterval: &metav1.Duration{Duration: intervals[r.IntN(len(intervals))]}}
		s.cr.Spec.RolloutRestartTargets = append(s.cr.Spec.RolloutRestartTargets, spec)
		t := &restartSimTarget{spec: spec, exists: r.IntN(5) > 0}
		t.podsHash = "" // set below, once the credential is known
		if r.IntN(3) == 0 {
			t.restartedAt = t0.Add(-time.Duration(r.IntN(600)) * time.Second) // restarted by someone before
		}
		s.targets = append(s.targets, t)
	}
	if r.IntN(4) > 0 {
		s.changeHash()
	}
	for _, t := range s.targets {
		t.podsHash = s.hash
	}
	s.reconcile("the CR created", s.hash)
	return s
}

func (s *restartSim) logf(format string, args ...any) {
	s.journal = append(s.journal, fmt.Sprintf("%s %s", s.now.Sub(t0), fmt.Sprintf(format, args...)))
}

func (s *restartSim) violation(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf("at %s: %s", s.now.Sub(t0), fmt.Sprintf(format, args...)))
}

// changeHash is the operator's write of a new credential.
func (s *restartSim) changeHash() {
	s.hashes++
	s.hash = fmt.Sprintf("sha256:%04d", s.hashes)
	for _, t := range s.targets {
		if t.exists && t.podsHash == "" {
			t.podsHash = s.hash // pods waiting for the Secret start with it
		}
	}
	s.logf("credential changed: %s", s.hash)
}

// observe returns the targets as the controller would read them.
func (s *restartSim) observe() []RestartTarget {
	out := make([]RestartTarget, 0, len(s.targets))
	for _, t := range s.targets {
		out = append(out, RestartTarget{Kind: t.spec.Kind, Name: t.spec.Name, Found: t.exists,
			RestartedFor: t.restartedFor, RestartedAt: t.restartedAt})
	}
	return out
}

func (s *restartSim) target(kind v1alpha1.RolloutRestartKind, name string) *restartSimTarget {
	for _, t := range s.targets {
		if t.spec.Kind == kind && t.spec.Name == name {
			return t
		}
	}
	return nil
}

// reconcile does what the controller does after a reconcile's Finish.
// previous is the hash before the reconcile's write (s.hash if it wrote none).
func (s *restartSim) reconcile(why, previous string) {
	o := RestartObserved{CR: s.cr, Status: s.cr.Status, Enabled: true, Hash: s.hash, PreviousHash: previous,
		Targets: s.observe()}
	first := DecideRestarts(o, s.now)
	for _, p := range first.Patches {
		t := s.target(p.Kind, p.Name)
		obs := &o.Targets[indexOfTarget(o.Targets, p.Kind, p.Name)]
		switch {
		case t == nil || !t.exists:
			s.violation("a patch of %s %s, which does not exist", p.Kind, p.Name)
			continue
		case (s.forbid || s.conflicts > 0) && t.restartedFor == "" && previous != s.hash:
			// The documented exception (see the top): not simulated.
		case s.forbid:
			obs.Outcome = &RestartOutcome{Failure: "the operator may not patch it (Forbidden)"}
			continue
		case s.conflicts > 0:
			s.conflicts--
			obs.Outcome = &RestartOutcome{Retry: true}
			continue
		}
		if !p.RestartAt.IsZero() {
			switch {
			case t.restartedFor == "" && (previous == "" || previous == s.hash):
				s.violation("%s restarted on its first sighting, with no credential written", p.Name)
			case t.restartedFor == p.RestartedFor:
				s.violation("%s restarted without a credential change", p.Name)
			}
			if n := len(t.ourRestarts); n > 0 && p.RestartAt.Sub(t.ourRestarts[n-1]) < minIntervalOf(t.spec) {
				s.violation("%s restarted %s after the last restart, minInterval %s", p.Name,
					p.RestartAt.Sub(t.ourRestarts[n-1]), minIntervalOf(t.spec))
			}
			if p.RestartedFor != s.hash {
				s.violation("%s restarted for %s, not the current %s", p.Name, p.RestartedFor, s.hash)
			}
			t.restartedAt = p.RestartAt
			t.ourRestarts = append(t.ourRestarts, p.RestartAt)
			t.ourHashes = append(t.ourHashes, p.RestartedFor)
			t.podsHash = s.hash
			s.logf("restarted %s for %s", p.Name, p.RestartedFor)
		} else {
			if t.restartedFor != "" {
				s.violation("%s: a baseline over a recorded %s", p.Name, t.restartedFor)
			}
			s.logf("baseline of %s: %s", p.Name, p.RestartedFor)
		}
		t.restartedFor = p.RestartedFor
		obs.RestartedFor, obs.Outcome = p.RestartedFor, &RestartOutcome{Restarted: !p.RestartAt.IsZero()}
		if !p.RestartAt.IsZero() {
			obs.RestartedAt = p.RestartAt
		}
	}
	final := DecideRestarts(o, s.now)
	if len(final.Patches) > 0 {
		s.violation("the decision with every outcome in asks for patches %+v", final.Patches)
	}
	restarted := 0
	for _, t := range o.Targets {
		if t.Outcome != nil && t.Outcome.Restarted {
			restarted++
		}
	}
	events := 0
	for _, e := range final.Events {
		if e.Reason == v1alpha1.EventRolloutRestarted {
			events++
		}
	}
	if events != restarted {
		s.violation("%d RolloutRestarted events for %d restarts", events, restarted)
	}
	if !final.Wake.IsZero() && !final.Wake.After(s.now.Truncate(time.Second)) {
		s.violation("wake %s is not after now", final.Wake.Sub(t0))
	}
	for _, st := range final.Status.RolloutRestarts {
		if (st.Message != "" || st.NextRestartTime != nil) && final.Wake.IsZero() {
			s.violation("%s is failing or waits for a restart, and nothing wakes the reconciler", st.Name)
		}
	}
	rest, want := final.Status.DeepCopy(), s.cr.Status.DeepCopy()
	rest.RolloutRestarts, want.RolloutRestarts = nil, nil
	dropRestartCondition(rest)
	dropRestartCondition(want)
	if !equality.Semantic.DeepEqual(rest, want) {
		s.violation("the rest of the status changed")
	}
	s.cr.Status = final.Status
	s.wake = final.Wake
	wake := "none"
	if !final.Wake.IsZero() {
		wake = final.Wake.Sub(t0).String()
	}
	s.logf("reconcile (%s): %d patches, wake %s", why, len(first.Patches), wake)
}

func dropRestartCondition(st *v1alpha1.VoipbinCredentialStatus) {
	var kept []metav1.Condition
	for _, c := range st.Conditions {
		if c.Type != v1alpha1.ConditionRolloutRestartTargetsReady {
			kept = append(kept, c)
		}
	}
	st.Conditions = kept
}

func indexOfTarget(targets []RestartTarget, kind v1alpha1.RolloutRestartKind, name string) int {
	for i, t := range targets {
		if t.Kind == kind && t.Name == name {
			return i
		}
	}
	return -1
}

// advance lets d pass, with the reconciles the wake times bring.
func (s *restartSim) advance(d time.Duration) {
	end := s.now.Add(d)
	for !s.wake.IsZero() && !s.wake.After(end) {
		s.now = s.wake
		s.reconcile("wake", s.hash)
	}
	s.now = end
}

func (s *restartSim) step() {
	switch n := s.r.IntN(100); {
	case n < 20:
		previous := s.hash
		s.changeHash()
		s.reconcile("the write of the new credential", previous)
	case n < 35:
		s.reconcile("nothing changed", s.hash)
	case n < 75:
		s.advance(time.Duration(s.r.IntN(400)) * time.Second)
	case n < 80:
		t := s.targets[s.r.IntN(len(s.targets))]
		if t.exists {
			t.restartedAt = s.now.Truncate(time.Second)
			t.podsHash = s.hash
			s.logf("kubectl rollout restart %s", t.spec.Name)
		}
	case n < 87:
		t := s.targets[s.r.IntN(len(s.targets))]
		// No reconcile: the operator does not watch workloads.
		if t.exists {
			*t = restartSimTarget{spec: t.spec}
			s.logf("%s deleted", t.spec.Name)
		} else {
			t.exists, t.podsHash = true, s.hash
			if s.r.IntN(2) == 0 {
				// Created from a manifest that carries a restart time.
				t.restartedAt = s.now.Add(-time.Duration(s.r.IntN(300)) * time.Second).Truncate(time.Second)
			}
			s.logf("%s created", t.spec.Name)
		}
	case n < 94:
		s.forbid = !s.forbid
		s.logf("patches forbidden: %t", s.forbid)
	default:
		s.conflicts = 1 + s.r.IntN(3)
		s.logf("the next %d patches conflict", s.conflicts)
	}
}

// settle creates the missing workloads again (a missing one is looked at every
// minInterval) and follows the wake times with no more faults, until there is none.
func (s *restartSim) settle() {
	s.forbid, s.conflicts = false, 0
	for _, t := range s.targets {
		if !t.exists {
			t.exists, t.podsHash = true, s.hash
			s.logf("%s created", t.spec.Name)
		}
	}
	for i := 0; i < 20 && !s.wake.IsZero(); i++ {
		s.advance(s.wake.Sub(s.now))
	}
	for _, t := range s.targets {
		if t.stale(s.hash) {
			s.violation("the pods of %s run with %s, not the last credential %s", t.spec.Name, t.podsHash, s.hash)
		}
	}
	if !s.wake.IsZero() {
		s.violation("still a wake time %s once settled", s.wake.Sub(t0))
	}
}

func TestDecideRestartsProperties(t *testing.T) {
	for h := range *histories {
		s := newRestartSim(*seed, uint64(h))
		for range simSteps {
			s.step()
		}
		s.settle()
		if len(s.violations) > 0 {
			t.Fatalf("seed %d history %d: %s\n%s", *seed, h, strings.Join(s.violations, "\n"), strings.Join(s.journal, "\n"))
		}
	}
}
