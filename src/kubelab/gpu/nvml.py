"""NVML: the NVIDIA GPUs of this machine, measured through nvidia-ml-py (`import pynvml`)."""
from __future__ import annotations

import contextlib
import math
import socket
from datetime import datetime

from ..errors import KubelabError
from .schema import now as utc_now

__all__ = ["NO_GPU_FIX", "NvmlSource"]

NO_GPU_FIX = ("run this on a machine with an NVIDIA GPU and driver, or use telemetry(api, source='simulated') "
              "for the cluster's simulated GPUs")


@contextlib.contextmanager
def _nvml():
    """pynvml between nvmlInit and nvmlShutdown; a KubelabError (never a traceback) when there is no GPU."""
    try:
        import pynvml
    except ImportError:
        raise KubelabError("no local GPU (NVML: nvidia-ml-py is not installed)", NO_GPU_FIX) from None
    try:
        pynvml.nvmlInit()
    except (pynvml.NVMLError, OSError) as err:
        raise KubelabError(f"no local GPU (NVML: {err})", NO_GPU_FIX) from None
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlSource:
    """The GPUs of this machine, measured through NVML (nvidia-ml-py)."""

    name = "nvml"
    simulated = False

    def __init__(self):
        self.reason: str | None = None
        self.hostname = socket.gethostname()

    def available(self) -> bool:
        try:
            with _nvml() as nvml:
                count = nvml.nvmlDeviceGetCount()
        except KubelabError as err:
            self.reason = err.problem
            return False
        self.reason = None if count else "no local GPU (NVML: the driver reports 0 devices)"
        return bool(count)

    def sample(self) -> list[dict]:
        if not self.available():
            raise KubelabError(self.reason, NO_GPU_FIX)
        now = utc_now()
        with _nvml() as nvml:
            return [self._row(nvml, i, now) for i in range(nvml.nvmlDeviceGetCount())]

    def _row(self, nvml, index: int, now: datetime) -> dict:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)

        def read(fn, *args):
            # Some fields are not supported on some GPUs (utilization on MIG-enabled GPUs, power on
            # some boards): those read as NaN rather than failing the whole sample.
            try:
                return fn(handle, *args)
            except (nvml.NVMLError_NotSupported, nvml.NVMLError_NoPermission):
                return None

        def memory(h):
            # v2 keeps driver-reserved memory out of `used`, as DCGM's FB_USED does; old drivers lack v2.
            try:
                return nvml.nvmlDeviceGetMemoryInfo(h, version=nvml.nvmlMemory_v2)
            except nvml.NVMLError:
                return nvml.nvmlDeviceGetMemoryInfo(h)

        util, mem = read(nvml.nvmlDeviceGetUtilizationRates), read(memory)
        power_mw = read(nvml.nvmlDeviceGetPowerUsage)
        temp = read(nvml.nvmlDeviceGetTemperature, nvml.NVML_TEMPERATURE_GPU)
        return {
            "time": now, "gpu": index, "UUID": _text(nvml.nvmlDeviceGetUUID(handle)),
            "modelName": _text(nvml.nvmlDeviceGetName(handle)), "Hostname": self.hostname,
            # one row per physical GPU: MIG instances are not enumerated here (their compute needs DCGM's
            # profiling fields, which NVML does not give), and utilization reads NaN on a MIG-enabled GPU
            "GPU_I_PROFILE": "", "GPU_I_ID": "",
            "DCGM_FI_DEV_GPU_UTIL": math.nan if util is None else util.gpu,
            "DCGM_FI_DEV_FB_USED": math.nan if mem is None else mem.used / 2**20,
            "DCGM_FI_DEV_FB_FREE": math.nan if mem is None else mem.free / 2**20,
            "DCGM_FI_DEV_POWER_USAGE": math.nan if power_mw is None else power_mw / 1000,
            "DCGM_FI_DEV_GPU_TEMP": math.nan if temp is None else temp,
            # NVML knows process ids, not pods: which pod a process belongs to is unknown here.
            "pod": "", "namespace": "", "container": "", "source": self.name, "simulated": False,
        }

    def describe(self) -> str:
        if not self.available():
            return f"GPU telemetry from NVML: unavailable, {self.reason}"
        return f"GPU telemetry from NVML on {self.hostname}: measured, not simulated"
