"""`kubelab cluster up|down|status|env|logs`: the embedded cluster."""
from __future__ import annotations

import sys

import click

from ..cluster import LocalCluster, build
from ..cluster.components import PARTS
from . import flag as _flag, main, name_option

__all__: list[str] = []  # the commands register themselves on kubelab.cli.main


@main.group()
def cluster():
    """Start, stop and inspect the embedded cluster (real control plane, KWOK nodes)."""


@cluster.command()
@name_option
@click.option("--pools", type=click.Path(), default=None, help="Node-pool file (default cluster/node-pools.yaml).")
@click.option("--port", type=int, default=None, help="API server port on 127.0.0.1 (default: a free one).")
@click.option("--images", type=click.Path(), default=None,
              help="An image catalogue extending cluster/images.yaml (what the simulated kubelet knows).")
@click.option("--no-build", is_flag=True, help="Fail instead of building missing binaries.")
@click.option("--no-monitoring", is_flag=True,
              help="Without Prometheus, the GPU exporter and the state metrics (they run by default).")
@click.option("--without", "without", multiple=True, type=click.Choice(PARTS),
              help="Leave a platform part out (repeatable): batch (Kueue, Karpenter), serving (Envoy Gateway, KEDA). "
                   "For small machines; a later `up` without it starts them again.")
def up(name, pools, port, images, no_build, no_monitoring, without):
    """Start the cluster, or report that it is already running."""
    c = LocalCluster(name, pools_file=pools, port=port, build_missing=not no_build, images_file=images,
                     monitoring=not no_monitoring, without=tuple(without))
    click.echo(c.up())
    click.echo(f"kubeconfig: {c.kubeconfig}\n  use it:  eval \"$(kubelab cluster env{_flag(name)})\"  "
               f"then  kubectl get nodes")


@cluster.command()
@name_option
@click.option("--delete", is_flag=True, help="Also delete the cluster's data (etcd) and kubeconfig.")
def down(name, delete):
    """Stop every process of the cluster."""
    click.echo(LocalCluster(name).down(delete=delete))


@cluster.command()
@name_option
def status(name):
    """Show components and nodes."""
    c = LocalCluster(name)
    if not c.exists():
        click.echo(f"cluster {name!r} does not exist; start it with `kubelab cluster up{_flag(name)}`")
        sys.exit(1)
    click.echo(f"cluster {name!r}  API 127.0.0.1:{c.api_port()}  kubeconfig {c.kubeconfig}")
    for comp in c.components():
        click.echo(f"  {comp.name:24} {'running' if comp.running else 'STOPPED':8} pid {comp.pid or '-'}")
    if not c.running():
        click.echo(f"not running: start it with `kubelab cluster up{_flag(name)}`")
        sys.exit(1)
    from ..observe import nodes

    click.echo(f"\n  {'NODE':14} {'POOL':10} {'READY':6} {'CPU':>5} {'MEM GiB':>8} {'GPU':>4}  GPU PRODUCT")
    for r in nodes(c.api_client()).itertuples():
        click.echo(f"  {r.node:14} {r.pool:10} {r.ready!s:6} {r.cpu_allocatable:>5g} "
                   f"{r.mem_allocatable / 2**30:>8g} {r.gpu_allocatable:>4g}  {r.gpu_product}")


@cluster.command()
@name_option
def env(name):
    """Print shell exports for this cluster: eval "$(kubelab cluster env)"."""
    c = LocalCluster(name)
    dirs = sorted({str(p.parent) for p in build.binaries().values()})
    click.echo(f"export KUBECONFIG={c.kubeconfig}")
    if c.registry.port():  # the cluster's OCI registry (helm push/pull/install oci://$KUBELAB_REGISTRY/...)
        click.echo(f"export KUBELAB_REGISTRY={c.registry.address}")
    if c.prometheus.configured():  # PromQL: kl.promql(api, ...), curl $KUBELAB_PROMETHEUS/api/v1/query?query=up
        click.echo(f"export KUBELAB_PROMETHEUS={c.prometheus.url}")
    if dirs:
        click.echo(f"export PATH={':'.join(dirs)}:$PATH")


@cluster.command()
@name_option
@click.argument("component", default="kube-apiserver")
def logs(name, component):
    """Print a component's log (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok-controller,
    kubelab-kubelet, kubelab-registry, kubelab-gpu-exporter, kubelab-state-metrics, kubelab-prometheus)."""
    click.echo(LocalCluster(name).logs(component), nl=False)
