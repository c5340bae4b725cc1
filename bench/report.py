"""The bench's table and plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "   n/a"
    return f"{a / b:6.2f}"


def render_load(r: dict[str, Any]) -> str:
    """``python -m bench load``: the ladder's table alone."""
    m = r["machine"]
    head = [
        f"bench load {r['timestamp']}{' (quick)' if r['quick'] else ''} on {m.get('cpus')} "
        f"CPUs, {m.get('memory_gb')} GB: {m.get('cpu', '')}",
        "",
    ]
    return "\n".join(head + _ladder(r))


def _ladder(r: dict[str, Any]) -> list[str]:
    lines = [
        "1. End to end (" + r["end_to_end"]["driver"] + ")",
        f"{'offered/s':>10}{'answered/s':>12}{'crisis p50':>12}{'p95':>8}{'p99':>8}"
        f"{'ordinary p50':>14}{'p95':>8}{'p99':>8}   (ms)   CPU ms/turn bot, Rasa",
    ]
    for s in r["end_to_end"]["steps"]:
        c, o = s["crisis"], s["ordinary"]
        cpu = s.get("cpu") or {}
        lines.append(
            f"{s['rate']:>10.0f}{s['achieved_per_second']:>12.2f}{c['p50']:>12.1f}{c['p95']:>8.1f}"
            f"{c['p99']:>8.1f}{o['p50']:>14.1f}{o['p95']:>8.1f}{o['p99']:>8.1f}"
            + (f"{cpu['bot_ms_per_turn']:>14.1f}, {cpu['rasa_ms_per_turn']:.1f}" if cpu else "")
        )
    e = r["end_to_end"]
    if e.get("not_sent_everyone_busy"):
        lines.append(
            f"{'':10}({e['not_sent_everyone_busy']} messages not sent: every simulated survivor "
            "of that language was mid-turn)"
        )
    return lines


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"bench {r['timestamp']}{' (quick)' if r['quick'] else ''} on {m.get('cpus')} CPUs, "
        f"{m.get('memory_gb')} GB: {m.get('cpu', '')}",
        "",
        *_ladder(r),
    ]
    e = r["end_to_end"]
    stock_ready = (r["understanding"].get("stock") or {}).get("rasa_ready_seconds")
    beside = f" (stock Rasa: {stock_ready} s to load its model alone)" if stock_ready else ""
    lines += [
        "",
        "2. Footprint",
        f"   cold start to first crisis answer:   {e.get('cold_start_crisis_seconds', 'n/a')} s",
        f"   cold start to first ordinary answer: {e['cold_start_seconds']} s{beside}",
        f"   resident memory idle:       bot {e['rss_idle']['bot_mb']} MB, "
        f"Rasa {e['rss_idle']['rasa_mb']} MB",
        f"   resident memory under load: bot {e['rss_under_load']['bot_mb']} MB, "
        f"Rasa {e['rss_under_load']['rasa_mb']} MB",
        "",
        "3. Understanding on the held-out split, model alone (ours = config.yml; stock = the",
        "   config.yml `rasa init` writes, NLU trained on the same data); ratio = ours / stock",
    ]
    u = r["understanding"]
    ours, stock = u["ours"], u.get("stock")
    head = f"{'':6}{'accuracy':>22}{'macro-F1':>22}{'crisis recall':>22}{'false crisis':>22}"
    lines += [head, f"{'':6}" + "      ours stock ratio" * 4]
    keys = ("accuracy", "macro_f1", "model_crisis_recall", "model_false_crisis_rate")
    for lang in ours["languages"]:
        o = ours["languages"][lang]
        s = stock["languages"][lang] if stock else {}
        row = f"{lang:6}"
        for key in keys:
            sv = s.get(key)
            row += f"{o[key]:>10.3f}{(sv if sv is not None else float('nan')):>6.3f}"
            row += _ratio(o[key], sv)
        lines.append(row)
    gate = ", ".join(
        f"{lang} {v['crisis_recall']:.3f}/{v['false_crisis_rate']:.3f}"
        for lang, v in ours["languages"].items()
    )
    lines.append(f"{'':6}with the safety layer, as a turn decides (recall/false): {gate}")
    lines.append(
        f"{'train':6}  ours {ours['training_seconds']} s (NLU and rule policies)"
        + (
            f", stock {stock['training_seconds']} s (NLU only), ratio "
            f"{_ratio(ours['training_seconds'], stock['training_seconds']).strip()}"
            if stock
            else ", stock: not trained in a quick run"
        )
    )
    lines.append(
        f"{'rasa':6}  ready ours {ours['rasa_ready_seconds']} s"
        + (f" / stock {stock['rasa_ready_seconds']} s" if stock else "")
        + f"; memory ours {ours['rasa_rss_mb']} MB"
        + (f" / stock {stock['rasa_rss_mb']} MB" if stock else "")
        + f"; parse p50 ours {ours['parse_p50_ms']:.1f} ms"
        + (f" / stock {stock['parse_p50_ms']:.1f} ms" if stock else "")
    )
    dw = r.get("database_work")
    if dw:
        lines += [
            "",
            "   database work per message, webhook to platform (stock Rasa keeps no such state):",
        ]
        for kind in ("ordinary", "crisis"):
            k = dw[kind]
            lines.append(
                f"   {kind:9} {k['transactions']:>5} transactions, {k['statements']:>5} statements"
                f" (mean of {k['messages']})"
            )
    sa = r["safety"]
    lines += [
        "",
        "4. The safety layer alone (all four languages' lexicons on every message)",
        f"   {sa['per_second']:.0f} messages/s, p50 {sa['p50_ms']:.2f} ms, p99 "
        f"{sa['p99_ms']:.2f} ms over {sa['messages']} messages; tables load in "
        f"{sa['load_seconds']} s",
    ]
    if "security" in r:
        lines += ["", security_lines(r["security"], "5. ")]
    return "\n".join(lines)


