"""The flat core re-cut into one Verilog module per kernel stage group, for counting resources
by stage: the same statements (each value, register and ROM stays with the stage that makes it),
with the values that cross groups as ports. Synthesised with each group kept as its own module
(``keep_hierarchy``), the cells of a module are that stage's cost; logic shared across a module
boundary can no longer be merged, so the groups add up to slightly more than the flat design.
"""

from __future__ import annotations

import re

SIGNAL = re.compile(r"\b(s\d+_(?:v|in)\d+(?:_neg)?|s\d+_bram\d+_q[ab]|model_inp|model_out)\b")
DECL = re.compile(r"^\s*(?:\(\*[^*]*\*\)\s*)?(?:wire|reg)\s*\[(\d+):0\]\s*([^=;]+?)\s*(?:=|;)")


def module_name(core: str, group: str) -> str:
    return f"{core}_stage_" + re.sub(r"[^a-z0-9]+", "_", group.lower()).strip("_")


def _declared(line: str) -> list[tuple[str, int]]:
    m = DECL.match(line)
    if not m:
        return []
    return [(n.strip(), int(m.group(1)) + 1) for n in m.group(2).split(",")]


def group_modules(core: str, body: list[tuple[str, str]], in_bits: int, out_bits: int, n_stages: int) -> str:
    """Verilog: one module per group and the core ``core`` instantiating them (same ports)."""
    widths: dict[str, int] = {"model_inp": in_bits, "model_out": out_bits}
    owner: dict[str, str] = {"model_out": "output"}
    lines: dict[str, list[str]] = {}
    for group, line in body:
        if not group:
            continue
        lines.setdefault(group, []).append(line)
        for name, w in _declared(line):
            widths[name], owner[name] = w, group
    used: dict[str, set[str]] = {
        g: {m.group(1) for line in ls for m in SIGNAL.finditer(line)} for g, ls in lines.items()
    }
    modules, instances = [], []
    wires: set[str] = set()
    for g in sorted(lines):
        ins = sorted(n for n in used[g] if owner.get(n) != g and n != "model_out")
        outs = sorted(
            n
            for n in used[g]
            if owner.get(n) == g and (n == "model_out" or any(n in used[h] for h in used if h != g))
        )
        mod = module_name(core, g)
        ports = ["clk", *ins, *outs]
        decl = ["    input clk;"]
        decl += [f"    input [{widths[n] - 1}:0] {n};" for n in ins]
        decl += [f"    output [{widths[n] - 1}:0] {n};" for n in outs]
        if "model_out" in outs:
            decl.append(f"    reg [{out_bits - 1}:0] model_out;")
        modules.append(
            f"// {g}\n(* keep_hierarchy *)\nmodule {mod} ({', '.join(ports)});\n"
            + "\n".join(decl)
            + "\n"
            + "\n".join(lines[g])
            + "\nendmodule\n"
        )
        conns = ", ".join(f".{p}({p})" for p in ports)
        instances.append(f"    {mod} u_{mod[len(core) + 7 :]} ({conns});")
        wires |= {n for n in ins + outs if n not in ("model_inp", "model_out")}
    wire_decl = "\n".join(f"    wire [{widths[n] - 1}:0] {n};" for n in sorted(wires))
    top = f"""// {core}: {n_stages} pipeline stages, II = 1, one module per kernel stage group (for counting)
module {core} (
    input clk,
    input [{in_bits - 1}:0] model_inp,
    output [{out_bits - 1}:0] model_out
);
{wire_decl}
{chr(10).join(instances)}
endmodule
"""
    return "`timescale 1ns / 1ps\n" + "\n".join(modules) + "\n" + top
