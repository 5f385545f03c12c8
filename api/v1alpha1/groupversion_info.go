// Package v1alpha1 contains the VoipbinCredential API of the credentials.voipbin.net group.
//
// +kubebuilder:object:generate=true
// +groupName=credentials.voipbin.net
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "credentials.voipbin.net", Version: "v1alpha1"}

	// SchemeBuilder registers this API's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this API's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the API's kinds. The package imports only
// k8s.io/apimachinery, so that other projects can use the types cheaply.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &VoipbinCredential{}, &VoipbinCredentialList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