def render_security(r: dict[str, Any]) -> str:
    m = r["machine"]
    head = (
        f"bench security {r['timestamp']}{' (quick)' if r['quick'] else ''} on "
        f"{m.get('cpus')} CPUs, {m.get('memory_gb')} GB: {m.get('cpu', '')}"
    )
    return head + "\n\n" + security_lines(r["security"], "")


def security_lines(s: dict[str, Any], number: str) -> str:
    """Crisis replies idle and under attack, side by side, with what the loads did."""
    lines = [
        f"{number}Crisis replies while sign-in is hammered and an HSDS import runs",
        f"   ({s['driver']})",
        f"{'':24}{'n':>6}{'p50':>10}{'p99':>10}{'max':>10}{'no answer':>11}   (ms)",
    ]
    for label, key in (
        ("idle", "idle"),
        ("sign-in hammered", "signin_only"),
        ("sign-in + import", "under_load"),
    ):
        if key not in s:
            continue
        row = s[key]
        lines.append(
            f"   {label:21}{row['n']:>6.0f}{row['p50']:>10.1f}{row['p99']:>10.1f}"
            f"{row['max']:>10.1f}{row['unanswered']:>11.0f}"
        )
    signin, imp = s["signin"], s["import"]
    statuses = ", ".join(f"{k}: {v}" for k, v in signin["statuses"].items())
    lines += [
        f"   sign-in: {signin['clients']} clients, {signin['attempts']} wrong passwords "
        f"answered ({statuses}), {signin['errors']} connection errors",
        f"   import: {imp['services']} services, {imp['csv_rows']} CSV rows, "
        f"{imp['csv_bytes'] / 1e6:.1f} MB of CSV in a {imp['zip_bytes'] / 1e3:.0f} KB zip; "
        f"upload answered in {imp['upload_seconds']} s, checked in {imp['check_seconds']} s, "
        f"applied in {imp['apply_seconds']} s ({imp['state']})",
        f"   bot memory: {s['rss_before']['bot_mb']} MB before, "
        f"{s['rss_after']['bot_mb']} MB after",
    ]
    return "\n".join(lines)


def plot(r: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    steps = r["end_to_end"]["steps"]
    rates = [s["rate"] for s in steps]
    for kind, style in (("crisis", "-o"), ("ordinary", "-s")):
        ax1.plot(rates, [s[kind]["p50"] for s in steps], style, label=f"{kind} p50")
        ax1.plot(rates, [s[kind]["p99"] for s in steps], style, alpha=0.5, label=f"{kind} p99")
    ax1.set_xlabel("offered messages per second")
    ax1.set_ylabel("latency, ms")
    ax1.set_title("Latency against load")
    ax1.legend()
    history = []
    for f in sorted(out.glob("*.json")):
        try:
            past = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        runs = past["understanding"]
        means = [
            sum(v["accuracy"] for v in runs[name]["languages"].values())
            / len(runs[name]["languages"])
            if name in runs
            else float("nan")
            for name in ("ours", "stock")
        ]
        history.append((past["timestamp"], *means))
    if history:
        ax2.plot(range(len(history)), [h[1] for h in history], "-o", label="ours")
        ax2.plot(range(len(history)), [h[2] for h in history], "--s", label="stock Rasa")
        ax2.set_xticks(range(len(history)), [h[0][4:13] for h in history], rotation=45)
        ax2.legend()
    ax2.set_ylabel("mean held-out intent accuracy")
    ax2.set_title("Across runs")
    fig.tight_layout()
    path = out / "latest.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
