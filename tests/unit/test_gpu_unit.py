"""GPU telemetry pieces that need no cluster: Prometheus parsing over a real local HTTP server,
simulated value generation, annotation parsing, the no-GPU NVML path."""
from __future__ import annotations

import http.server
import math
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes import client

from kubelab import gpu
from kubelab.errors import KubelabError
from kubelab.cluster import pools
from kubelab.errors import KubelabError

UUID0, UUID1 = "GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52", "GPU-1d2e3f40-0000-4000-8000-000000000001"
# The shape dcgm-exporter 3.x/4.x serves: HELP/TYPE lines, many labels, metrics we do not use.
DCGM_TEXT = f"""\
# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{{gpu="0",UUID="{UUID0}",pci_bus_id="00000000:00:1E.0",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",DCGM_FI_DRIVER_VERSION="550.54.15",container="",namespace="",pod=""}} 1410
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{{gpu="0",UUID="{UUID0}",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="main",namespace="ml",pod="trainer"}} 61
DCGM_FI_DEV_GPU_TEMP{{gpu="1",UUID="{UUID1}",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="",namespace="",pod=""}} 33
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{{gpu="0",UUID="{UUID0}",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="main",namespace="ml",pod="trainer"}} 312.5
DCGM_FI_DEV_POWER_USAGE{{gpu="1",UUID="{UUID1}",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="",namespace="",pod=""}} 61.25
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="{UUID0}",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="main",namespace="ml",pod="trainer"}} 87
DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="{UUID0}",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="side",namespace="ml",pod="eval"}} 87
DCGM_FI_DEV_GPU_UTIL{{gpu="1",UUID="{UUID1}",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="",namespace="",pod=""}} 0
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{{gpu="0",UUID="{UUID0}",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="main",namespace="ml",pod="trainer"}} 40960
DCGM_FI_DEV_FB_FREE{{gpu="1",UUID="{UUID1}",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="",namespace="",pod=""}} 81920
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{{gpu="0",UUID="{UUID0}",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="main",namespace="ml",pod="trainer"}} 40960
DCGM_FI_DEV_FB_USED{{gpu="1",UUID="{UUID1}",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a",container="",namespace="",pod=""}} 0
"""


