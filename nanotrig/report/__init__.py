"""Reports: latency, II and resources (Yosys estimate, da4ml's estimate, vendor reports when present)."""
