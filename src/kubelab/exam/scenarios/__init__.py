"""The exam's scenarios: one module each, one class registered with kubelab.exam.scenario_registry.register.
Every broken state comes from the spec (broken on a real kubelet too); no kubelab annotation drives it."""
__all__: list[str] = []
