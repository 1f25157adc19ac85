package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction (continuation lines joined).
type instruction struct {
	Cmd  string // upper case: FROM, RUN, …
	Args string
	Line int
}

// parseDockerfile reads instructions, skipping comments and blank lines
// and joining lines that end in a backslash.
func parseDockerfile(src string) ([]instruction, error) {
	var out []instruction
	sc := bufio.NewScanner(strings.NewReader(src))
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSpace(strings.TrimSuffix(trimmed, "\\")) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", start)
	}
	return out, sc.Err()
}

// stage is a build stage: its FROM and instructions.
type stage struct {
	From, Name string
	Ins        []instruction
}

func stages(ins []instruction) []stage {
	var out []stage
	for _, in := range ins {
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			st := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			out = append(out, st)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].Ins = append(out[len(out)-1].Ins, in)
		}
	}
	return out
}

// checkDockerfile returns what is wrong with a Dockerfile for lbpilot: a
// Go build stage that runs `make build` with the Go of go.mod, a final
// distroless/static (or scratch) stage with both binaries, a numeric
// non-root user, the four ports and lbpilot as an exec-form entrypoint.
func checkDockerfile(src, goVersion string) []string {
	ins, err := parseDockerfile(src)
	if err != nil {
		return []string{err.Error()}
	}
	st := stages(ins)
	if len(st) < 2 {
		return []string{fmt.Sprintf("%d stage(s): want a build stage and a runtime stage", len(st))}
	}
	var probs []string
	build, final := st[0], st[len(st)-1]
	if !strings.HasPrefix(build.From, "golang:"+goVersion) || build.Name == "" {
		probs = append(probs, fmt.Sprintf("build stage FROM %s AS %q: want golang:%s… AS <name>", build.From, build.Name, goVersion))
	}
	makes := false
	for _, in := range build.Ins {
		if in.Cmd == "RUN" && regexp.MustCompile(`(^|[;&|]\s*)make build\b`).MatchString(in.Args) {
			makes = true
		}
	}
	if !makes {
		probs = append(probs, "the build stage does not RUN make build")
	}
	if !strings.HasPrefix(final.From, "gcr.io/distroless/static") && final.From != "scratch" {
		probs = append(probs, fmt.Sprintf("runtime stage FROM %s: want distroless/static or scratch", final.From))
	}
	var user, entrypoint string
	var copied, exposed []string
	for _, in := range final.Ins {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entrypoint = in.Args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.Args)...)
		case "COPY":
			f := strings.Fields(in.Args)
			from := ""
			var paths []string
			for _, a := range f {
				if v, ok := strings.CutPrefix(a, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(a, "--") {
					paths = append(paths, a)
				}
			}
			if from == build.Name && len(paths) >= 2 {
				for _, s := range paths[:len(paths)-1] {
					copied = append(copied, filepath.Join(paths[len(paths)-1], filepath.Base(s)))
				}
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		probs = append(probs, fmt.Sprintf("USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers)", user))
	}
	for _, p := range []string{"9707", "9708", "9709", "9710"} {
		if !contains(exposed, p) {
			probs = append(probs, "EXPOSE lacks "+p)
		}
	}
	for _, b := range []string{"/usr/local/bin/lbpilot", "/usr/local/bin/lbpilot-lab"} {
		if !contains(copied, b) {
			probs = append(probs, fmt.Sprintf("%s is not copied from the build stage (copied: %v)", b, copied))
		}
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || ep[0] != "/usr/local/bin/lbpilot" {
		probs = append(probs, fmt.Sprintf("ENTRYPOINT %s: want the exec form [\"/usr/local/bin/lbpilot\"]", entrypoint))
	}
	return probs
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// goVersion reads the go directive of the root go.mod ("1.26").
func goVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if probs := checkDockerfile(string(b), goVersion(t)); len(probs) > 0 {
		t.Errorf("Dockerfile:\n  %s", strings.Join(probs, "\n  "))
	}
	// The build context leaves out the checkout's own binaries and .git
	// (the revision comes in as a build argument).
	ign, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ign))
	for _, want := range []string{".git", "bin", ".demo"} {
		if !contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	if !strings.Contains(string(b), "ARG REVISION") || !strings.Contains(string(b), "REVISION=${REVISION}") {
		t.Error("the Dockerfile does not pass a REVISION build argument to make build")
	}
}

func TestCheckDockerfileCatchesMistakes(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"root user", "USER 65532:65532", "USER root", "non-root"},
		{"uid 0", "USER 65532:65532", "USER 0", "non-root"},
		{"no make build", "RUN make build", "RUN go build ./cmd/lbpilot", "make build"},
		{"old go", "FROM golang:1.26", "FROM golang:1.22", "golang:"},
		{"fat base", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:bookworm", "distroless"},
		{"shell entrypoint", `ENTRYPOINT ["/usr/local/bin/lbpilot"]`, "ENTRYPOINT /usr/local/bin/lbpilot", "exec form"},
		{"missing port", "EXPOSE 9707 9708 9709 9710", "EXPOSE 9708", "EXPOSE lacks 9707"},
		{"no lab", "/src/bin/lbpilot /src/bin/lbpilot-lab /usr/local/bin/", "/src/bin/lbpilot /usr/local/bin/", "lbpilot-lab is not copied"},
		{"one stage", "FROM gcr.io/distroless/static-debian12:nonroot\n", "", "stage"},
		{"dangling continuation", "CMD [\"exporter\"]", "CMD [\"exporter\"] \\", "continued"},
	} {
		bad := strings.Replace(string(good), c.old, c.new, 1)
		if bad == string(good) {
			t.Fatalf("%s: %q not in the Dockerfile", c.name, c.old)
		}
		probs := strings.Join(checkDockerfile(bad, "1.26"), "\n")
		if !strings.Contains(probs, c.want) {
			t.Errorf("%s: no %q among:\n%s", c.name, c.want, probs)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	ins, err := parseDockerfile("# c\nFROM a AS b\n\nRUN x \\\n  # inner comment\n  && y\ncopy --from=b /x /y\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []instruction{{"FROM", "a AS b", 2}, {"RUN", "x && y", 4}, {"COPY", "--from=b /x /y", 7}}
	if fmt.Sprint(ins) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", ins, want)
	}
}
