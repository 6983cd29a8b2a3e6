// k8scheck checks Kubernetes manifests offline, strictly: every YAML document is decoded into
// the Go type the API server would decode it into (k8s.io/api, and KEDA's own API types for
// keda.sh objects) with unknown and duplicate fields being errors, then a few rules the API
// server or the controllers enforce are checked (names, labels, selectors that select their
// pod template, volumes that exist, probes on declared ports, a KEDA target that is rendered).
//
// No cluster is needed: this is how the Helm chart under infra/charts is checked in `make test`.
//
//	helm template ... | k8scheck            # documents on stdin
//	k8scheck a.yaml b.yaml                  # or files
//	k8scheck -json < rendered.yaml          # one JSON report instead of lines of text
//
// Exit status: 0 when every document passes, 1 when any fails, 2 on a usage or read error.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// result is the verdict on one document.
type result struct {
	Source string   `json:"source"`
	Index  int      `json:"index"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Errors []string `json:"errors"`
}

func main() {
	jsonOut := flag.Bool("json", false, "print one JSON report instead of a line per document")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(),
			"usage: k8scheck [-json] [FILE...]\n\nStrictly checks Kubernetes manifests (YAML, "+
				"several documents per file) against the API types; reads stdin without FILEs.")
		flag.PrintDefaults()
	}
	flag.Parse()
	results, err := checkAll(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8scheck:", err)
		os.Exit(2)
	}
	failed := report(results, *jsonOut)
	if failed {
		os.Exit(1)
	}
}

func checkAll(paths []string) ([]result, error) {
	var docs []document
	if len(paths) == 0 {
		read, err := readDocuments("<stdin>", os.Stdin)
		if err != nil {
			return nil, err
		}
		docs = read
	}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		read, err := readDocuments(path, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		docs = append(docs, read...)
	}
	if len(docs) == 0 {
		return nil, errors.New("no Kubernetes objects in the input")
	}
	return checkDocuments(docs), nil
}

// document is one YAML document of the input, as written.
type document struct {
	source string
	index  int
	raw    []byte
}

func readDocuments(source string, r io.Reader) ([]document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []document
	for i := 0; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if isEmpty(raw) {
			continue
		}
		docs = append(docs, document{source: source, index: i, raw: raw})
	}
}

// isEmpty: a document of only comments and blank lines (Helm leaves these for disabled parts).
func isEmpty(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		text := strings.TrimSpace(string(line))
		if text != "" && text != "---" && !strings.HasPrefix(text, "#") {
			return false
		}
	}
	return true
}

func checkDocuments(docs []document) []result {
	objects := make([]*object, 0, len(docs))
	results := make([]result, 0, len(docs))
	decoded := true
	for _, doc := range docs {
		obj, errs := decode(doc.raw)
		res := result{Source: doc.source, Index: doc.index, Kind: obj.kind, Name: obj.name}
		if len(errs) == 0 {
			errs = checkObject(obj)
			objects = append(objects, obj)
		} else {
			decoded = false
		}
		res.Errors = messages(errs)
		results = append(results, res)
	}
	// Rules between objects only once every object decoded: an object that did not would
	// otherwise show up again as the missing target of everything pointing at it.
	if !decoded {
		return results
	}
	for i, errs := range checkReferences(objects) {
		for j := range results {
			if results[j].Kind == objects[i].kind && results[j].Name == objects[i].name {
				results[j].Errors = append(results[j].Errors, messages(errs)...)
			}
		}
	}
	return results
}

func messages(errs []error) []string {
	out := make([]string, 0, len(errs))
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

func report(results []result, jsonOut bool) bool {
	failed := false
	for _, r := range results {
		failed = failed || len(r.Errors) > 0
	}
	if jsonOut {
		out, _ := json.MarshalIndent(map[string]any{"ok": !failed, "objects": results}, "", "  ")
		fmt.Println(string(out))
		return failed
	}
	for _, r := range results {
		what := fmt.Sprintf("%s %s/%s (document %d)", r.Source, r.Kind, r.Name, r.Index+1)
		if len(r.Errors) == 0 {
			fmt.Println("ok  ", what)
			continue
		}
		fmt.Println("FAIL", what)
		for _, e := range r.Errors {
			fmt.Println("     ", e)
		}
	}
	fmt.Printf("%d objects, %d failed\n", len(results), countFailed(results))
	return failed
}

func countFailed(results []result) int {
	n := 0
	for _, r := range results {
		if len(r.Errors) > 0 {
			n++
		}
	}
	return n
}
