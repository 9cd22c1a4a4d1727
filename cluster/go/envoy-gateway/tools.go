//go:build tools

// Package tools pins Envoy Gateway's controller (cmd/envoy-gateway), run by kubelab as a host process of the
// embedded cluster (src/kubelab/cluster/gateway.py), and the two modules whose CRDs the cluster installs from the
// module cache: the Gateway API (standard channel, config/crd/standard) at the version Envoy Gateway is built with,
// and the Gateway API Inference Extension (config/crd/bases, InferencePool v1). Importing one package of each keeps
// them in go.mod; only cmd/envoy-gateway is built.
package tools

import (
	_ "github.com/envoyproxy/gateway/cmd/envoy-gateway"
	_ "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	_ "sigs.k8s.io/gateway-api/apis/v1"
)
