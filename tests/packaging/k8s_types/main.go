// Command k8s-types decodes every object of a multi-document Kubernetes manifest (what
// `helm template` prints) strictly into the Kubernetes and Prometheus Operator Go API types:
// a misspelt or misplaced field, a value of the wrong type or a duplicate key fails, where
// helm lint and a YAML parser pass it. Kinds it does not know fail too, so a new template
// cannot slip by unchecked.
//
//	helm template ... | k8s-types [-name LABEL]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The kinds a chart may render, by apiVersion and kind, each with a fresh typed object.
var kinds = map[string]func() any{
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"v1/ServiceAccount":             func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                  func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func check(document []byte) (string, error) {
	var head header
	if err := yaml.Unmarshal(document, &head); err != nil {
		return "", fmt.Errorf("not a Kubernetes object: %w", err)
	}
	what := head.Kind + "/" + head.Metadata.Name
	if head.APIVersion == "" || head.Kind == "" {
		return what, errors.New("no apiVersion or kind")
	}
	newObject, known := kinds[head.APIVersion+"/"+head.Kind]
	if !known {
		return what, fmt.Errorf("apiVersion %s kind %s is not one this check knows", head.APIVersion, head.Kind)
	}
	if err := yaml.UnmarshalStrict(document, newObject()); err != nil {
		return what, err
	}
	return what, nil
}

func main() {
	name := flag.String("name", "stdin", "what the manifest is, for messages")
	flag.Parse()
	reader := k8syaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	objects := 0
	for index := 1; ; index++ {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d: %v\n", *name, index, err)
			os.Exit(1)
		}
		if len(bytes.TrimSpace(removeComments(document))) == 0 {
			continue
		}
		what, err := check(document)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: document %d (%s): %v\n", *name, index, what, err)
			os.Exit(1)
		}
		fmt.Printf("ok   %s: %s\n", *name, what)
		objects++
	}
	if objects == 0 {
		fmt.Fprintf(os.Stderr, "%s: no objects\n", *name)
		os.Exit(1)
	}
}

// removeComments drops whole-line comments (helm template's "# Source:" lines), so a document
// of comments only counts as empty.
func removeComments(document []byte) []byte {
	var kept bytes.Buffer
	for _, line := range bytes.Split(document, []byte("\n")) {
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 && trimmed[0] == '#' {
			continue
		}
		kept.Write(line)
		kept.WriteByte('\n')
	}
	return kept.Bytes()
}
