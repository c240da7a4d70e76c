"""The 23 metric bundles: a `World` with one fault, written in one or more sources' styles.

Each bundle has ``metrics.parquet`` (``metrics.csv`` for one RCAEval bundle), ``kpis.parquet`` (the entry's
p99 latency in seconds, or its error rate in percent), ``graph.json``, ``incident.json`` and ``label.json``:
a 3 h baseline, a 20 min current window, the fault from its third minute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from bench.qa_bundles import metric_styles as styles
from bench.qa_bundles.common import QaBundle, write_incident
from bench.qa_bundles.metric_world import END, TOPOLOGIES, World, graph, quantiles, simulate, windows

FAULTS = {"cpu_hog": "CPU hog, own time x{:g}", "mem_leak": "memory leak, {:g} MiB per 10 min",
          "net_delay": "delay +{:g} ms", "packet_loss": "packet loss, errors +{:.0%}", "crash_loop": "crash loop",
          "errors": "errors +{:.0%}"}


def _write(folder: Path, scale: float, *, name: str, topology: str, fault: tuple, write_rows: Callable,
           kind: str, kpi: str, step: int, decoys: tuple, never_fails: tuple, csv: bool) -> Path:
    """Simulate, write the rows in the bundle's styles, then the KPI, the graph and the truth (``scale`` unused:
    the metric bundles are small)."""
    t, baseline_start, current_start = windows(step)
    world = simulate(TOPOLOGIES[topology], fault, t, current_start, seed=1, decoys=decoys, never_fails=never_fails)
    metrics = pd.concat(write_rows(world, step), ignore_index=True)
    for column in metrics.columns.difference(["timestamp", "value"]):
        metrics[column] = metrics[column].astype("string")
    folder.mkdir(parents=True)
    if csv:
        metrics.assign(timestamp=metrics["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
            folder / "metrics.csv", index=False)
    else:
        metrics.to_parquet(folder / "metrics.parquet", index=False)
    _kpis(world, kpi).to_parquet(folder / "kpis.parquet", index=False)
    symptom = f"kpi:{kpi}"
    (folder / "graph.json").write_text(json.dumps(graph(world.topology, symptom)))
    write_incident(folder, name=name, baseline=(baseline_start, current_start), current=(current_start, END),
                   detected=END, symptom={"node": symptom, "direction": "up"}, node=f"service:{fault[1]}", kind=kind,
                   note=f"{fault}, decoys {decoys}")
    return folder


def _kpis(world: World, kpi: str) -> pd.DataFrame:
    entry = world.topology["entry"]
    if "latency" in kpi:
        value = quantiles(world.latency_ms[entry], world.rng)[2] / 1000.0
    else:
        value = world.errors[entry] * 100
    return pd.DataFrame({"timestamp": world.t, "name": kpi, "value": value})


def _bundle(name: str, style: str, topology: str, fault: tuple, write_rows: Callable, kind: str, *,
            errors_kpi: bool = False, step: int = 30, decoys: tuple = (), never_fails: tuple = (),
            csv: bool = False) -> QaBundle:
    kpi = "front_error_rate" if errors_kpi else "front_latency_p99"
    text = FAULTS[fault[0]].format(fault[2]) + (" + decoys" if decoys else "")
    return QaBundle(name=name, family="metrics", style=style, fault=text, node=f"service:{fault[1]}", kind=kind,
                    write=partial(_write, name=name, topology=topology, fault=fault, write_rows=write_rows, kind=kind,
                                  kpi=kpi, step=step, decoys=decoys, never_fails=never_fails, csv=csv))


def _with(*writers: Callable) -> Callable[[World, int], list[pd.DataFrame]]:
    """Several sources' rows of the same world, in order (each draws its noise from the world's generator)."""
    return lambda world, step: [frame for write in writers for frame in write(world, step)]


CADVISOR_APP = _with(styles.cadvisor, styles.sockshop_app)
ISTIO_DEST = partial(styles.istio, reporters=("destination",))
ISTIO_SOURCE = partial(styles.istio, reporters=("source",))
SAT, LAT, ERR = "resource_saturation", "dependency_latency", "dependency_errors"

METRIC_BUNDLES = (
    _bundle("A01_cadvisor_cpuhog_catalogue", "cAdvisor + KSM + app histogram", "sockshop",
            ("cpu_hog", "catalogue", 4.0), CADVISOR_APP, SAT),
    _bundle("A02_cadvisor_memleak_oom_carts", "cAdvisor + KSM + app histogram", "sockshop",
            ("mem_leak", "carts", 400), CADVISOR_APP, SAT),
    _bundle("A03_cadvisor_crashloop_user", "cAdvisor + KSM + app histogram", "sockshop",
            ("crash_loop", "user", 1.0), CADVISOR_APP, ERR, errors_kpi=True),
    _bundle("A04_cadvisor_only_cpuhog_payment", "cAdvisor + KSM", "sockshop",
            ("cpu_hog", "payment", 5.0), styles.cadvisor, SAT),
    _bundle("A05_cadvisor_only_memleak_orders", "cAdvisor + KSM", "sockshop",
            ("mem_leak", "orders", 150), styles.cadvisor, SAT),
    _bundle("A06_cadvisor_cpuhog_user_decoy_batch", "cAdvisor + KSM + app histogram", "sockshop",
            ("cpu_hog", "user", 3.0), CADVISOR_APP, SAT,
            decoys=(("cpu_batch", "queue-master", 0.6), ("mem_step", "catalogue", 1.3))),
    _bundle("B01_istio_dest_delay_productcatalog", "Istio, destination reporter", "boutique",
            ("net_delay", "productcatalogservice", 200), ISTIO_DEST, LAT),
    _bundle("B02_istio_both_delay_currency", "Istio, both reporters", "boutique",
            ("net_delay", "currencyservice", 150), partial(styles.istio, reporters=("destination", "source")), LAT),
    _bundle("B03_istio_source_only_errors_payment", "Istio, source reporter", "boutique",
            ("errors", "paymentservice", 0.3), ISTIO_SOURCE, ERR, errors_kpi=True),
    _bundle("B04_istio_dest_errors_cart", "Istio, destination reporter", "boutique",
            ("errors", "cartservice", 0.25), ISTIO_DEST, ERR, errors_kpi=True),
    _bundle("B05_istio_dest_packetloss_shipping_code0", "Istio, destination, code 0 UC", "boutique",
            ("packet_loss", "shippingservice", 0.2), partial(ISTIO_DEST, error_code="0", flags="UC"), ERR,
            errors_kpi=True),
    _bundle("B06_istio_source_only_delay_cart", "Istio, source reporter", "boutique",
            ("net_delay", "cartservice", 200), ISTIO_SOURCE, LAT),
    _bundle("C01_rcaeval_cpu_route", "RCAEval wide table", "trainticket",
            ("cpu_hog", "ts-route-service", 4.0), styles.rcaeval, SAT, step=15),
    _bundle("C02_rcaeval_mem_cart", "RCAEval wide table", "boutique",
            ("mem_leak", "cartservice", 150), styles.rcaeval, SAT, step=15),
    _bundle("C03_rcaeval_delay_carts", "RCAEval wide table (CSV)", "sockshop",
            ("net_delay", "carts", 200), styles.rcaeval, LAT, step=15, csv=True),
    _bundle("C04_rcaeval_loss_basic", "RCAEval wide table", "trainticket",
            ("packet_loss", "ts-basic-service", 0.2), styles.rcaeval, ERR, step=15, errors_kpi=True),
    _bundle("D01_noise_istio_delay_checkout_gcdecoy", "Istio + cAdvisor + runtime noise", "boutique",
            ("net_delay", "checkoutservice", 250),
            _with(ISTIO_DEST, partial(styles.cadvisor, namespace="default"),
                  partial(styles.runtime_noise, gc_decoy="frontend", disk_decoy="ip-10-0-2-41")), LAT),
    _bundle("D02_noise_cadvisor_cpuhog_user_jvmdecoy", "cAdvisor + app + runtime noise", "sockshop",
            ("cpu_hog", "user", 4.0),
            _with(styles.cadvisor, styles.sockshop_app,
                  partial(styles.runtime_noise, gc_decoy="orders", disk_decoy="ip-10-0-1-23")), SAT),
    _bundle("D03_noise_ttk_memleak_station_gcdecoy", "cAdvisor + Istio + runtime noise", "trainticket",
            ("mem_leak", "ts-station-service", 400),
            _with(partial(styles.cadvisor, namespace="train-ticket"), ISTIO_DEST,
                  partial(styles.runtime_noise, gc_decoy="ts-travel-service")), SAT),
    # emailservice never failed before: Prometheus has no response_code=503 series until the fault
    _bundle("E01_istio_dest_errors_email_new5xx", "Istio, destination reporter", "boutique",
            ("errors", "emailservice", 0.4), ISTIO_DEST, ERR, errors_kpi=True, never_fails=("emailservice",)),
    # the pod had restarted 14 times over its life before the incident
    _bundle("E02_cadvisor_only_crashloop_carts_oldrestarts", "cAdvisor + KSM, old restarts", "sockshop",
            ("crash_loop", "carts", 1.0), partial(styles.cadvisor, restart_offset=14), ERR, errors_kpi=True),
    _bundle("E03_otel_errors_catalogue", "cAdvisor + OTel HTTP histogram", "sockshop",
            ("errors", "catalogue", 0.3), _with(styles.cadvisor, styles.otel_app), ERR, errors_kpi=True),
    _bundle("E04_cadvisor_only_crashloop_carts_freshpod", "cAdvisor + KSM", "sockshop",
            ("crash_loop", "carts", 1.0), styles.cadvisor, ERR, errors_kpi=True),
)
