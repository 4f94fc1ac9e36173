//go:build tools

// Package tools pins the VerticalPodAutoscaler command this wrapper module builds.
package tools

import (
	_ "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender"
)
