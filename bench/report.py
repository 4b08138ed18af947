#!/usr/bin/python3
"""Prints the benchmark table (ratios and targets) from results.json and draws chart.png."""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MIB = 2**20


TRANSPORTS = ("tls", "tcp", "unix")  # tls: TCP with sslmode=require; tcp: sslmode=disable


def rows_of(results):
    """(measure, value, target or None, True if higher is better, detail) per line."""
    table = []
    throughput = {(r["workload"], r["transport"]): r for r in results["throughput"]}
    order = lambda item: (TRANSPORTS.index(item[0][1]), item[1]["rows_per_transaction"])  # noqa: E731
    for (workload, transport), r in sorted(throughput.items(), key=order):
        # Over the Unix socket the broker competes with the walsender for the two cores.
        target = (0.8 if workload == "1000-row" else None) if transport == "unix" else 1.0
        runs = r.get("ratios_of_all_runs", [])
        spread = f" (median of {', '.join(f'{ratio:.2f}' for ratio in runs)})" if len(runs) > 1 else ""
        table.append((f"relay / pg_recvlogical, {workload} txns, {transport}", r["ratio"], target, True,
                      f"{r['relay_events_per_second']:,.0f} vs {r['raw_events_per_second']:,.0f} events/s{spread}"))
    for (workload, transport), tls in sorted(throughput.items(), key=order):
        plain = throughput.get((workload, "tcp"))
        if transport != "tls" or plain is None:
            continue
        # TLS costs the relay no more than it costs pg_recvlogical on the same rows.
        relay, raw = (tls["relay_events_per_second"] / plain["relay_events_per_second"],
                      tls["raw_events_per_second"] / plain["raw_events_per_second"])
        table.append((f"relay TLS / no-TLS throughput, {workload} txns", relay, raw - 0.05, True,
                      f"pg_recvlogical's: {raw:.2f}"))
    for transport in TRANSPORTS:
        small, large = throughput.get(("1000-row", transport)), throughput.get(("1M-row", transport))
        if small and large:
            table.append((f"peak RSS 1M-row txn / 1000-row txns, {transport}",
                          large["relay_peak_rss_bytes"] / small["relay_peak_rss_bytes"], 1.10, False,
                          f"{large['relay_peak_rss_bytes'] / MIB:.1f} vs {small['relay_peak_rss_bytes'] / MIB:.1f} MiB"))
    for (workload, transport), r in sorted(throughput.items(), key=order):
        if transport == "unix":
            continue
        target = {"1-row": 6.0, "1000-row": 3.0}.get(workload) if transport == "tls" else None
        cores = ", ".join(f"{name} {value:.2f}" for name, value in r["cores_during_relay"].items())
        table.append((f"relay CPU s per million events, {workload} txns, {transport}",
                      r["relay_cpu_seconds_per_million"], target, False,
                      f"pg_recvlogical {r['pg_recvlogical_cpu_seconds_per_million']:.2f}; cores meanwhile: {cores}"))
    debezium = results.get("debezium")
    if debezium:
        table.append(("relay / Debezium Embedded throughput, tls", debezium["throughput_ratio"], 10.0, True,
                      f"{debezium['relay_events_per_second']:,.0f} vs {debezium['debezium_events_per_second']:,.0f} events/s"))
        table.append(("relay / Debezium Embedded events per CPU-second", debezium["cpu_efficiency_ratio"], 20.0, True,
                      f"{debezium['relay_events_per_cpu_second']:,.0f} vs "
                      f"{debezium['debezium_events_per_cpu_second']:,.0f} events per CPU-second"))
        table.append(("relay / Debezium Embedded peak RSS", debezium["rss_ratio"], 1 / 30, False,
                      f"{debezium['relay_peak_rss_bytes'] / MIB:.0f} vs {debezium['debezium_peak_rss_bytes'] / MIB:.0f} MiB"))
    sinks = results.get("sinks")
    if sinks:
        kafka, rabbitmq = sinks["kafka"], sinks["rabbitmq"]
        table.append(("RabbitMQ sink / Kafka sink throughput, 1000-row txns, tls", sinks["ratio"], None, True,
                      f"{rabbitmq['events_per_second']:,.0f} vs {kafka['events_per_second']:,.0f} events/s; relay CPU s "
                      f"per million {rabbitmq['cpu_seconds_per_million']:.2f} vs {kafka['cpu_seconds_per_million']:.2f}; "
                      f"peak RSS {rabbitmq['peak_rss_bytes'] / MIB:.0f} vs {kafka['peak_rss_bytes'] / MIB:.0f} MiB"))
    inbox = results.get("inbox")
    if inbox:
        table.append(("inbox applied / plain consumer read, trivial handler", inbox["plain_ratio"], None, True,
                      f"{inbox['inbox_events_per_second']:,.0f} vs {inbox['plain_events_per_second']:,.0f} events/s (kcat); "
                      f"inbox peak RSS {inbox['inbox_peak_rss_bytes'] / MIB:.0f} MiB, "
                      f"{inbox['inbox_cpu_seconds_per_million']:.1f} CPU s per million"))
        table.append(("inbox / the Python example consumer, trivial handler", inbox["python_ratio"], 10.0, True,
                      f"{inbox['inbox_events_per_second']:,.0f} vs {inbox['python_events_per_second']:,.0f} events/s"))
    for r in results["latency"]:
        target = 25.0 if r["offered_events_per_second"] == 10_000 else None
        table.append((f"p99 commit->ack ms at {r['offered_events_per_second']:,}/s offered, tls", r["p99_ms"], target,
                      False,
                      f"p50 {r['p50_ms']:.1f}, p999 {r['p999_ms']:.1f} ms, achieved {r['achieved_events_per_second']:,.0f}/s, "
                      f"{r['windows_over_25ms']}/{r['windows']} seconds with an event over 25 ms"))
    return table


