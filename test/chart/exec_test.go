package chart

import (
	"os/exec"

	"github.com/voipbin/credential-operator/test/manifests"
)

// runScript runs a script of the repository from its root.
func runScript(script string, args ...string) ([]byte, error) {
	cmd := exec.Command(script, args...)
	cmd.Dir = manifests.Path(".")
	return cmd.CombinedOutput()
}
