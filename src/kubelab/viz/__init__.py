"""What a person looks at: matplotlib charts of the DataFrames from `observe` and `gpu` (`plots`: DataFrame
in, Axes out, "(simulated)" in the title of simulated data), recordings over time (`timeline`) and live
ipywidgets that fall back to a static snapshot when nobody is watching (`widgets`), the GPU profiler's
PNG and HTML (`gpu_report`). A new chart goes in
`plots`; nothing here reads the cluster except through `observe`, `gpu` and `wait`."""
from . import batch, gpu_report, plots, timeline, widgets

__all__ = ["batch", "gpu_report", "plots", "timeline", "widgets"]
