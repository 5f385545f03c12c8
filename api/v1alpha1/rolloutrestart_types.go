package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RolloutRestartKind is the kind of a workload the operator may restart (apps/v1).
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type RolloutRestartKind string

const (
	// RolloutRestartDeployment is an apps/v1 Deployment.
	RolloutRestartDeployment RolloutRestartKind = "Deployment"
	// RolloutRestartStatefulSet is an apps/v1 StatefulSet.
	RolloutRestartStatefulSet RolloutRestartKind = "StatefulSet"
	// RolloutRestartDaemonSet is an apps/v1 DaemonSet.
	RolloutRestartDaemonSet RolloutRestartKind = "DaemonSet"
)

// DefaultRolloutRestartMinInterval is the default of rolloutRestartTargets[].minInterval.
const DefaultRolloutRestartMinInterval = "5m"

// RolloutRestartTarget names a workload, in the VoipbinCredential's namespace, whose
// pods are restarted after the credential they read changed.
type RolloutRestartTarget struct {
	// kind is the workload's kind (apps/v1): Deployment, StatefulSet or DaemonSet.
	// +required
	Kind RolloutRestartKind `json:"kind"`

	// name is the workload's name, in this VoipbinCredential's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// minInterval is the shortest time between two restarts of this workload by the
	// operator. Credential changes within it (a renewal and a rotated accesskey, a
	// few refresh requests) give one restart: the first change restarts at once if
	// the last restart is at least minInterval ago, and the changes after it give
	// one more restart once minInterval has passed, so the pods always end up with
	// the last credential. Default 5m; at least 10s.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="minInterval must be at least 10s"
	MinInterval *metav1.Duration `json:"minInterval,omitempty"`
}

// RolloutRestartStatus is what the operator knows of one rollout restart target.
// It holds nothing secret.
type RolloutRestartStatus struct {
	// kind is the target's kind.
	// +required
	Kind RolloutRestartKind `json:"kind"`

	// name is the target's name.
	// +required
	Name string `json:"name"`

	// lastRestartTime is when the workload's pods were last restarted
	// (its pod template's kubectl.kubernetes.io/restartedAt), by the operator or
	// by anyone else.
	// +optional
	LastRestartTime *metav1.Time `json:"lastRestartTime,omitempty"`

	// nextRestartTime is when a restart held back by minInterval is due: the
	// credential changed since the last restart.
	// +optional
	NextRestartTime *metav1.Time `json:"nextRestartTime,omitempty"`

	// message says why the target could not be read or restarted (it does not
	// exist, the operator may not patch it, restarts are disabled); empty when
	// all is well.
	// +optional
	Message string `json:"message,omitempty"`
}

// The condition, reasons, events and annotations of rollout restarts (kept here,
// next to their types; conditions.go holds the rest).
const (
	// ConditionRolloutRestartTargetsReady reports spec.rolloutRestartTargets;
	// present only when it is set. It never changes Ready: a workload that cannot
	// be restarted does not make the credential less usable.
	ConditionRolloutRestartTargetsReady = "RolloutRestartTargetsReady"

	// ReasonUpToDate is RolloutRestartTargetsReady=True: every target was restarted
	// for the stored credential, or has run since before the operator first saw it.
	ReasonUpToDate = "UpToDate"
	// ReasonRestartScheduled is RolloutRestartTargetsReady=True: the credential
	// changed, and a target's restart waits for its minInterval (the message says
	// until when).
	ReasonRestartScheduled = "RestartScheduled"
	// ReasonRolloutRestartFailed is RolloutRestartTargetsReady=False: a target does
	// not exist, or the operator may not read or patch it. The message names it.
	ReasonRolloutRestartFailed = "RolloutRestartFailed"
	// ReasonRolloutRestartsDisabled is RolloutRestartTargetsReady=False: the
	// operator runs without --enable-rollout-restarts, so it restarts nothing.
	ReasonRolloutRestartsDisabled = "RolloutRestartsDisabled"

	// EventRolloutRestarted (Normal): a target was restarted for a new credential.
	EventRolloutRestarted = "RolloutRestarted"
	// EventRolloutRestartFailed (Warning): a target could not be read or restarted,
	// or restarts are disabled; on the transition only, not once per retry.
	EventRolloutRestartFailed = "RolloutRestartFailed"

	// AnnotationRestartedAt is the pod template annotation kubectl rollout restart
	// sets; changing it rolls the pods.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	// AnnotationRestartedForPrefix prefixes the annotation, on a target's own
	// metadata (not its pod template), that records the data-hash of the managed
	// Secret its pods were last restarted for, or had when the operator first saw
	// the target; one per VoipbinCredential (the rest of the key is its name, see
	// RestartedForAnnotation), so that two credentials read by one workload never
	// undo each other's record.
	AnnotationRestartedForPrefix = "restarted-for.credentials.voipbin.net/"
)

// maxAnnotationName is the longest name part of an annotation key.
const maxAnnotationName = 63

// RestartedForAnnotation is the annotation key, on a rollout restart target, of
// the VoipbinCredential named name: the prefix and the name, or for a name longer
// than an annotation name may be, its first 52 characters and a hash of the whole.
func RestartedForAnnotation(name string) string {
	if len(name) <= maxAnnotationName {
		return AnnotationRestartedForPrefix + name
	}
	return AnnotationRestartedForPrefix + name[:52] + "-" + shortHash(name)
}

// shortHash is the first 10 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:10]
}
