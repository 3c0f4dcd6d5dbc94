"""``nanotrig scan``: the design space (model x N x internal bits x input mode x reuse x clock),
one task per point on the engine: emulator physics, RTL latency and resources, device fraction;
merged into one JSON with Pareto plots."""
