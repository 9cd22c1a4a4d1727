"""GPU telemetry through one interface with DCGM exporter names and units (`schema`), whichever source
measures it: the DCGM series in Prometheus (`prometheus`), NVML on this machine (`nvml`), a dcgm-exporter endpoint (`dcgm`), or the embedded cluster's
simulated GPU nodes, driven by what is scheduled on them (`simulated`). `telemetry()` picks the best
source there is; `report` holds the GPU profiler's numbers (telemetry joined with what the API says is
scheduled; its PNG and HTML are drawn in viz.gpu_report). A new source goes in a module of its own here:
a class with available(), sample() -> rows with schema.COLUMNS, describe() and `simulated`, tried in order
by `telemetry.telemetry()`. `exporter` serves any source in dcgm-exporter's format (the embedded cluster's
kubelab-gpu-exporter component)."""
from .dcgm import DcgmExporterSource, parse_dcgm
from .nvml import NvmlSource
from .prometheus import PrometheusSource
from .schema import COLUMNS, METRICS, PROFILING, UNITS, frame, pod_columns
from .simulated import (DEFAULT_SM_EFFICIENCY, DEFAULT_UTILIZATION, IDLE_FB_MIB, MEMORY_ANNOTATION, SM_ANNOTATION,
                        UTIL_ANNOTATION, SimulatedSource,
                        container_gpu_requests, gpu_values, model_name, parse_memory_mib, parse_utilization,
                        smooth_noise)
from .telemetry import GpuTelemetry, find_dcgm_exporter, telemetry
from . import report

__all__ = ["COLUMNS", "DEFAULT_SM_EFFICIENCY", "DEFAULT_UTILIZATION", "DcgmExporterSource", "GpuTelemetry",
           "IDLE_FB_MIB", "MEMORY_ANNOTATION", "METRICS", "PROFILING", "SM_ANNOTATION", "NvmlSource", "PrometheusSource", "SimulatedSource", "UNITS", "UTIL_ANNOTATION",
           "container_gpu_requests", "find_dcgm_exporter", "frame", "gpu_values", "model_name", "parse_dcgm",
           "parse_memory_mib", "parse_utilization", "pod_columns", "smooth_noise", "telemetry"]
