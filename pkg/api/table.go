package api

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/metrics/pkg/apis/metrics"
)

var metricsColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the measured object"},
	{Name: "CPU", Type: "string", Description: "CPU usage in cores, averaged over the window"},
	{Name: "Memory", Type: "string", Description: "Working set memory"},
	{Name: "Window", Type: "string", Description: "Interval the CPU rate was computed over"},
}

func nodeMetricsTable(object runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: metricsColumns}
	switch t := object.(type) {
	case *metrics.NodeMetrics:
		table.Rows = append(table.Rows, nodeRow(t))
	case *metrics.NodeMetricsList:
		table.ResourceVersion = t.ResourceVersion
		table.Rows = make([]metav1.TableRow, 0, len(t.Items))
		for i := range t.Items {
			table.Rows = append(table.Rows, nodeRow(&t.Items[i]))
		}
	default:
		return nil, fmt.Errorf("cannot convert %T to a NodeMetrics table", object)
	}
	return table, nil
}

func nodeRow(m *metrics.NodeMetrics) metav1.TableRow {
	return metav1.TableRow{
		Cells:  []interface{}{m.Name, formatMilliCores(m.Usage.Cpu().MilliValue()), formatBytes(m.Usage.Memory().Value()), m.Window.Duration.String()},
		Object: runtime.RawExtension{Object: m},
	}
}

func podMetricsTable(object runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: metricsColumns}
	switch t := object.(type) {
	case *metrics.PodMetrics:
		table.Rows = append(table.Rows, podRow(t))
	case *CompactPodMetricsList: // not given to table requests; built if it were
		return podMetricsTable(t.PodMetricsList())
	case *metrics.PodMetricsList:
		table.ResourceVersion = t.ResourceVersion
		table.Rows = make([]metav1.TableRow, 0, len(t.Items))
		for i := range t.Items {
			table.Rows = append(table.Rows, podRow(&t.Items[i]))
		}
	default:
		return nil, fmt.Errorf("cannot convert %T to a PodMetrics table", object)
	}
	return table, nil
}

// podRow sums the pod's containers, as kubectl top pod does.
func podRow(m *metrics.PodMetrics) metav1.TableRow {
	var cpu, mem int64
	for _, c := range m.Containers {
		cpu += c.Usage.Cpu().MilliValue()
		mem += c.Usage.Memory().Value()
	}
	return metav1.TableRow{
		Cells:  []interface{}{m.Name, formatMilliCores(cpu), formatBytes(mem), m.Window.Duration.String()},
		Object: runtime.RawExtension{Object: m},
	}
}

func formatMilliCores(m int64) string { return fmt.Sprintf("%dm", m) }

// formatBytes prints Mi like kubectl top does, so columns read alike.
func formatBytes(b int64) string { return fmt.Sprintf("%dMi", b/(1024*1024)) }
