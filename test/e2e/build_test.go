package e2e

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/voipbin/credential-operator/test/harness"
)

// releaseBuild is how the Dockerfile builds the manager: its go build command's
// environment assignments, whether it passes -trimpath, and its -ldflags.
type releaseBuild struct {
	env      map[string]string
	trimpath bool
	ldflags  string
}

// dockerfileBuild reads the go build command of the Dockerfile's builder stage.
func dockerfileBuild() releaseBuild {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Dockerfile"))
	Expect(err).NotTo(HaveOccurred())
	joined := strings.ReplaceAll(string(data), "\\\n", " ")
	var runs []string
	for _, line := range strings.Split(joined, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			runs = append(runs, line)
		}
	}
	Expect(runs).To(HaveLen(1), "the Dockerfile's RUN ... go build")
	before, after, _ := strings.Cut(strings.TrimPrefix(runs[0], "RUN "), "go build")
	b := releaseBuild{env: map[string]string{}, trimpath: regexp.MustCompile(`(^|\s)-trimpath(\s|$)`).MatchString(after)}
	for _, word := range strings.Fields(before) {
		if k, v, ok := strings.Cut(word, "="); ok {
			b.env[k] = v
		}
	}
	m := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(after)
	Expect(m).NotTo(BeNil(), "no -ldflags \"...\" in the Dockerfile's go build: %s", runs[0])
	b.ldflags = m[1]
	return b
}

// makefileBuild reads the LDFLAGS variable and the go build line of the Makefile's
// build target.
func makefileBuild() (ldflags, command string) {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Makefile"))
	Expect(err).NotTo(HaveOccurred())
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.+)$`).FindStringSubmatch(string(data))
	Expect(m).NotTo(BeNil(), "no LDFLAGS in the Makefile")
	recipe := regexp.MustCompile(`(?m)^build:.*\n((?:\t.*\n)+)`).FindStringSubmatch(string(data))
	Expect(recipe).NotTo(BeNil(), "no build target in the Makefile")
	for _, line := range strings.Split(recipe[1], "\n") {
		if strings.Contains(line, "go build") {
			return strings.TrimSpace(m[1]), strings.TrimSpace(line)
		}
	}
	Fail("the Makefile's build target runs no go build:\n" + recipe[1])
	return "", ""
}

// dynamicLinking lists what makes the ELF file at path depend on a dynamic loader or
// shared libraries: a PT_INTERP or PT_DYNAMIC program header, DT_NEEDED entries.
func dynamicLinking(path string) []string {
	GinkgoHelper()
	f, err := elf.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()
	var found []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			found = append(found, p.Type.String())
		}
	}
	libs, err := f.ImportedLibraries()
	Expect(err).NotTo(HaveOccurred())
	for _, lib := range libs {
		found = append(found, "DT_NEEDED "+lib)
	}
	return found
}

// goBuild runs go build with args in dir with env added, and fails the spec
// with the output if it fails.
func goBuild(dir string, env []string, args ...string) {
	GinkgoHelper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build %s:\n%s", strings.Join(args, " "), out)
}

// The image is linux; the ELF checks need a linux build host.
var _ = Describe("The release build", func() {
	const stamped = "v9.8.7-static-test"
	BeforeEach(func() {
		if runtime.GOOS != "linux" {
			Skip("the image is linux; the ELF checks need a linux build host")
		}
	})

	It("is, in the Dockerfile, with CGO off, -trimpath and the version stamped", func() {
		docker := dockerfileBuild()
		Expect(docker.env).To(HaveKeyWithValue("CGO_ENABLED", "0"))
		Expect(docker.trimpath).To(BeTrue(), "-trimpath")
		Expect(docker.ldflags).To(ContainSubstring("${VERSION}"), "the Dockerfile's -ldflags stamp ${VERSION}")
	})

	It("is make build's too: the Dockerfile's flags", func() {
		docker := dockerfileBuild()
		ldflags, command := makefileBuild()
		Expect(command).To(MatchRegexp(`(^|\s)CGO_ENABLED=0\s`), "make build sets CGO_ENABLED=0")
		Expect(command).To(MatchRegexp(`\s-trimpath(\s|$)`), "make build passes -trimpath")
		Expect(command).To(ContainSubstring(`-ldflags "$(LDFLAGS)"`), "make build passes -ldflags \"$(LDFLAGS)\"")
		Expect(strings.ReplaceAll(ldflags, "$(VERSION)", stamped)).
			To(Equal(strings.ReplaceAll(docker.ldflags, "${VERSION}", stamped)), "make build's LDFLAGS and the Dockerfile's")
	})

	It("makes a static manager that records its build settings and prints the stamped version", func() {
		docker := dockerfileBuild()
		bin := filepath.Join(GinkgoT().TempDir(), "manager")
		var args []string
		if docker.trimpath {
			args = append(args, "-trimpath")
		}
		args = append(args, "-ldflags", strings.ReplaceAll(docker.ldflags, "${VERSION}", stamped), "-o", bin, ".")
		goBuild(harness.RepoRoot(), []string{"CGO_ENABLED=" + docker.env["CGO_ENABLED"], "GOOS=linux", "GOARCH=" + runtime.GOARCH}, args...)

		Expect(dynamicLinking(bin)).To(BeEmpty(), "the manager is dynamically linked")
		info, err := buildinfo.ReadFile(bin)
		Expect(err).NotTo(HaveOccurred())
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		Expect(settings).To(And(HaveKeyWithValue("CGO_ENABLED", "0"), HaveKeyWithValue("-trimpath", "true")), "build settings")
		out, err := exec.Command(bin, "--version").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "--version:\n%s", out)
		Expect(strings.TrimSpace(string(out))).To(Equal(stamped), "--version")
	})

	It("control: a cgo binary is reported dynamic", func() {
		if _, err := exec.LookPath("gcc"); err != nil {
			Skip("no C compiler for the cgo control")
		}
		dir := GinkgoT().TempDir()
		for name, content := range map[string]string{
			"go.mod":  "module cgocontrol\n\ngo 1.26\n",
			"main.go": "package main\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc main() { C.puts(C.CString(\"hi\")) }\n",
		} {
			Expect(os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)).To(Succeed())
		}
		control := filepath.Join(dir, "control")
		goBuild(dir, []string{"CGO_ENABLED=1", "CC=gcc"}, "-o", control, ".")
		Expect(dynamicLinking(control)).NotTo(BeEmpty(), "a cgo binary was reported statically linked: the check sees nothing")
	})
})
