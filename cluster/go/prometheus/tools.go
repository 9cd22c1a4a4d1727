//go:build tools

// Package tools pins Prometheus (cmd/prometheus only; built with the remove_all_sd tag: the embedded
// cluster's scrape configuration is static, so no service-discovery plugin is compiled in).
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