@pytest.fixture
def exporter():
    """A real HTTP server on 127.0.0.1 serving DCGM_TEXT at /metrics (404 elsewhere)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = DCGM_TEXT.encode() if self.path == "/metrics" else b"not found"
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# -- dcgm-exporter -------------------------------------------------------------------------------

def test_parse_dcgm_gives_one_row_per_gpu_with_dcgm_names_and_units():
    rows = {r["gpu"]: r for r in gpu.parse_dcgm(DCGM_TEXT)}
    assert sorted(rows) == [0, 1]
    busy = rows[0]
    assert busy["UUID"] == UUID0 and busy["modelName"] == "NVIDIA A100-SXM4-80GB" and busy["Hostname"] == "node-a"
    assert (busy["DCGM_FI_DEV_GPU_UTIL"], busy["DCGM_FI_DEV_FB_USED"], busy["DCGM_FI_DEV_FB_FREE"]) == (87, 40960, 40960)
    assert (busy["DCGM_FI_DEV_POWER_USAGE"], busy["DCGM_FI_DEV_GPU_TEMP"]) == (312.5, 61)
    # Two pods share GPU 0 (time-slicing): one row, both pods listed in the same order in each column.
    assert (busy["pod"], busy["namespace"], busy["container"]) == ("trainer,eval", "ml,ml", "main,side")
    assert (rows[1]["pod"], rows[1]["DCGM_FI_DEV_GPU_UTIL"]) == ("", 0)
    assert all(r["source"] == "dcgm-exporter" and r["simulated"] is False for r in rows.values())
    assert "DCGM_FI_DEV_SM_CLOCK" not in busy


def test_parse_dcgm_rejects_text_that_is_not_prometheus():
    with pytest.raises(KubelabError, match="not valid Prometheus text") as exc:
        gpu.parse_dcgm("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} eighty\n")
    assert "dcgm-exporter /metrics" in exc.value.fix


def test_dcgm_exporter_source_reads_a_live_metrics_endpoint(exporter):
    tel = gpu.GpuTelemetry(gpu.DcgmExporterSource(f"{exporter}/metrics"))
    df = tel.sample()
    assert list(df.columns) == gpu.COLUMNS
    assert len(df) == 2 and set(df.source) == {"dcgm-exporter"} and not df.simulated.any()
    assert str(df.time.dt.tz) == "UTC"
    assert "dcgm-exporter" in tel.describe() and "not simulated" in tel.describe()


def test_collect_takes_a_bounded_series_of_samples(exporter):
    df = gpu.GpuTelemetry(gpu.DcgmExporterSource(f"{exporter}/metrics")).collect(every=0.1, duration=0.3)
    assert df.time.nunique() == 4 and len(df) == 8  # t = 0, 0.1, 0.2, 0.3
    assert df.time.is_monotonic_increasing


@pytest.mark.parametrize("every,duration", [(0, 1), (-1, 1), (1, -1)])
def test_collect_refuses_a_loop_that_cannot_run(exporter, every, duration):
    with pytest.raises(KubelabError, match="needs every > 0"):
        gpu.GpuTelemetry(gpu.DcgmExporterSource(f"{exporter}/metrics")).collect(every=every, duration=duration)


def test_unreachable_or_wrong_exporter_url_is_a_clear_error(exporter):
    with pytest.raises(KubelabError, match="cannot read dcgm-exporter metrics at .*/nothing-here") as exc:
        gpu.DcgmExporterSource(f"{exporter}/nothing-here").sample()
    assert "9400/metrics" in exc.value.fix
    with pytest.raises(KubelabError, match="cannot read dcgm-exporter metrics"):
        gpu.DcgmExporterSource("http://127.0.0.1:9/metrics", timeout=1).sample()


def test_telemetry_with_a_url_uses_that_exporter_without_a_cluster(exporter):
    tel = gpu.telemetry(None, url=f"{exporter}/metrics")
    assert isinstance(tel.source, gpu.DcgmExporterSource) and not tel.simulated


def test_telemetry_refuses_an_unknown_source():
    with pytest.raises(KubelabError, match="unknown telemetry source 'gpu-z'"):
        gpu.telemetry(None, source="gpu-z")


# -- annotations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [("75", (75, 75)), ("60-90", (60, 90)), (" 60 - 90 ", (60, 90)),
                                           ("0", (0, 0)), ("99.5-100", (99.5, 100)), (None, gpu.DEFAULT_UTILIZATION)])
def test_utilization_annotation_parses_a_value_or_a_range(text, expected):
    assert gpu.parse_utilization(text) == expected


@pytest.mark.parametrize("text", ["", "busy", "90-60", "120", "-5", "60-", "60-90-95", "75%", "50-101"])
def test_bad_utilization_annotation_is_a_clear_error(text):
    with pytest.raises(KubelabError) as exc:
        gpu.parse_utilization(text, where="pod ml/trainer: ")
    assert str(exc.value.problem).startswith(f"pod ml/trainer: annotation {gpu.UTIL_ANNOTATION}={text!r}")
    assert '"60-90"' in exc.value.fix and "0-100" in exc.value.fix


def test_memory_annotation_parses_mib_or_defaults():
    assert gpu.parse_memory_mib("40960", default=1.0) == 40960
    assert gpu.parse_memory_mib(None, default=123.0) == 123.0
    for bad in ("40Gi", "-1", "lots", "nan", "inf"):
        with pytest.raises(KubelabError, match=f"{gpu.MEMORY_ANNOTATION}=.*not a number of MiB"):
            gpu.parse_memory_mib(bad, default=1.0)


# -- simulated values ----------------------------------------------------------------------------

def _gpu(model="NVIDIA A100-SXM4-80GB", memory=81920.0, loads=()):
    g = gpu.simulated._Gpu("a100-0", 3, model, memory)
    g.loads.extend(loads)
    return g


def _load(util=(80.0, 90.0), memory=1000.0, share=1.0, key="uid-1", sm_efficiency=gpu.DEFAULT_SM_EFFICIENCY):
    return gpu.simulated._Load("trainer", "ml", "main", key, share, util, memory, sm_efficiency)


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def test_smooth_noise_is_deterministic_bounded_and_smooth():
    values = [gpu.smooth_noise("GPU-x/uid", T0 + 0.5 * k) for k in range(200)]
    assert all(0 <= v <= 1 for v in values)
    assert values == [gpu.smooth_noise("GPU-x/uid", T0 + 0.5 * k) for k in range(200)]
    assert max(abs(a - b) for a, b in zip(values, values[1:])) < 0.2  # no jumps between half-second samples
    assert len({round(v, 3) for v in values}) > 50                    # but it does vary
    assert values != [gpu.smooth_noise("GPU-y/uid", T0 + 0.5 * k) for k in range(200)]


def test_busy_gpu_stays_within_its_range_and_power_and_temperature_follow():
    samples = [gpu.gpu_values(_gpu(loads=[_load()]), T0 + k) for k in range(300)]
    utils = [s["DCGM_FI_DEV_GPU_UTIL"] for s in samples]
    assert min(utils) >= 80 and max(utils) <= 90 and len(set(utils)) > 3
    for s in samples:
        assert s["DCGM_FI_DEV_FB_USED"] == 1000 and s["DCGM_FI_DEV_FB_FREE"] == 81920 - 1000
        assert 60 + 0.8 * 340 - 1 <= s["DCGM_FI_DEV_POWER_USAGE"] <= 60 + 0.9 * 340 + 1  # A100: 60..400 W
        assert 35 + 0.8 * 40 - 1 <= s["DCGM_FI_DEV_GPU_TEMP"] <= 35 + 0.9 * 40 + 1


def test_fixed_utilization_reads_exactly_that_value():
    assert {gpu.gpu_values(_gpu(loads=[_load(util=(75.0, 75.0))]), T0 + k)["DCGM_FI_DEV_GPU_UTIL"]
            for k in range(50)} == {75}


def test_idle_gpu_reads_idle():
    assert gpu.gpu_values(_gpu(), T0) == {
        "DCGM_FI_DEV_GPU_UTIL": 0, "DCGM_FI_DEV_FB_USED": gpu.IDLE_FB_MIB,
        "DCGM_FI_DEV_FB_FREE": 81920 - gpu.IDLE_FB_MIB, "DCGM_FI_DEV_POWER_USAGE": 60.0, "DCGM_FI_DEV_GPU_TEMP": 35,
        **{m: 0 for m in gpu.PROFILING}}


def test_busy_is_not_working_full_utilization_with_idle_sms():
    """GPU_UTIL counts time a kernel ran; SM_ACTIVE how much of the GPU it kept busy (dcgm-exporter's fields)."""
    starved = gpu.gpu_values(_gpu(loads=[_load(util=(100.0, 100.0), sm_efficiency=0.1)]), T0)
    assert starved["DCGM_FI_DEV_GPU_UTIL"] == 100 and starved["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] == 1.0
    assert starved["DCGM_FI_PROF_SM_ACTIVE"] == 0.1
    assert starved["DCGM_FI_PROF_SM_OCCUPANCY"] <= starved["DCGM_FI_PROF_SM_ACTIVE"]
    working = gpu.gpu_values(_gpu(loads=[_load(util=(100.0, 100.0))]), T0)
    assert working["DCGM_FI_PROF_SM_ACTIVE"] == gpu.DEFAULT_SM_EFFICIENCY
    assert all(0 <= working[m] <= 1 for m in gpu.PROFILING) and gpu.UNITS["DCGM_FI_PROF_SM_ACTIVE"] == "ratio"


@pytest.mark.parametrize("value", ["1.5", "-0.1", "most", ""])
def test_sm_efficiency_annotation_outside_0_1_is_one_clear_error(value):
    with pytest.raises(KubelabError, match="kubelab.io/gpu-sm-efficiency"):
        gpu.simulated.parse_sm_efficiency(value, "pod a/b: ")


@pytest.mark.parametrize("model,tdp", [("NVIDIA H100 80GB HBM3", 700), ("NVIDIA A100-SXM4-80GB", 400),
                                       ("Tesla T4", 70), ("NVIDIA L40S", 300)])
def test_power_spans_idle_to_the_products_tdp(model, tdp):
    full = gpu.gpu_values(_gpu(model=model, loads=[_load(util=(100.0, 100.0))]), T0)
    idle = gpu.gpu_values(_gpu(model=model), T0)
    assert full["DCGM_FI_DEV_POWER_USAGE"] == tdp
    assert idle["DCGM_FI_DEV_POWER_USAGE"] == min(60.0, 0.15 * tdp)


def test_shared_gpu_adds_loads_caps_at_100_and_caps_memory():
    two = [_load(util=(70.0, 70.0), memory=50000, key="a"), _load(util=(60.0, 60.0), memory=50000, key="b")]
    v = gpu.gpu_values(_gpu(loads=two), T0)
    assert v["DCGM_FI_DEV_GPU_UTIL"] == 100
    assert (v["DCGM_FI_DEV_FB_USED"], v["DCGM_FI_DEV_FB_FREE"]) == (81920, 0)


def test_mig_slice_counts_its_share_of_the_gpu():
    v = gpu.gpu_values(_gpu(loads=[_load(util=(70.0, 70.0), share=3 / 7)]), T0)
    assert v["DCGM_FI_DEV_GPU_UTIL"] == 30


def _node(labels):
    return client.V1Node(metadata=client.V1ObjectMeta(name="n-0", labels=labels))


def test_mig_instances_are_laid_out_first_fit_by_compute_slices():
    pool = next(p for p in pools.load() if p.gpu and p.gpu.sharing == "mig")
    node = pools.nodes([pool])[0]
    gpus, slots = gpu.simulated._node_gpus(_node(node["metadata"]["labels"]))
    assert len(gpus) == 2 and "nvidia.com/gpu" not in slots
    assert [s.index for s in slots["nvidia.com/mig-1g.10gb"]] == [0] * 7
    assert [s.index for s in slots["nvidia.com/mig-3g.40gb"]] == [1, 1]
    assert slots["nvidia.com/mig-3g.40gb"][0].memory_mib == 40 * 1024 and slots["nvidia.com/mig-3g.40gb"][0].share == 3 / 7


def test_time_sliced_gpu_offers_replicas_slots_on_one_gpu():
    pool = next(p for p in pools.load() if p.gpu and p.gpu.sharing == "time-slicing")
    gpus, slots = gpu.simulated._node_gpus(_node(pools.nodes([pool])[0]["metadata"]["labels"]))
    assert [g.model for g in gpus] == ["Tesla T4"]
    assert [s.index for s in slots["nvidia.com/gpu"]] == [0, 0, 0, 0]


def test_simulated_model_name_is_the_dra_product_name_and_nvml_spells_both():
    for s in pools.resource_slices(pools.load()):
        node = next(n for n in pools.nodes(pools.load()) if n["metadata"]["name"] == s["spec"]["nodeName"])
        assert {d["attributes"]["productName"]["string"] for d in s["spec"]["devices"]} == {gpu.model_name(node)}
    # NVML's names (nvidia-smi, dcgm-exporter's modelName, NVIDIA's DRA driver): spaces, not GFD's dashes
    names = {n["metadata"]["labels"]["nvidia.com/gpu.product"]: gpu.model_name(n)
             for n in pools.nodes(pools.load()) if "nvidia.com/gpu.product" in n["metadata"]["labels"]}
    assert names == {"NVIDIA-A100-SXM4-80GB": "NVIDIA A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3": "NVIDIA H100 80GB HBM3",
                     "Tesla-T4-SHARED": "Tesla T4"}
    # a node without kubelab's annotation (another cluster's): from the label, the -SHARED suffix dropped
    assert gpu.model_name({"metadata": {"labels": {"nvidia.com/gpu.product": "Tesla-T4-SHARED"}}}) == "Tesla T4"
    for product, name in pools.NVML_NAMES.items():
        assert pools.gfd_product(name) == product


def test_frame_has_exactly_the_columns_even_when_empty():
    df = gpu.frame([])
    assert list(df.columns) == gpu.COLUMNS and df.empty


# -- NVML without a GPU --------------------------------------------------------------------------

def _skip_if_gpu():
    if gpu.NvmlSource().available():
        pytest.skip("this machine has an NVIDIA GPU; the no-GPU path cannot be exercised here")


def test_nvml_without_a_gpu_says_why_and_prints_nothing(capfd):
    _skip_if_gpu()
    source = gpu.NvmlSource()
    assert source.available() is False
    assert source.reason.startswith("no local GPU (NVML: ") and source.reason.endswith(")")
    with pytest.raises(KubelabError) as exc:
        source.sample()
    assert exc.value.problem == source.reason and "source='simulated'" in exc.value.fix
    assert "unavailable" in source.describe()
    with pytest.raises(KubelabError, match=r"no local GPU \(NVML"):
        gpu.telemetry(None, source="nvml")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def _nvml_library(memory_v2=True, temperature=True):
    """A stand-in for the NVML *library* (there is no GPU here), built from pynvml's own structs,
    constants and error classes, so the unit conversions of NvmlSource are checked."""
    import pynvml

    def fail(code):
        raise pynvml.NVMLError(code)

    util = pynvml.c_nvmlUtilization_t(gpu=87, memory=40)
    v2 = pynvml.c_nvmlMemory_v2_t(total=80 * 2**30, reserved=2**30, used=10 * 2**30, free=69 * 2**30)
    v1 = pynvml.c_nvmlMemory_t(total=80 * 2**30, used=11 * 2**30, free=69 * 2**30)
    return SimpleNamespace(
        NVMLError=pynvml.NVMLError, NVMLError_NotSupported=pynvml.NVMLError_NotSupported,
        NVMLError_NoPermission=pynvml.NVMLError_NoPermission, nvmlMemory_v2=pynvml.nvmlMemory_v2,
        NVML_TEMPERATURE_GPU=pynvml.NVML_TEMPERATURE_GPU,
        nvmlDeviceGetHandleByIndex=lambda i: f"handle-{i}", nvmlDeviceGetUUID=lambda h: "GPU-0a1b",
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3", nvmlDeviceGetUtilizationRates=lambda h: util,
        nvmlDeviceGetMemoryInfo=lambda h, version=None: (
            (v2 if memory_v2 else fail(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)) if version else v1),
        nvmlDeviceGetPowerUsage=lambda h: 312_500,
        nvmlDeviceGetTemperature=lambda h, sensor: 61 if temperature else fail(pynvml.NVML_ERROR_NOT_SUPPORTED))


def test_nvml_row_has_dcgm_units():
    row = gpu.NvmlSource()._row(_nvml_library(), 0, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert (row["gpu"], row["UUID"], row["modelName"]) == (0, "GPU-0a1b", "NVIDIA H100 80GB HBM3")
    assert (row["DCGM_FI_DEV_GPU_UTIL"], row["DCGM_FI_DEV_FB_USED"], row["DCGM_FI_DEV_FB_FREE"]) == (87, 10240, 70656)
    assert (row["DCGM_FI_DEV_POWER_USAGE"], row["DCGM_FI_DEV_GPU_TEMP"]) == (312.5, 61)
    assert (row["pod"], row["source"], row["simulated"]) == ("", "nvml", False)


def test_nvml_row_falls_back_to_v1_memory_and_reads_unsupported_fields_as_nan():
    row = gpu.NvmlSource()._row(_nvml_library(memory_v2=False, temperature=False), 1, datetime.now(timezone.utc))
    assert row["DCGM_FI_DEV_FB_USED"] == 11264 and math.isnan(row["DCGM_FI_DEV_GPU_TEMP"])


def test_auto_without_gpu_or_cluster_says_both():
    _skip_if_gpu()
    with pytest.raises(KubelabError) as exc:
        gpu.telemetry(None)  # never falls back to ~/.kube/config or a default cluster
    assert exc.value.problem.startswith("no GPU telemetry source: no local GPU (NVML: ")
    assert "and no cluster was given to look in" in exc.value.problem
    assert "telemetry(kl.connect())" in exc.value.fix


def test_nvml_probe_script_exits_cleanly_without_a_gpu():
    _skip_if_gpu()
    script = Path(__file__).resolve().parents[2] / "bench" / "nvml_probe.py"
    proc = subprocess.run([sys.executable, str(script), "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("no local GPU (NVML: ") and proc.stderr == ""


# dcgm-exporter's text for a MIG-enabled A100 (labels as in NVIDIA/dcgm-exporter issues #272 and #544): no
# DCGM_FI_DEV_GPU_UTIL; the GPU's own power series and one series per instance with GPU_I_PROFILE / GPU_I_ID
MIG_TEXT = """\
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-ed13",device="nvidia0",modelName="NVIDIA A100 80GB PCIe",Hostname="mig-a"} 120.5
# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-ed13",device="nvidia0",modelName="NVIDIA A100 80GB PCIe",GPU_I_PROFILE="3g.40gb",GPU_I_ID="1",Hostname="mig-a",pod="infer",namespace="ml",container="triton"} 0.62
DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-ed13",device="nvidia0",modelName="NVIDIA A100 80GB PCIe",GPU_I_PROFILE="4g.40gb",GPU_I_ID="2",Hostname="mig-a"} 0
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-ed13",device="nvidia0",modelName="NVIDIA A100 80GB PCIe",GPU_I_PROFILE="3g.40gb",GPU_I_ID="1",Hostname="mig-a",pod="infer",namespace="ml",container="triton"} 20480
"""


def test_parse_dcgm_keeps_a_mig_gpus_instances_apart_with_their_pods():
    rows = {r["GPU_I_ID"]: r for r in gpu.parse_dcgm(MIG_TEXT)}
    assert sorted(rows) == ["", "1", "2"]
    assert rows[""]["DCGM_FI_DEV_POWER_USAGE"] == 120.5 and rows[""]["pod"] == ""
    infer = rows["1"]
    assert (infer["GPU_I_PROFILE"], infer["pod"], infer["DCGM_FI_PROF_GR_ENGINE_ACTIVE"]) == ("3g.40gb", "infer", 0.62)
    assert infer["DCGM_FI_DEV_FB_USED"] == 20480 and math.isnan(infer["DCGM_FI_DEV_GPU_UTIL"])
    assert (rows["2"]["GPU_I_PROFILE"], rows["2"]["pod"]) == ("4g.40gb", "")
    df = gpu.schema.frame(list(rows.values()))
    assert list(gpu.schema.busy_pct(df).round(1)) == [pytest.approx(x, nan_ok=True) for x in (math.nan, 62.0, 0.0)]
