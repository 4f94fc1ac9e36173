// Package app is the metrics-apiserver command.
package app

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/term"

	"github.com/metrics-apiserver/metrics-apiserver/cmd/metrics-apiserver/app/options"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/server"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/version"
)

// NewCommand returns the metrics-apiserver command; ctx ends it.
func NewCommand(ctx context.Context) *cobra.Command {
	o := options.NewOptions()
	cmd := &cobra.Command{
		Use:   "metrics-apiserver",
		Short: "Serves the Kubernetes resource Metrics API (metrics.k8s.io/v1beta1) from kubelets' /metrics/resource",
		Long: `metrics-apiserver scrapes every node's kubelet at /metrics/resource, keeps a few points per
node and container series in memory, and serves NodeMetrics and PodMetrics as an aggregated API
server for kubectl top, the HorizontalPodAutoscaler and the VerticalPodAutoscaler.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.ShowVersion {
				fmt.Fprintln(cmd.OutOrStdout(), version.Get())
				return nil
			}
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			if err := o.ApplyLogging(); err != nil {
				return err
			}
			tuneGC(os.Getenv)
			config, err := o.ServerConfig()
			if err != nil {
				return err
			}
			s, err := server.New(*config)
			if err != nil {
				return err
			}
			return s.Run(ctx)
		},
	}
	fss := o.Flags()
	fs := cmd.Flags()
	for _, f := range fss.FlagSets {
		fs.AddFlagSet(f)
	}
	cols, _, _ := term.TerminalSize(cmd.OutOrStdout())
	cliflag.SetUsageAndHelpFunc(cmd, fss, cols)
	return cmd
}