def print_table(table):
    print(f"{'measure':<56} {'value':>9} {'target':>8}  {'':4} detail")
    for what, value, target, higher_better, detail in table:
        verdict = ""
        if target is not None:
            verdict = "ok" if (value >= target if higher_better else value <= target) else "MISS"
        target_text = "" if target is None else (">= " if higher_better else "<= ") + f"{target:.3g}"
        print(f"{what:<56} {value:>9.2f} {target_text:>8}  {verdict:<4} {detail}")


def draw(results, path):
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    tls = [r for r in results["throughput"] if r["transport"] == "tls"]
    names = [r["workload"] for r in tls]
    positions = range(len(names))
    left.bar([p - 0.2 for p in positions], [r["raw_events_per_second"] for r in tls], 0.4, label="pg_recvlogical")
    left.bar([p + 0.2 for p in positions], [r["relay_events_per_second"] for r in tls], 0.4, label="outbox-relay")
    if results.get("debezium"):
        left.axhline(results["debezium"]["debezium_events_per_second"], color="gray", linestyle="--",
                     label="Debezium Embedded (1000-row)")
    left.set_xticks(list(positions), names)
    left.set_ylabel("events/s (TCP loopback, TLS)")
    left.set_title("Throughput by transaction size")
    left.legend()
    loads = [r["offered_events_per_second"] for r in results["latency"]]
    for key in ("p50_ms", "p99_ms", "p999_ms"):
        right.plot(loads, [r[key] for r in results["latency"]], marker="o", label=key.replace("_ms", ""))
    right.set_xscale("log")
    right.set_xlabel("offered load, events/s")
    right.set_ylabel("commit -> ack, ms")
    right.set_title("Latency at fixed offered load")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "results.json")) as handle:
        results = json.load(handle)
    print_table(rows_of(results))
    if results["throughput"] and results["latency"]:
        draw(results, os.path.join(directory, "chart.png"))
        print(f"chart: {os.path.join(directory, 'chart.png')}")


if __name__ == "__main__":
    main()
