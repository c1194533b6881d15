//go:build tools

// Package tools pins the Jaeger v2 binary that stack/build-jaeger.sh builds:
// `go build -o ... github.com/jaegertracing/jaeger/cmd/jaeger` from this module.
// go.mod requires github.com/jaegertracing/jaeger v1.76.0 (= Jaeger v2.13.0) and repeats its one
// replace directive, which is why `go install ...@v1.76.0` is refused and this module is needed.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
