//go:build tools

// Package tools pins KEDA's three commands: the operator (cmd/operator: ScaledObject -> HPA, and the 0<->1 step
// itself), the metrics API server (cmd/adapter: external.metrics.k8s.io, which the HPA controller reads) and the
// admission webhooks (cmd/webhooks), run by kubelab as host processes of the embedded cluster
// (src/kubelab/cluster/keda.py).
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/adapter"
	_ "github.com/kedacore/keda/v2/cmd/operator"
	_ "github.com/kedacore/keda/v2/cmd/webhooks"
)
